#!/usr/bin/env bash
# Suite "gnutls": GnuTLS p11tool and certtool loading the module directly
# (--provider): key generation on the token, signing, certificates; results
# checked with OpenSSL.
# shellcheck source=../lib/common.sh
. "$CONF_HOME/lib/common.sh"

need_cmd p11tool gnutls-bin
need_cmd certtool gnutls-bin
need_cmd openssl openssl

export GNUTLS_PIN=$USER_PIN GNUTLS_SO_PIN=$SO_PIN
export TOK="pkcs11:token=$TOKEN_LABEL"
pt() { p11tool --provider "$MODULE" "$@"; }
ct() { certtool --provider "$MODULE" "$@"; }

list_tokens() {
    pt --list-tokens > out
    cat out
    contains out "URL: pkcs11:.*token=$TOKEN_LABEL(;|\$)" "token $TOKEN_LABEL not listed by p11tool"
}

list_mechanisms() {
    pt --list-mechanisms "$TOK" > out
    cat out
    local m missing=""
    # by number: GnuTLS prints 0x1040 as CKM_ECDSA_KEY_PAIR_GEN
    for m in 0x0000:RSA_PKCS_KEY_PAIR_GEN 0x0001:RSA_PKCS 0x000d:RSA_PKCS_PSS 0x0040:SHA256_RSA_PKCS \
             0x1040:EC_KEY_PAIR_GEN 0x1041:ECDSA 0x1080:AES_KEY_GEN; do
        grep -qi "^\[${m%%:*}\]" out || missing="$missing CKM_${m#*:}"
    done
    [ -z "$missing" ] || why "mechanisms not listed:$missing"
}

genkey() {  # genkey LABEL TYPE BITS ARGS...
    local label=$1 type=$2 bits=$3
    shift 3
    pt --login --generate-privkey "$type" "$@" --label "$label" --outfile "$label.pub" "$TOK"
    ossl pkey -pubin -in "$label.pub" -noout -text > "$label.txt"
    head -2 "$label.txt"
    contains "$label.txt" "\\($bits bit\\)" "generated public key is not $bits bits"
}

list_privkeys() {
    pt --login --list-privkeys "$TOK" > out
    cat out
    contains out 'object=gt-rsa;type=private' "gt-rsa private key not listed"
    contains out 'object=gt-ec;type=private' "gt-ec private key not listed"
    contains out 'CKA_SENSITIVE' "private keys not flagged sensitive"
}

export_pubkey() {  # export_pubkey LABEL
    pt --login --export-pubkey "$TOK;object=$1;type=public" --outfile "$1.exported.pub"
    ossl pkey -pubin -in "$1.exported.pub" -outform DER -out a.der
    ossl pkey -pubin -in "$1.pub" -outform DER -out b.der
    same_file a.der b.der
}

test_sign() {
    pt --login --test-sign "$TOK;object=$1" > out 2>&1
    cat out
    contains out 'Verifying against public key in the token\.\.\. ok' "test-sign did not verify against the token's public key"
}

self_signed() {  # self_signed LABEL
    printf 'cn = "GnuTLS conformance %s"\nserial = 7\nexpiration_days = 30\nca\ncert_signing_key\nsigning_key\n' "$1" > "$1.tmpl"
    ct --generate-self-signed --load-privkey "$TOK;object=$1;type=private" \
        --load-pubkey "$TOK;object=$1;type=public" --template "$1.tmpl" --outfile "$1.crt"
    ossl verify -CAfile "$1.crt" "$1.crt"
    ossl x509 -in "$1.crt" -noout -pubkey | ossl pkey -pubin -outform DER -out c.der
    ossl pkey -pubin -in "$1.pub" -outform DER -out k.der
    same_file c.der k.der
}

request() {
    printf 'cn = "GnuTLS conformance request"\n' > req.tmpl
    ct --generate-request --load-privkey "$TOK;object=gt-ec;type=private" --template req.tmpl --outfile req.pem
    ossl req -in req.pem -verify -noout
}

p7_sign() {
    head -c 3000 /dev/urandom > data.bin
    ct --p7-sign --load-privkey "$TOK;object=gt-rsa;type=private" --load-certificate gt-rsa.crt \
        --infile data.bin --outfile data.p7
    ossl cms -verify -in data.p7 -inform PEM -CAfile gt-rsa.crt -purpose any -content data.bin \
        -binary -out data.verified
    same_file data.verified data.bin
}

write_cert() {
    pt --login --write --load-certificate gt-rsa.crt --label gt-cert --id 0a0b0c "$TOK"
    pt --list-all-certs "$TOK" > out
    cat out
    contains out 'object=gt-cert;type=cert' "written certificate not listed"
    pt --export "$TOK;object=gt-cert;type=cert" --outfile exported.crt
    ossl x509 -in exported.crt -outform DER -out e.der
    ossl x509 -in gt-rsa.crt -outform DER -out o.der
    same_file e.der o.der
}

delete_cert() {
    pt --login --batch --delete "$TOK;object=gt-cert;type=cert" > del.out 2>&1
    cat del.out
    contains del.out '^1 objects deleted' "p11tool did not delete exactly one object"
    pt --list-all-certs "$TOK" > out 2>&1 || true   # exits 2 when nothing is found
    cat out
    if grep -q 'object=gt-cert' out; then why "certificate still listed after --delete"; fi
}

wrong_pin() {
    if GNUTLS_PIN=99999999 pt --login --list-privkeys "$TOK" > out 2>&1; then
        cat out
        grep -q 'type=private' out && why "private keys listed with a wrong PIN"
    fi
    cat out
    return 0
}

export_all

setup_token
check "p11tool --list-tokens shows the token" list_tokens
check "p11tool --list-mechanisms" list_mechanisms
check "p11tool --generate-privkey rsa 2048 on token" genkey gt-rsa rsa 2048 --bits 2048
check "p11tool --generate-privkey ecdsa secp256r1 on token" genkey gt-ec ecdsa 256 --curve secp256r1
check "p11tool --list-privkeys" list_privkeys
check "p11tool --export-pubkey RSA == generated" export_pubkey gt-rsa
check "p11tool --export-pubkey EC == generated" export_pubkey gt-ec
check "p11tool --test-sign RSA" test_sign gt-rsa
check "p11tool --test-sign ECDSA" test_sign gt-ec
check "certtool self-signed RSA with token key, openssl verify" self_signed gt-rsa
check "certtool self-signed ECDSA with token key, openssl verify" self_signed gt-ec
check "certtool --generate-request with token EC key, openssl req -verify" request
check "certtool --p7-sign with token RSA key, openssl cms -verify" p7_sign
check "p11tool --write certificate, list, export" write_cert
check "p11tool --delete certificate" delete_cert
check "wrong PIN does not reveal private keys" wrong_pin
exit 0
