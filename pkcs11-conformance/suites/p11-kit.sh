#!/usr/bin/env bash
# Suite "p11-kit": the module registered through a p11-kit .module file (in a
# temporary HOME), used via p11-kit list-modules, the p11-kit proxy module,
# GnuTLS p11tool with RFC 7512 URIs, and p11-kit's RPC (server/client).
# shellcheck source=../lib/common.sh
. "$CONF_HOME/lib/common.sh"

need_cmd p11-kit p11-kit
need_cmd pkcs11-tool opensc
need_cmd openssl openssl

# Locate p11-kit's proxy and RPC client modules.
export PROXY="" CLIENT=""
for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
    [ -z "$PROXY" ] && [ -f "$d/p11-kit-proxy.so" ] && PROXY="$d/p11-kit-proxy.so"
    [ -z "$CLIENT" ] && [ -f "$d/pkcs11/p11-kit-client.so" ] && CLIENT="$d/pkcs11/p11-kit-client.so"
done

# p11-kit reads the per-user config ~/.config/pkcs11/modules/*.module, but
# ignores it in processes running as root. As root, run p11-kit consumers
# either in a user namespace where we appear as an unprivileged uid (files stay
# accessible: that uid maps back to root), or, where user namespaces are not
# available, as "nobody" via setpriv on a world-accessible suite directory.
export MODDIR="$HOME/.config/pkcs11/modules"
export AS_USER_MODE_FILE="$SUITE_DIR/as-user-mode"
as_user() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
        return
    fi
    case $(cat "$AS_USER_MODE_FILE" 2> /dev/null) in
        userns) unshare --user --map-user=4242 --map-group=4242 -- "$@" ;;
        setpriv)
            chmod -R a+rwX "$SUITE_DIR" 2> /dev/null || true
            setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
            ;;
        *) echo "no way to run p11-kit consumers as a non-root user" >&2; return 1 ;;
    esac
}

write_module_config() {
    mkdir -p "$MODDIR"
    printf 'module: %s\ncritical: yes\n' "$MODULE" > "$MODDIR/conformance.module"
    # Disable every system-registered module for this HOME, so only the module
    # under test is loaded (a same-named user file overrides the system one).
    local f
    for f in /etc/pkcs11/modules/*.module /usr/share/p11-kit/modules/*.module; do
        [ -f "$f" ] || continue
        [ "$(basename "$f")" = conformance.module ] && continue
        printf 'enable-in: conformance-nothing\n' > "$MODDIR/$(basename "$f")"
    done
    ls -l "$MODDIR"
    if [ "$(id -u)" -eq 0 ]; then
        if [ -z "${CONFORMANCE_P11KIT_SETPRIV:-}" ] && unshare --user --map-user=4242 --map-group=4242 -- true; then
            echo userns > "$AS_USER_MODE_FILE"
        elif command -v setpriv > /dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups -- true; then
            echo "user namespaces unavailable; running p11-kit consumers as nobody (setpriv)"
            echo setpriv > "$AS_USER_MODE_FILE"
        else
            why "running as root with neither user namespaces (unshare) nor setpriv; p11-kit would ignore the user module config"
        fi
    fi
}

p11t() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" "$@"; }

make_key() {
    p11t --keypairgen --key-type rsa:2048 --id 01 --label p11kit-rsa --usage-sign
    p11t --keypairgen --key-type EC:prime256v1 --id 02 --label p11kit-ec --usage-sign
    p11t --read-object --type pubkey --id 01 -o rsa-pub.der
    ossl pkey -pubin -inform DER -in rsa-pub.der -out rsa-pub.pem
    head -c 2000 /dev/urandom > msg.bin
}

list_modules() {
    as_user p11-kit list-modules > out 2>&1
    cat out
    contains out "^conformance: $MODULE\$" "module 'conformance' not listed by p11-kit list-modules"
    awk '/^[^ ]/ {m = $1} m == "conformance:" && /token: / {print}' out > toks
    contains toks "token: $TOKEN_LABEL\$" "token $TOKEN_LABEL not listed under module conformance"
}

proxy_list() {
    [ -n "$PROXY" ] || why "p11-kit-proxy.so not found"
    as_user pkcs11-tool --module "$PROXY" --list-slots > out
    cat out
    contains out "token label +: $TOKEN_LABEL\$" "token not visible through the p11-kit proxy"
}

proxy_sign() {
    [ -n "$PROXY" ] || why "p11-kit-proxy.so not found"
    as_user pkcs11-tool --module "$PROXY" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" \
        --sign -m SHA256-RSA-PKCS --id 01 -i msg.bin -o sig-proxy
    ossl dgst -sha256 -verify rsa-pub.pem -signature sig-proxy msg.bin
}

p11tool_tokens() {
    as_user p11tool --list-tokens > out 2>&1
    cat out
    grep -E "URL: pkcs11:.*token=$TOKEN_LABEL(;|\$)" out | head -1 | sed 's/^[[:space:]]*URL: //' > url
    [ -s url ] || why "p11tool (via p11-kit config) does not list a token URL with token=$TOKEN_LABEL"
    # The URL must carry the RFC 7512 token attributes
    contains url 'manufacturer=' "token URL lacks manufacturer="
    contains url 'serial=' "token URL lacks serial="
    contains url 'model=' "token URL lacks model="
}

# count_objects URI: number of objects p11tool lists for URI (logged in)
count_objects() {
    GNUTLS_PIN=$USER_PIN as_user p11tool --login --list-all "$1" > objs 2>&1 || true
    cat objs >&2
    grep -c '^Object ' objs || true
}

uri_select() {
    local url n
    url=$(cat url)
    n=$(count_objects "$url")
    [ "$n" -eq 4 ] || why "full token URL $url lists $n objects, expected 4 (2 key pairs)"
    n=$(count_objects "pkcs11:token=$TOKEN_LABEL;object=p11kit-rsa;type=private")
    [ "$n" -eq 1 ] || why "object=p11kit-rsa;type=private selects $n objects, expected 1"
    n=$(count_objects "pkcs11:token=$TOKEN_LABEL;id=%01")
    [ "$n" -eq 2 ] || why "id=%01 selects $n objects, expected 2 (public + private)"
    n=$(count_objects "pkcs11:token=$TOKEN_LABEL;type=public")
    [ "$n" -eq 2 ] || why "type=public selects $n objects, expected 2"
    n=$(count_objects "pkcs11:token=no-such-token")
    [ "$n" -eq 0 ] || why "token=no-such-token selects $n objects, expected 0"
}

private_hidden() {
    as_user p11tool --list-all "pkcs11:token=$TOKEN_LABEL" > objs 2>&1 || true
    cat objs
    if grep -q 'type=private' objs; then why "private keys listed without login"; fi
    contains objs 'type=public' "public keys not listed without login"
}

p11tool_test_sign() {
    GNUTLS_PIN=$USER_PIN as_user p11tool --login --test-sign "pkcs11:token=$TOKEN_LABEL;object=p11kit-ec" > out 2>&1
    cat out
    contains out 'Verifying against public key in the token\.\.\. ok' "test-sign did not verify"
}

rpc_server() {
    [ -n "$CLIENT" ] || why "p11-kit-client.so not found"
    local sock="$SUITE_DIR/p11kit-rpc.sock" _
    p11-kit server --foreground --provider "$MODULE" --name "$sock" -s "pkcs11:token=$TOKEN_LABEL" > srv.out 2>&1 &
    local srv=$!
    for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done
    [ -S "$sock" ] || { cat srv.out; kill "$srv" 2> /dev/null; why "p11-kit server did not create its socket"; }
    local rc=0
    (
        export P11_KIT_SERVER_ADDRESS="unix:path=$sock"
        pkcs11-tool --module "$CLIENT" --list-slots > rpc-slots
        cat rpc-slots
        grep -Eq "token label +: $TOKEN_LABEL\$" rpc-slots || { echo "token not visible over RPC"; exit 1; }
        pkcs11-tool --module "$CLIENT" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" \
            --sign -m SHA256-RSA-PKCS-PSS --mgf MGF1-SHA256 --id 01 -i msg.bin -o sig-rpc
        ossl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
            -verify rsa-pub.pem -signature sig-rpc msg.bin
        pkcs11-tool --module "$CLIENT" --token-label "$TOKEN_LABEL" --login --pin "$USER_PIN" --list-objects > rpc-objs
        grep -q 'p11kit-ec' rpc-objs || { echo "objects not listed over RPC"; exit 1; }
    ) || rc=$?
    kill "$srv" 2> /dev/null || true
    wait "$srv" 2> /dev/null || true
    cat srv.out
    [ "$rc" -eq 0 ] || why "operation over p11-kit RPC failed"
}

export_all

# ------------------------------------------------------------------ checks
setup_token
check "setup: key pairs (pkcs11-tool)" make_key
check "module config in a temporary HOME" write_module_config
check "p11-kit list-modules lists the module and its token" list_modules
check "p11-kit-proxy.so exposes the token" proxy_list
check "sign through p11-kit-proxy.so, openssl verifies" proxy_sign
if command -v p11tool > /dev/null 2>&1; then
    check "p11tool via p11-kit lists the token with an RFC 7512 URL" p11tool_tokens
    check "RFC 7512 URIs select token, object, id and type" uri_select
    check "private objects hidden without login (URI listing)" private_hidden
    check "p11tool --test-sign by URI via p11-kit" p11tool_test_sign
else
    fail "p11tool available" "p11tool not found (Debian package: gnutls-bin); URI checks not run"
fi
check "p11-kit server/client RPC: list, sign (PSS), list objects" rpc_server
exit 0
