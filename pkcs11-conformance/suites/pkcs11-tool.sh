#!/usr/bin/env bash
# Suite "pkcs11-tool": OpenSC's pkcs11-tool against the module, every
# cryptographic result cross-checked with plain OpenSSL.
# shellcheck source=../lib/common.sh
. "$CONF_HOME/lib/common.sh"

need_cmd pkcs11-tool opensc
need_cmd openssl openssl

# p11 ARGS: pkcs11-tool on the module; p11t ARGS: on the conformance token,
# logged in as the user.
p11() { pkcs11-tool --module "$MODULE" "$@"; }
p11t() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" "$@"; }

# ------------------------------------------------------------------ steps
show_info() {
    p11 --show-info > out
    cat out
    contains out 'Cryptoki version' "no 'Cryptoki version' line"
    contains out 'Manufacturer' "no 'Manufacturer' line"
}

list_slots_uninit() {
    p11 --list-slots > out
    cat out
    contains out 'token state: +uninitialized' "no slot with an uninitialized token listed"
    local id
    id=$("$PYTHON" "$CK" "$MODULE" first-uninit)
    printf '%s\n' "$id" > "$W/.uninit"
    # pkcs11-tool prints "Slot <index> (0x<id>)"; both views must agree.
    local hex
    hex=$(printf '0x%x' "$id")
    contains out "\\($hex\\)" "C_GetSlotList/C_GetTokenInfo say slot $id is uninitialized but pkcs11-tool -L does not list $hex"
    awk -v h="($hex):" '$3 == h {f=1; next} f && /^Slot/ {exit} f' out > slotblock
    contains slotblock 'uninitialized' "slot $hex is not shown as uninitialized by pkcs11-tool"
}

init_token() {
    p11 --init-token --slot "$(cat "$W/.uninit")" --label "$TOKEN_LABEL" --so-pin "$SO_PIN"
}

token_after_init() {
    p11 --list-slots > out
    cat out
    contains out "token label +: $TOKEN_LABEL\$" "no token labelled $TOKEN_LABEL after --init-token"
    awk -v l="$TOKEN_LABEL" '/^Slot/ {blk=""} {blk=blk $0 "\n"} $0 ~ "token label +: " l "$" {f=1} f && /token flags/ {print blk; exit}' out > blk
    contains blk 'token initialized' "token $TOKEN_LABEL lacks the 'token initialized' flag"
    local slot
    slot=$("$PYTHON" "$CK" "$MODULE" slot-of "$TOKEN_LABEL")
    echo "token $TOKEN_LABEL is now in slot $slot"
    # The token must be addressable by label.
    p11 --token-label "$TOKEN_LABEL" --show-info > /dev/null
}

fresh_uninit_slot_remains() {
    p11 --list-slots > out
    cat out
    contains out 'token state: +uninitialized' "after initializing one token there is no further slot with an uninitialized token"
}

init_pin() {
    p11 --token-label "$TOKEN_LABEL" --init-pin --login --login-type so --so-pin "$SO_PIN" --pin "$USER_PIN"
    p11 --list-slots > out
    awk -v l="$TOKEN_LABEL" '/^Slot/ {blk=""} {blk=blk $0 "\n"} $0 ~ "token label +: " l "$" {f=1} f && /token flags/ {print blk; exit}' out > blk
    cat blk
    contains blk 'PIN initialized' "token flags lack 'PIN initialized' after --init-pin"
}

user_login() { p11t --list-objects; }

wrong_pin() {
    if p11 --token-label "$TOKEN_LABEL" --login --pin 99999999 --list-objects > out 2>&1; then
        cat out
        why "login with a wrong PIN succeeded"
    fi
    cat out
    contains out 'CKR_PIN_INCORRECT' "wrong PIN not reported as CKR_PIN_INCORRECT"
}

change_pin() {
    p11 --token-label "$TOKEN_LABEL" --change-pin --pin "$USER_PIN" --new-pin 87654321
    p11 --token-label "$TOKEN_LABEL" --login --pin 87654321 --list-objects > /dev/null ||
        why "login with the new PIN failed"
    if p11 --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" --list-objects > out 2>&1; then
        why "the old PIN still works after --change-pin"
    fi
    p11 --token-label "$TOKEN_LABEL" --change-pin --pin 87654321 --new-pin "$USER_PIN"
    p11t --list-objects > /dev/null || why "login with the restored PIN failed"
}

list_mechanisms() {
    p11 --token-label "$TOKEN_LABEL" --list-mechanisms > out
    cat out
    local m missing=""
    for m in RSA-PKCS-KEY-PAIR-GEN RSA-PKCS SHA256-RSA-PKCS RSA-PKCS-PSS SHA256-RSA-PKCS-PSS \
             RSA-PKCS-OAEP ECDSA-KEY-PAIR-GEN ECDSA ECDH1-DERIVE AES-KEY-GEN AES-CBC AES-CBC-PAD \
             AES-ECB AES-KEY-WRAP SHA-1 SHA256 SHA384 SHA512; do
        grep -Eq "^ +${m}[, ]|^ +${m}\$" out || missing="$missing $m"
    done
    [ -z "$missing" ] || why "mechanisms not listed:$missing"
}

# gen_keypair ID LABEL KEYTYPE BITS [USAGE...]
gen_keypair() {
    local id=$1 label=$2 kt=$3 bits=$4
    shift 4
    p11t --keypairgen --key-type "$kt" --id "$id" --label "$label" "$@"
    export_pub "$id"
    ossl pkey -pubin -inform DER -in "pub-$id.der" -noout -text > pubtext
    head -3 pubtext
    contains pubtext "\\($bits bit\\)" "public key read back from the token is not $bits bits"
    # The private key must exist, be private and sensitive.
    p11t --list-objects --type privkey --id "$id" > obj
    cat obj
    contains obj "label: +$label" "no private key with id $id"
    contains obj 'sensitive' "private key $id is not sensitive"
}

export_pub() {
    pkcs11_tool_pubkey "$1" "pub-$1.der"
    ossl pkey -pubin -inform DER -in "pub-$1.der" -out "pub-$1.pem"
}

# p11verify ARGS: pkcs11-tool --verify exits 0 even for a bad signature
# (0.23 prints "Invalid signature"), so require its success message.
p11verify() {
    p11t --verify "$@" > vout 2>&1 || { cat vout; why "pkcs11-tool --verify failed"; }
    cat vout
    grep -q 'Signature is valid' vout || why "pkcs11-tool --verify did not report a valid signature"
}

gen_aes() {
    p11t --keygen --key-type AES:32 --id 21 --label aes-gen --usage-decrypt --sensitive
    p11t --list-objects --type secrkey --id 21 > obj
    cat obj
    contains obj 'AES' "generated key is not an AES key"
    contains obj 'label: +aes-gen' "generated AES key not found by id"
}

make_data() {
    printf 'conformance test message %s\n' "$(date +%s%N)" > msg.txt
    head -c 3000 /dev/urandom > big.bin
}

# sign_rsa ID MECH DIGEST [extra pkcs11-tool args] -- message-level mechanisms
sign_hash_rsa() {
    local id=$1 mech=$2 dgst=$3
    shift 3
    p11t --sign --id "$id" -m "$mech" "$@" -i big.bin -o "sig-$id-$mech"
    p11verify --id "$id" -m "$mech" "$@" -i big.bin --signature-file "sig-$id-$mech"
    case $mech in
        *PSS*) ossl dgst "-$dgst" -sigopt rsa_padding_mode:pss -sigopt "rsa_pss_saltlen:${PSS_SALT:--1}" \
                   -verify "pub-$id.pem" -signature "sig-$id-$mech" big.bin ;;
        *) ossl dgst "-$dgst" -verify "pub-$id.pem" -signature "sig-$id-$mech" big.bin ;;
    esac
}

sign_rsa_pkcs_raw() {
    # RSA-PKCS over a DigestInfo built here; OpenSSL recovers and compares it.
    ossl dgst -sha256 -binary big.bin > h256
    printf '3031300d060960864801650304020105000420%s' "$(xxd -p -c 256 h256)" | xxd -r -p > digestinfo
    p11t --sign --id 01 -m RSA-PKCS -i digestinfo -o sig-raw
    p11verify --id 01 -m RSA-PKCS -i digestinfo --signature-file sig-raw
    ossl pkeyutl -verifyrecover -pubin -inkey pub-01.pem -in sig-raw -out recovered
    same_file recovered digestinfo
    # ...and it is a valid SHA256withRSA signature of the message.
    ossl dgst -sha256 -verify pub-01.pem -signature sig-raw big.bin
}

sign_rsa_pss_prehashed() {
    ossl dgst -sha256 -binary big.bin > h256
    p11t --sign --id 01 -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 -i h256 -o sig-pss-raw
    p11verify --id 01 -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 -i h256 --signature-file sig-pss-raw
    ossl pkeyutl -verify -pubin -inkey pub-01.pem -in h256 -sigfile sig-pss-raw \
        -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32
}

verify_rejects_tampered() {
    p11t --sign --id 01 -m SHA256-RSA-PKCS -i big.bin -o sig-t
    cp big.bin tampered.bin
    printf 'X' | dd of=tampered.bin bs=1 seek=100 conv=notrunc 2> /dev/null
    p11t --verify --id 01 -m SHA256-RSA-PKCS -i tampered.bin --signature-file sig-t > out 2>&1 || true
    cat out
    if grep -q 'Signature is valid' out; then why "signature over different data verified"; fi
    contains out 'CKR_SIGNATURE_INVALID|[Ii]nvalid signature' "tampered data not reported as an invalid signature"
}

# sign_ecdsa ID DIGEST: raw ECDSA over a digest computed by OpenSSL
sign_ecdsa() {
    local id=$1 dgst=$2
    ossl dgst "-$dgst" -binary big.bin > "h-$dgst"
    p11t --sign --id "$id" -m ECDSA -i "h-$dgst" -o "sig-ec-$id" --signature-format openssl
    ossl pkeyutl -verify -pubin -inkey "pub-$id.pem" -in "h-$dgst" -sigfile "sig-ec-$id"
    ossl dgst "-$dgst" -verify "pub-$id.pem" -signature "sig-ec-$id" big.bin
    # pkcs11-tool's own verification (C_Verify) of the raw r||s form
    p11t --sign --id "$id" -m ECDSA -i "h-$dgst" -o "sig-ec-rs-$id"
    p11verify --id "$id" -m ECDSA -i "h-$dgst" --signature-file "sig-ec-rs-$id"
}

sign_ecdsa_sha256() {
    p11t --sign --id 11 -m ECDSA-SHA256 -i big.bin -o sig-ecdsa-sha256 --signature-format openssl
    ossl dgst -sha256 -verify pub-11.pem -signature sig-ecdsa-sha256 big.bin
}

# oaep HASH: OpenSSL encrypts to the token's public key, the token decrypts
oaep() {
    local h=$1 oh mgf
    oh=$(printf '%s' "$h" | tr "[:upper:]" "[:lower:]" | tr -d -)
    mgf=MGF1-$(printf '%s' "$h" | tr -d -)
    head -c 100 /dev/urandom > pt-oaep
    ossl pkeyutl -encrypt -pubin -inkey pub-01.pem -in pt-oaep -out ct-oaep \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$oh" -pkeyopt "rsa_mgf1_md:$oh"
    p11t --decrypt --id 01 -m RSA-PKCS-OAEP --hash-algorithm "$h" --mgf "$mgf" -i ct-oaep -o dec-oaep
    same_file dec-oaep pt-oaep
}

rsa_pkcs_decrypt() {
    head -c 64 /dev/urandom > pt-v15
    ossl pkeyutl -encrypt -pubin -inkey pub-02.pem -in pt-v15 -out ct-v15
    p11t --decrypt --id 02 -m RSA-PKCS -i ct-v15 -o dec-v15
    same_file dec-v15 pt-v15
}

import_aes() {
    head -c 32 /dev/urandom > aes.key
    p11t --write-object aes.key --type secrkey --key-type AES:32 --id 22 --label aes-known \
        --usage-decrypt --extractable
    p11t --list-objects --type secrkey --id 22 > obj
    cat obj
    contains obj 'label: +aes-known' "imported AES key not found"
}

aes_vs_openssl() {  # MECH OPENSSL_CIPHER DATA_LEN [nopad]
    local mech=$1 cipher=$2 len=$3 iv=000102030405060708090a0b0c0d0e0f
    local ivarg=(--iv "$iv") oivarg=(-iv "$iv") pad=()
    [ "$mech" = AES-ECB ] && { ivarg=(); oivarg=(); }
    [ "${4:-}" = nopad ] && pad=(-nopad)
    head -c "$len" /dev/urandom > pt-aes
    p11t --encrypt --id 22 -m "$mech" "${ivarg[@]}" -i pt-aes -o ct-aes
    ossl enc "-$cipher" -K "$(xxd -p -c 256 aes.key)" "${oivarg[@]}" "${pad[@]}" -in pt-aes -out ct-ossl
    same_file ct-aes ct-ossl
    ossl enc -d "-$cipher" -K "$(xxd -p -c 256 aes.key)" "${oivarg[@]}" "${pad[@]}" -in ct-aes -out dec-ossl
    same_file dec-ossl pt-aes
    p11t --decrypt --id 22 -m "$mech" "${ivarg[@]}" -i ct-ossl -o dec-aes
    same_file dec-aes pt-aes
}

aes_generated_roundtrip() {
    local iv=0f0e0d0c0b0a09080706050403020100
    head -c 1000 /dev/urandom > pt-gen
    p11t --encrypt --id 21 -m AES-CBC-PAD --iv "$iv" -i pt-gen -o ct-gen
    [ "$(stat -c %s ct-gen)" -eq 1008 ] || why "AES-CBC-PAD ciphertext of 1000 bytes is $(stat -c %s ct-gen) bytes, expected 1008"
    cmp -s ct-gen pt-gen && why "ciphertext equals plaintext"
    p11t --decrypt --id 21 -m AES-CBC-PAD --iv "$iv" -i ct-gen -o dec-gen
    same_file dec-gen pt-gen
}

hash_sha256() {
    p11 --token-label "$TOKEN_LABEL" --hash -m SHA256 -i big.bin -o h-p11
    [ "$(xxd -p -c 256 h-p11)" = "$(sha256sum big.bin | cut -d' ' -f1)" ] || why "SHA256 differs from sha256sum"
}

hash_others() {
    local m d
    for m in SHA-1:sha1 SHA384:sha384 SHA512:sha512; do
        d=${m#*:}
        p11 --token-label "$TOKEN_LABEL" --hash -m "${m%%:*}" -i big.bin -o "h-p11-$d"
        ossl dgst "-$d" -binary big.bin > "h-ossl-$d"
        same_file "h-p11-$d" "h-ossl-$d"
    done
}

data_object() {
    head -c 700 /dev/urandom > data.bin
    p11t --write-object data.bin --type data --label conf-data --application-label conf-app
    p11t --list-objects --type data > obj
    cat obj
    contains obj 'conf-data' "data object not listed"
    contains obj 'conf-app' "application label not listed"
    p11t --read-object --type data --label conf-data --output-file data.read
    same_file data.read data.bin
    p11t --delete-object --type data --label conf-data
    if p11t --read-object --type data --label conf-data --output-file data.gone > /dev/null 2>&1; then
        why "data object still readable after --delete-object"
    fi
    p11t --list-objects --type data > obj2
    if grep -q conf-data obj2; then why "data object still listed after delete"; fi
}

private_data_object() {
    printf 'secret' > pdata.bin
    p11t --write-object pdata.bin --type data --label conf-private --private
    p11 --token-label "$TOKEN_LABEL" --list-objects --type data > nologin
    cat nologin
    if grep -q conf-private nologin; then why "CKA_PRIVATE data object visible without login"; fi
    p11t --list-objects --type data > withlogin
    contains withlogin conf-private "private data object not visible after login"
}

certificate() {
    ossl req -new -x509 -newkey rsa:2048 -nodes -keyout cert.key -subj "/CN=pkcs11-conformance" \
        -days 30 -outform DER -out cert.der 2> /dev/null
    p11t --write-object cert.der --type cert --id 99 --label conf-cert
    p11t --list-objects --type cert > obj
    cat obj
    contains obj 'conf-cert' "certificate not listed"
    contains obj 'pkcs11-conformance' "certificate subject not shown"
    p11t --read-object --type cert --id 99 --output-file cert.read
    same_file cert.read cert.der
    ossl x509 -inform DER -in cert.read -noout -subject
    p11t --delete-object --type cert --id 99
    p11t --list-objects --type cert > obj2
    if grep -q conf-cert obj2; then why "certificate still listed after delete"; fi
}

wrap_unwrap() {
    head -c 32 /dev/urandom > kek.key
    p11t --write-object kek.key --type secrkey --key-type AES:32 --id 31 --label kek-known --usage-wrap
    p11t --wrap -m AES-KEY-WRAP --id 31 --application-id 22 --output-file wrapped.bin
    [ "$(stat -c %s wrapped.bin)" -eq 40 ] || why "wrapped AES-256 key is $(stat -c %s wrapped.bin) bytes, expected 40"
    # RFC 3394 cross-check with OpenSSL
    ossl enc -id-aes256-wrap -K "$(xxd -p -c 256 kek.key)" -iv A6A6A6A6A6A6A6A6 -in aes.key -out wrapped.ossl
    same_file wrapped.bin wrapped.ossl
    p11t --unwrap -m AES-KEY-WRAP --id 31 -i wrapped.ossl --key-type AES: --application-id 23 \
        --application-label aes-unwrapped --extractable
    p11t --read-object --type secrkey --id 23 --output-file unwrapped.key
    same_file unwrapped.key aes.key
}

ecdh_derive() {
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.pem
    ossl pkey -in peer.pem -pubout -outform DER -out peer.der
    p11t --derive -m ECDH1-DERIVE --id 11 -i peer.der -o secret.p11
    ossl pkeyutl -derive -inkey peer.pem -peerkey pub-11.pem -out secret.ossl
    same_file secret.p11 secret.ossl
}

random_bytes() {
    p11 --token-label "$TOKEN_LABEL" --generate-random 64 -o rnd1
    p11 --token-label "$TOKEN_LABEL" --generate-random 64 -o rnd2
    [ "$(stat -c %s rnd1)" -eq 64 ] || why "asked for 64 random bytes, got $(stat -c %s rnd1)"
    cmp -s rnd1 rnd2 && why "two C_GenerateRandom calls returned the same 64 bytes"
    return 0
}

list_objects_count() {
    p11t --list-objects --type privkey > obj
    cat obj
    local n
    n=$(grep -c '^Private Key Object' obj || true)
    [ "$n" -eq 6 ] || why "expected 6 private keys (3 RSA, 3 EC), found $n"
}

delete_keypair() {
    p11t --delete-object --type privkey --id 13
    p11t --delete-object --type pubkey --id 13
    p11t --list-objects > obj
    if grep -Eq 'ID: +13$' obj; then why "key 13 still listed after delete"; fi
}

run_test() { p11t --test; }
run_test_ec() { p11t --session-rw --test-ec --key-type EC:prime256v1 --id 77 --label test-ec; }

export_all

# ------------------------------------------------------------------ checks
check "show-info" show_info
check "list-slots shows an uninitialized token" list_slots_uninit
if check "init-token in the uninitialized slot" init_token; then :; else
    fail "suite aborted" "cannot continue without a token"
    exit 0
fi
check "token found by label and flagged initialized after init" token_after_init
check "a further uninitialized slot is offered after init" fresh_uninit_slot_remains
check "init-pin (SO login)" init_pin
check "user login" user_login
check "wrong user PIN gives CKR_PIN_INCORRECT" wrong_pin
check "change-pin and change back" change_pin
check "list-mechanisms includes the required mechanisms" list_mechanisms

make_data
check "keypairgen rsa:2048" gen_keypair 01 rsa2048 rsa:2048 2048 --usage-sign --usage-decrypt
check "keypairgen rsa:3072" gen_keypair 02 rsa3072 rsa:3072 3072 --usage-sign --usage-decrypt
check "keypairgen rsa:4096" gen_keypair 03 rsa4096 rsa:4096 4096 --usage-sign --usage-decrypt
check "keypairgen EC prime256v1" gen_keypair 11 ec256 EC:prime256v1 256 --usage-sign --usage-derive
check "keypairgen EC secp384r1" gen_keypair 12 ec384 EC:secp384r1 384 --usage-sign --usage-derive
check "keypairgen EC secp521r1" gen_keypair 13 ec521 EC:secp521r1 521 --usage-sign --usage-derive
check "keygen AES:32" gen_aes
check "private keys listed" list_objects_count

check "sign RSA-PKCS (DigestInfo), verify + openssl recover" sign_rsa_pkcs_raw
check "sign SHA256-RSA-PKCS 2048, verify + openssl" sign_hash_rsa 01 SHA256-RSA-PKCS sha256
check "sign SHA384-RSA-PKCS 3072, verify + openssl" sign_hash_rsa 02 SHA384-RSA-PKCS sha384
check "sign SHA512-RSA-PKCS 4096, verify + openssl" sign_hash_rsa 03 SHA512-RSA-PKCS sha512
check "sign SHA256-RSA-PKCS-PSS, verify + openssl" sign_hash_rsa 01 SHA256-RSA-PKCS-PSS sha256 --mgf MGF1-SHA256
check "sign RSA-PKCS-PSS over SHA-256 hash, verify + openssl" sign_rsa_pss_prehashed
check "verify rejects a tampered message" verify_rejects_tampered
check "sign ECDSA P-256 over SHA-256, verify + openssl" sign_ecdsa 11 sha256
check "sign ECDSA P-384 over SHA-384, verify + openssl" sign_ecdsa 12 sha384
check "sign ECDSA P-521 over SHA-512, verify + openssl" sign_ecdsa 13 sha512
check "sign ECDSA-SHA256, openssl verify" sign_ecdsa_sha256

check "decrypt RSA-PKCS-OAEP SHA-1 from openssl" oaep SHA-1
check "decrypt RSA-PKCS-OAEP SHA256 from openssl" oaep SHA256
check "decrypt RSA-PKCS (v1.5) from openssl" rsa_pkcs_decrypt

check "import AES key (write-object secrkey)" import_aes
check "AES-CBC-PAD encrypt/decrypt == openssl aes-256-cbc" aes_vs_openssl AES-CBC-PAD aes-256-cbc 1000
check "AES-CBC encrypt/decrypt == openssl aes-256-cbc -nopad" aes_vs_openssl AES-CBC aes-256-cbc 1024 nopad
check "AES-ECB encrypt/decrypt == openssl aes-256-ecb -nopad" aes_vs_openssl AES-ECB aes-256-ecb 512 nopad
check "AES-CBC-PAD roundtrip with generated key" aes_generated_roundtrip

check "hash SHA256 == sha256sum" hash_sha256
check "hash SHA-1/SHA384/SHA512 == openssl" hash_others
check "generate-random" random_bytes

check "data object write/list/read/delete" data_object
check "private data object hidden without login" private_data_object
check "certificate write/list/read/delete" certificate
check "wrap/unwrap AES-KEY-WRAP == openssl id-aes256-wrap" wrap_unwrap
check "derive ECDH1-DERIVE == openssl pkeyutl -derive" ecdh_derive
check "delete a key pair" delete_keypair

check "pkcs11-tool --test" run_test
check "pkcs11-tool --test-ec" run_test_ec

# RSA key sizes to the bit: 3092 is no multiple of 128 (what an engine's generator may round down
# to, 3072 here). The public key read back must be 3092 bits as OpenSSL counts them: gen_keypair
# checks "(3092 bit)", and the modulus is 773 hex digits (BN_print drops leading zero nibbles)
# starting 8..F, i.e. 387 bytes with bit 3091 the top one set.
rsa_keypairgen_to_the_bit() {
    gen_keypair 41 rsa3092 RSA:3092 3092 --usage-sign
    ossl rsa -pubin -inform DER -in pub-41.der -noout -modulus > modulus
    cat modulus
    local hexn
    hexn=$(sed -n 's/^Modulus=//p' modulus)
    [ "${#hexn}" -eq 773 ] || why "modulus of RSA:3092 has ${#hexn} hex digits, expected 773"
    case $hexn in [89A-Fa-f]*) ;; *) why "modulus of RSA:3092 starts ${hexn:0:2}: not 3092 bits" ;; esac
}
export -f rsa_keypairgen_to_the_bit
check "keypairgen RSA:3092 makes a 3092-bit modulus" rsa_keypairgen_to_the_bit
check "sign SHA256-RSA-PKCS 3092, verify + openssl" sign_hash_rsa 41 SHA256-RSA-PKCS sha256
check "sign SHA256-RSA-PKCS-PSS 3092, verify + openssl" sign_hash_rsa 41 SHA256-RSA-PKCS-PSS sha256 --mgf MGF1-SHA256

# Edwards and Montgomery curves. OpenSC 0.23 names edwards25519 and curve25519 only (Ed448 and
# X448 are the python suite's), and cannot read a Montgomery public key back or derive with one
# (the python suite derives); it sends curve25519 with a length byte one too large, which the
# module takes as the curve name.
eddsa_ed25519() {
    p11t --keypairgen --key-type EC:edwards25519 --id 51 --label ed25519 --usage-sign
    # 0.23 writes an EdDSA public key as PEM.
    p11t --read-object --type pubkey --id 51 --output-file pub-51.pem
    ossl pkey -pubin -in pub-51.pem -noout -text > pubtext
    cat pubtext
    contains pubtext 'ED25519 Public-Key' "the exported public key is no Ed25519 key"
    head -c 3000 /dev/urandom > ed-data
    p11t --sign -m EDDSA --id 51 -i ed-data -o sig-51
    [ "$(stat -c %s sig-51)" -eq 64 ] || why "Ed25519 signature is $(stat -c %s sig-51) bytes, expected 64"
    ossl pkeyutl -verify -pubin -inkey pub-51.pem -rawin -in ed-data -sigfile sig-51
    p11verify -m EDDSA --id 51 -i ed-data --signature-file sig-51
}
x25519_keypairgen() {
    p11t --keypairgen --key-type EC:curve25519 --id 52 --label x25519 --usage-derive > out
    cat out
    contains out 'EC_MONTGOMERY' "the generated public key is not CKK_EC_MONTGOMERY"
    # CKA_EC_POINT: DER OCTET STRING of the 32-byte u-coordinate; CKA_EC_PARAMS: "curve25519".
    contains out 'EC_POINT: +0420[0-9a-f]{64}$' "CKA_EC_POINT is not an OCTET STRING of 32 bytes"
    contains out 'EC_PARAMS: +130a63757276653235353139' "CKA_EC_PARAMS is not the curve name curve25519"
    p11t --list-objects --type privkey --id 52 > obj
    cat obj
    contains obj 'label: +x25519' "no X25519 private key"
    contains obj 'sensitive' "the X25519 private key is not sensitive"
}
export -f eddsa_ed25519 x25519_keypairgen
check "keypairgen EC:edwards25519, sign EDDSA, verify + openssl" eddsa_ed25519
check "keypairgen EC:curve25519 (X25519): CKK_EC_MONTGOMERY, EC_POINT, EC_PARAMS" x25519_keypairgen
exit 0
