#!/usr/bin/env bash
# Suite "java": the JDK's SunPKCS11 provider (KeyStore, KeyPairGenerator,
# Signature, Cipher, KeyAgreement, KeyGenerator) on the token, checked with the
# JDK's software providers. See java/Conformance.java.
# shellcheck source=../lib/common.sh
. "$CONF_HOME/lib/common.sh"

need_cmd java default-jdk-headless
need_cmd javac default-jdk-headless
need_cmd pkcs11-tool opensc
need_cmd openssl openssl

p11t() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" "$@"; }

prepare() {
    # A software RSA key and its certificate, imported with pkcs11-tool under
    # one CKA_ID/label: SunPKCS11 must pair them into a KeyStore key entry.
    ossl req -new -x509 -newkey rsa:2048 -nodes -keyout imported.key -subj "/CN=java imported" \
        -days 30 -out imported.pem 2> /dev/null
    ossl pkey -in imported.key -outform DER -out imported.key.der
    ossl x509 -in imported.pem -outform DER -out imported.der
    p11t --write-object imported.key.der --type privkey --id 4a01 --label java-imported --usage-sign
    p11t --write-object imported.der --type cert --id 4a01 --label java-imported
    p11t --list-objects > objs
    cat objs
    grep -q 'Private Key Object' objs || why "private key not imported"
}

config() {
    {
        printf 'name = conformance\n'
        printf 'library = %s\n' "$MODULE"
        printf 'slot = %s\n' "$TOKEN_SLOT"
        # CKA_DERIVE defaults to false; the ECDH check needs it on generated EC keys
        printf 'attributes(generate, CKO_PRIVATE_KEY, CKK_EC) = {\n  CKA_DERIVE = true\n}\n'
        # KeyAgreement.generateSecret() reads CKA_VALUE of the derived secret
        printf 'attributes(generate, CKO_SECRET_KEY, CKK_GENERIC_SECRET) = {\n  CKA_SENSITIVE = false\n  CKA_EXTRACTABLE = true\n}\n'
    } > "$W/sunpkcs11.cfg"
    cat "$W/sunpkcs11.cfg"
}

compile() {
    mkdir -p "$W/classes"
    javac -d "$W/classes" "$CONF_HOME/java/Conformance.java"
}

export_all

setup_token
check "setup: import RSA key + certificate with pkcs11-tool" prepare
check "setup: SunPKCS11 configuration with the token's slot id" config
if ! check "javac Conformance.java" compile; then exit 0; fi

# The Java program records its own PASS/FAIL lines in $RESULTS.
rc=0
timeout -k 10 $((CHECK_TIMEOUT * 3)) java -cp "$W/classes" Conformance "$W/sunpkcs11.cfg" "$USER_PIN" "$RESULTS" \
    > "$SUITE_DIR/logs/java.log" 2>&1 < /dev/null || rc=$?
cat "$SUITE_DIR/logs/java.log" >&2
if grep -q '^DONE' "$RESULTS"; then
    sed -i '/^DONE/d' "$RESULTS"
    [ "$rc" -eq 0 ] || fail "java program exit status" "java exited with status $rc after completing its checks"
else
    fail "java program completed" "java exited with status $rc before finishing (see output above)"
fi
exit 0
