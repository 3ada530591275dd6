#!/usr/bin/env bash
# Suite "openssl": OpenSSL 3 through the libp11 pkcs11 engine (keys addressed
# by RFC 7512 URIs); every result checked by plain OpenSSL without the engine.
# shellcheck source=../lib/common.sh
. "$CONF_HOME/lib/common.sh"

need_cmd openssl openssl
need_cmd pkcs11-tool opensc

ENGINES_DIR=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
ENGINE_SO=""
for cand in "$ENGINES_DIR/pkcs11.so" "$ENGINES_DIR/libpkcs11.so" \
            /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so /usr/lib/x86_64-linux-gnu/engines-3/libpkcs11.so; do
    if [ -f "$cand" ]; then ENGINE_SO=$cand; break; fi
done
if [ -z "$ENGINE_SO" ]; then
    fail "pkcs11 engine available" "no pkcs11.so in $ENGINES_DIR (Debian package: libengine-pkcs11-openssl)"
    exit 0
fi

export ENGINE_CONF="$SUITE_DIR/openssl-engine.cnf"
cat > "$ENGINE_CONF" <<EOF
openssl_conf = openssl_init

[openssl_init]
engines = engine_section

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE_SO
MODULE_PATH = $MODULE
init = 0
EOF

export TOK="pkcs11:token=$TOKEN_LABEL"
export RSA_PRIV="$TOK;object=rsa-key;type=private"
export EC_PRIV="$TOK;object=ec-key;type=private"
export PINQ="?pin-value=$USER_PIN"

# eng ARGS: openssl with the engine configuration
eng() { OPENSSL_CONF="$ENGINE_CONF" openssl "$@"; }
p11t() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" "$@"; }

# ------------------------------------------------------------------ steps
make_keys() {
    p11t --keypairgen --key-type rsa:2048 --id 01 --label rsa-key --usage-sign --usage-decrypt
    p11t --keypairgen --key-type EC:prime256v1 --id 02 --label ec-key --usage-sign --usage-derive
    pkcs11_tool_pubkey 01 rsa-pub.der
    pkcs11_tool_pubkey 02 ec-pub.der
    ossl pkey -pubin -inform DER -in rsa-pub.der -out rsa-pub.pem
    ossl pkey -pubin -inform DER -in ec-pub.der -out ec-pub.pem
    head -c 5000 /dev/urandom > msg.bin
}

engine_available() {
    eng engine -t -c pkcs11 > out 2>&1
    cat out
    contains out 'available' "engine pkcs11 not available"
}

engine_pubkey() {  # engine_pubkey LABEL PUBDER
    eng pkey -engine pkcs11 -inform engine -pubin -in "$TOK;object=$1;type=public" -pubout -outform DER -out "eng-$1.der"
    same_file "eng-$1.der" "$2"
}

rsa_pkeyutl_sign() {
    ossl dgst -sha256 -binary msg.bin > h256
    eng pkeyutl -engine pkcs11 -keyform engine -sign -inkey "$RSA_PRIV$PINQ" \
        -in h256 -pkeyopt digest:sha256 -out sig-rsa
    ossl pkeyutl -verify -pubin -inkey rsa-pub.pem -in h256 -sigfile sig-rsa -pkeyopt digest:sha256
    ossl dgst -sha256 -verify rsa-pub.pem -signature sig-rsa msg.bin
}

rsa_passin_sign() {
    eng dgst -engine pkcs11 -keyform engine -sha512 -sign "$RSA_PRIV" -passin "pass:$USER_PIN" \
        -out sig-passin msg.bin
    ossl dgst -sha512 -verify rsa-pub.pem -signature sig-passin msg.bin
}

rsa_pss_sign() {
    eng dgst -engine pkcs11 -keyform engine -sha256 -sign "$RSA_PRIV$PINQ" \
        -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -out sig-pss msg.bin
    ossl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
        -verify rsa-pub.pem -signature sig-pss msg.bin
}

rsa_by_id_sign() {
    eng dgst -engine pkcs11 -keyform engine -sha384 -sign "$TOK;id=%01;type=private$PINQ" -out sig-id msg.bin
    ossl dgst -sha384 -verify rsa-pub.pem -signature sig-id msg.bin
}

ec_sign() {  # ec_sign DIGEST
    eng dgst -engine pkcs11 -keyform engine "-$1" -sign "$EC_PRIV$PINQ" -out "sig-ec-$1" msg.bin
    ossl dgst "-$1" -verify ec-pub.pem -signature "sig-ec-$1" msg.bin
    ossl dgst "-$1" -binary msg.bin > "h-$1"
    ossl pkeyutl -verify -pubin -inkey ec-pub.pem -in "h-$1" -sigfile "sig-ec-$1"
}

oaep_decrypt() {  # oaep_decrypt DIGEST
    head -c 64 /dev/urandom > pt
    ossl pkeyutl -encrypt -pubin -inkey rsa-pub.pem -in pt -out ct \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$1" -pkeyopt "rsa_mgf1_md:$1"
    eng pkeyutl -engine pkcs11 -keyform engine -decrypt -inkey "$RSA_PRIV$PINQ" -in ct -out dec \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$1" -pkeyopt "rsa_mgf1_md:$1"
    same_file dec pt
}

pkcs1_decrypt() {
    head -c 64 /dev/urandom > pt
    ossl pkeyutl -encrypt -pubin -inkey rsa-pub.pem -in pt -out ct
    eng pkeyutl -engine pkcs11 -keyform engine -decrypt -inkey "$RSA_PRIV$PINQ" -in ct -out dec
    same_file dec pt
}

self_signed() {  # self_signed URI PUBPEM NAME
    eng req -new -x509 -engine pkcs11 -keyform engine -key "$1$PINQ" -sha256 -days 30 \
        -subj "/CN=conformance $3" -out "$3.pem"
    ossl verify -CAfile "$3.pem" "$3.pem"
    ossl x509 -in "$3.pem" -noout -text > "$3.txt"
    contains "$3.txt" "CN *= *conformance $3" "subject missing in certificate"
    # The certified public key is the token's public key.
    ossl x509 -in "$3.pem" -noout -pubkey > "$3-certpub.pem"
    ossl pkey -pubin -in "$3-certpub.pem" -outform DER -out "$3-certpub.der"
    ossl pkey -pubin -in "$2" -outform DER -out "$3-tokpub.der"
    same_file "$3-certpub.der" "$3-tokpub.der"
}

csr() {
    eng req -new -engine pkcs11 -keyform engine -key "$EC_PRIV$PINQ" -sha256 \
        -subj "/CN=conformance csr" -out csr.pem
    ossl req -in csr.pem -verify -noout
}

cms_sign() {
    eng cms -sign -engine pkcs11 -keyform engine -inkey "$RSA_PRIV$PINQ" -signer rsa.pem \
        -in msg.bin -binary -nodetach -outform DER -out msg.p7s -md sha256
    ossl cms -verify -inform DER -in msg.p7s -CAfile rsa.pem -binary -out msg.verified -purpose any
    same_file msg.verified msg.bin
}

tls_handshake() {  # tls_handshake URI CERT PROTO
    local port="" _
    OPENSSL_CONF="$ENGINE_CONF" timeout 60 openssl s_server -engine pkcs11 -keyform engine \
        -key "$1$PINQ" -cert "$2" -accept 127.0.0.1:0 -naccept 1 -www "$3" > srv.log 2>&1 &
    local srv=$!
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' srv.log)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { cat srv.log; kill "$srv" 2> /dev/null; why "s_server did not start"; }
    printf 'GET / HTTP/1.0\r\n\r\n' |
        OPENSSL_CONF="$PLAIN_OPENSSL_CONF" timeout 60 openssl s_client -connect "127.0.0.1:$port" \
        -CAfile "$2" -verify_return_error -brief -ign_eof "$3" > cli.log 2>&1 || true
    wait "$srv" || true
    cat cli.log srv.log
    contains cli.log 'CONNECTION ESTABLISHED' "TLS handshake with the token key failed"
    contains cli.log 'Verification: OK' "server certificate not verified"
}

wrong_pin() {
    if eng dgst -engine pkcs11 -keyform engine -sha256 -sign "$RSA_PRIV?pin-value=99999999" \
        -out sig-bad msg.bin > out 2>&1; then
        cat out
        why "signing with a wrong PIN succeeded"
    fi
    cat out
}

export_all

# ------------------------------------------------------------------ checks
setup_token
check "setup: key pairs RSA-2048 and EC P-256 (pkcs11-tool)" make_keys
check "engine loads the module" engine_available
check "engine reads RSA public key by URI == pkcs11-tool export" engine_pubkey rsa-key rsa-pub.der
check "engine reads EC public key by URI == pkcs11-tool export" engine_pubkey ec-key ec-pub.der
check "pkeyutl -sign RSA PKCS#1 v1.5 SHA-256, plain openssl verifies" rsa_pkeyutl_sign
check "dgst -sign RSA SHA-512 with -passin PIN, plain openssl verifies" rsa_passin_sign
check "dgst -sign RSA-PSS SHA-256, plain openssl verifies" rsa_pss_sign
check "key selected by id=%01 in the URI" rsa_by_id_sign
check "dgst -sign ECDSA P-256 SHA-256, plain openssl verifies" ec_sign sha256
check "dgst -sign ECDSA P-256 SHA-384, plain openssl verifies" ec_sign sha384
check "pkeyutl -decrypt RSA-OAEP SHA-1" oaep_decrypt sha1
check "pkeyutl -decrypt RSA-OAEP SHA-256" oaep_decrypt sha256
check "pkeyutl -decrypt RSA PKCS#1 v1.5" pkcs1_decrypt
check "req -x509 self-signed with RSA token key, openssl verify" self_signed "$RSA_PRIV" rsa-pub.pem rsa
check "req -x509 self-signed with EC token key, openssl verify" self_signed "$EC_PRIV" ec-pub.pem ec
check "req CSR signed by EC token key verifies" csr
check "cms -sign with token key, plain cms -verify" cms_sign
check "TLS 1.3 handshake, s_server key on token (RSA-PSS)" tls_handshake "$RSA_PRIV" rsa.pem -tls1_3
check "TLS 1.2 handshake, s_server key on token (ECDSA)" tls_handshake "$EC_PRIV" ec.pem -tls1_2
check "wrong PIN is refused" wrong_pin
exit 0
