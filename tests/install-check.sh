#!/usr/bin/env bash
# tests/install-check.sh: install the module for real (`make install PREFIX=/usr`, as root, on
# Debian), prove that the system's PKCS#11 consumers find it, then uninstall and prove that
# nothing is left.
#
#   - the installed tree: library (+ libcknfast.so), header, pkg-config file, p11-kit module file,
#     binary, nShield tool links in their own directory (none in /usr/bin);
#   - loading is free: p11-kit consumers with no HOME and a missing data directory work and
#     create nothing;
#   - p11-kit list-modules lists shieldhsm and its token; p11tool --list-tokens (no --provider)
#     shows the token;
#   - gnutls-serv serves TLS with its private key given as a pkcs11: URI on our token
#     (gnutls-cli and openssl s_client complete handshakes);
#   - NSS: modutil -add / -list and certutil -U show the token;
#   - make uninstall removes exactly what was installed (file lists before/after compared).
#
# Not root: prints a SKIP line and exits 0. Prints PASS/FAIL per check; exits 1 on any FAIL.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: install-check needs root (it runs make install PREFIX=/usr)"
    exit 0
fi
if ! command -v dpkg > /dev/null 2>&1 || ! command -v apt-get > /dev/null 2>&1; then
    echo "SKIP: install-check expects Debian (dpkg, apt-get)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in p11-kit gnutls-bin libnss3-tools opensc pkg-config libp11-kit-dev openssl; do
    dpkg -s "$pkg" > /dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    echo "== installing ${need[*]}"
    { apt-get update -qq && apt-get install -y -qq "${need[@]}" > /dev/null; } || {
        echo "FAIL: apt-get install ${need[*]}"
        exit 1
    }
fi

PREFIX=/usr
MAKEVARS=(PREFIX=$PREFIX)
failures=0
pass() { echo "PASS: $*"; }
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
# check "what" command...: runs the command, output indented; PASS or FAIL.
check() {
    local what=$1
    shift
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/    /'
    if [ $rc -eq 0 ]; then pass "$what"; else fail "$what"; fi
    return $rc
}

T=$(mktemp -d /tmp/shieldhsm-install-check.XXXXXX)
chmod 755 "$T"
INSTALLED=0
cleanup() {
    if [ "$INSTALLED" = 1 ]; then
        echo "== cleanup: make uninstall"
        make -s uninstall "${MAKEVARS[@]}" > /dev/null 2>&1
    fi
    rm -rf "$T"
}
trap cleanup EXIT

# What install will write (final paths), from the Makefile itself.
make -s show-paths "${MAKEVARS[@]}" > "$T/entries" || {
    echo "FAIL: make show-paths"
    exit 1
}
LIB=$(awk '$2 ~ /\/libshieldhsm\.so$/ {print $2; exit}' "$T/entries")
LIBDIR=$(dirname "$LIB")
MODFILE=$(awk '$2 ~ /\/shieldhsm\.module$/ {print $2; exit}' "$T/entries")
TOOLDIR=$(awk '$2 ~ /\/enquiry$/ {print $2; exit}' "$T/entries" | xargs dirname)
echo "== library $LIB, p11-kit file $MODFILE, tools in $TOOLDIR"

# Snapshot: every directory install writes into (listing only, not recursive: /usr/bin is
# shared and other software may change elsewhere meanwhile), plus our own directories.
snapshot() {
    local d
    awk '{print $2}' "$T/entries" | xargs -n1 dirname | sort -u | while read -r d; do
        while [ ! -d "$d" ]; do d=$(dirname "$d"); done
        echo "$d"
    done | sort -u | while read -r d; do
        find "$d" -maxdepth 1 -printf '%p %y %l\n'
    done | sort
    for d in "$PREFIX/lib/shieldhsm" /opt/nfast; do
        [ ! -e "$d" ] || find "$d" -printf '%p %y %l\n'
    done
}

already=""
while read -r _ path _; do
    if [ -e "$path" ] || [ -L "$path" ]; then already="$already $path"; fi
done < "$T/entries"
if [ -n "$already" ]; then
    echo "FAIL: already installed (run \`make uninstall PREFIX=$PREFIX\` first):$already"
    exit 1
fi
snapshot > "$T/before"

echo "== build"
make -s build > "$T/build.log" 2>&1 || {
    tail -30 "$T/build.log"
    echo "FAIL: make build"
    exit 1
}

echo "== make install PREFIX=$PREFIX"
INSTALLED=1
check "make install PREFIX=$PREFIX" make -s install "${MAKEVARS[@]}" || exit 1

# ---------------------------------------------------------------- the tree
tree_ok() {
    local missing=0 kind path target
    while read -r kind path target; do
        case $kind in
            file) [ -f "$path" ] && [ ! -L "$path" ] || { echo "missing file $path"; missing=1; } ;;
            link)
                if [ "$(readlink "$path")" != "$target" ]; then
                    echo "link $path is '$(readlink "$path")', want $target"
                    missing=1
                elif [ ! -e "$path" ]; then
                    echo "link $path dangles"
                    missing=1
                fi
                ;;
        esac
    done < "$T/entries"
    find "$PREFIX/lib/shieldhsm" "$LIBDIR/libcknfast.so" "$LIB" "$MODFILE" "$PREFIX/include/shieldhsm.h" \
        "$LIBDIR/pkgconfig/shieldhsm.pc" "$PREFIX/bin/shieldhsm" -maxdepth 2 \
        \( -type l -printf '%M %p -> %l\n' \) -o -printf '%M %p\n' 2> /dev/null | head -40
    return $missing
}
check "installed tree: every file and link in place, links resolve" tree_ok

module_file() {
    cat "$MODFILE"
    grep -qx "module: $LIB" "$MODFILE" || { echo "module: is not the absolute installed path"; return 1; }
    grep -qx "critical: no" "$MODFILE" || { echo "critical: no missing"; return 1; }
}
check "p11-kit module file names the installed library, critical: no" module_file

pkgconf() {
    pkg-config --modversion shieldhsm && pkg-config --cflags --libs shieldhsm &&
        echo "module=$(pkg-config --variable=module shieldhsm)" &&
        [ "$(pkg-config --variable=module shieldhsm)" = "$LIB" ]
}
check "pkg-config shieldhsm (module variable = installed library)" pkgconf

no_tools_in_bin() {
    local t bad=0
    for t in new-world generatekey nfkminfo enquiry hsm-mode createocs ppmk kmfile-dump aclprint \
        KeyTransferRemote verifykeypackage preload byok-toolset byok-verify byok-kek-import byok-test-kek \
        Add-AzureKeyVaultKey; do
        for d in /usr/bin /bin /usr/sbin /usr/local/bin; do
            if [ -L "$d/$t" ] && [ "$(readlink -f "$d/$t")" = "$(readlink -f "$PREFIX/bin/shieldhsm")" ]; then
                echo "$d/$t is ours"
                bad=1
            fi
        done
        [ -x "$TOOLDIR/$t" ] || { echo "$TOOLDIR/$t missing"; bad=1; }
    done
    return $bad
}
check "the nShield tool names are in $TOOLDIR only, never /usr/bin" no_tools_in_bin

tool_runs() {
    SHIELDHSM_KMDATA="$T/tool-kmdata" "$TOOLDIR/enquiry" | head -8
}
check "$TOOLDIR/enquiry runs (argv[0] dispatch)" tool_runs

# ---------------------------------------------------------------- loading is free
lazy_load() {
    # No HOME, no XDG_*, a data directory that does not exist: consumers load the module,
    # list it (p11-kit calls C_Initialize, C_GetSlotList, C_GetTokenInfo) and write nothing.
    env -i PATH=/usr/bin:/bin SHIELDHSM_KMDATA="$T/absent/kmdata" p11-kit list-modules > "$T/lazy.out" 2>&1 ||
        { cat "$T/lazy.out"; return 1; }
    awk '/^shieldhsm:/ {p = 1} /^[^ ]/ && !/^shieldhsm:/ {p = 0} p' "$T/lazy.out"
    grep -q "^shieldhsm: $LIB\$" "$T/lazy.out" || { echo "shieldhsm not listed"; return 1; }
    env -i PATH=/usr/bin:/bin SHIELDHSM_KMDATA="$T/absent/kmdata" p11tool --list-tokens > /dev/null 2>&1 ||
        { echo "p11tool --list-tokens failed"; return 1; }
    if [ -e "$T/absent" ]; then
        echo "loading created $T/absent"
        return 1
    fi
    echo "$T/absent: not created"
}
check "p11-kit consumers with no HOME and no data directory: module loads, nothing created" lazy_load

# ---------------------------------------------------------------- a token with a key and cert
export SHIELDHSM_KMDATA="$T/kmdata"
LABEL=installcheck SO_PIN=5678 USER_PIN=1234
export GNUTLS_PIN=$USER_PIN GNUTLS_SO_PIN=$SO_PIN
p11t() { pkcs11-tool --module "$LIB" "$@"; }

make_token() {
    local free
    free=$(p11t --list-slots | awk '/^Slot [0-9]+ \(0x[0-9a-f]+\)/ {s = $3; gsub(/[():]/, "", s)}
        /token state: +uninitialized/ {print s; exit}')
    [ -n "$free" ] || { echo "no free slot"; p11t --list-slots; return 1; }
    echo "free slot $free"
    p11t --slot "$free" --init-token --label "$LABEL" --so-pin "$SO_PIN" &&
        p11t --token-label "$LABEL" --login --login-type so --so-pin "$SO_PIN" --init-pin --pin "$USER_PIN" &&
        p11t --token-label "$LABEL" --login --pin "$USER_PIN" --keypairgen --key-type EC:prime256v1 \
            --id 01 --label tlskey --usage-sign
}
check "token '$LABEL' with an EC key (pkcs11-tool on $LIB)" make_token

KEY_URI="pkcs11:token=$LABEL;object=tlskey;type=private"
make_cert() {
    printf 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\nserial = 1\nexpiration_days = 2\ntls_www_server\nsigning_key\n' > "$T/cert.tmpl"
    # certtool without --provider: the key is found through the p11-kit registration.
    certtool --generate-self-signed --load-privkey "$KEY_URI" \
        --load-pubkey "pkcs11:token=$LABEL;object=tlskey;type=public" \
        --template "$T/cert.tmpl" --outfile "$T/cert.pem" > "$T/certtool.out" 2>&1 ||
        { cat "$T/certtool.out"; return 1; }
    openssl x509 -in "$T/cert.pem" -noout -subject -issuer -ext subjectAltName
    p11tool --login --write --load-certificate "$T/cert.pem" --label tlscert --id 01 "pkcs11:token=$LABEL" > /dev/null
}
check "self-signed certificate for the token key (certtool via p11-kit), written to the token" make_cert

# ---------------------------------------------------------------- p11-kit and GnuTLS
list_modules() {
    p11-kit list-modules > "$T/lm.out" 2>&1 || { cat "$T/lm.out"; return 1; }
    awk '/^[^ ]/ {p = ($1 == "shieldhsm:")} p' "$T/lm.out"
    grep -q "^shieldhsm: $LIB\$" "$T/lm.out" || { echo "shieldhsm not listed"; return 1; }
    awk '/^[^ ]/ {p = ($1 == "shieldhsm:")} p && /token: /' "$T/lm.out" | grep -q "token: $LABEL\$" ||
        { echo "token $LABEL not listed under shieldhsm"; return 1; }
}
check "p11-kit list-modules lists shieldhsm and token $LABEL" list_modules

p11tool_tokens() {
    p11tool --list-tokens > "$T/tok.out" 2>&1 || { cat "$T/tok.out"; return 1; }
    grep -B1 -A8 "token=$LABEL" "$T/tok.out" | head -12
    grep -Eq "URL: pkcs11:.*token=$LABEL(;|\$)" "$T/tok.out"
}
check "p11tool --list-tokens (no --provider) shows token $LABEL" p11tool_tokens

tls_clients() {  # tls_clients PORT
    local out
    echo "-- gnutls-cli"
    out=$(echo "ping-over-tls" | timeout 20 gnutls-cli --x509cafile "$T/cert.pem" --port "$1" localhost 2>&1)
    printf '%s\n' "$out" | grep -E "Handshake was completed|Description|Status: The certificate is trusted|ping-over-tls" | head -6
    printf '%s\n' "$out" | grep -q "Handshake was completed" || { printf '%s\n' "$out" | tail -20; return 1; }
    echo "-- openssl s_client"
    out=$(echo "hello" | timeout 20 openssl s_client -connect "127.0.0.1:$1" -CAfile "$T/cert.pem" \
        -verify_return_error -brief 2>&1)
    printf '%s\n' "$out" | grep -E "CONNECTION ESTABLISHED|Protocol version|Ciphersuite|Peer certificate|Signature type|Verification" | head -7
    printf '%s\n' "$out" | grep -q "Verification: OK" || { printf '%s\n' "$out" | tail -20; return 1; }
}

tls_server() {
    local port pid i rc
    port=$((20000 + RANDOM % 20000))
    gnutls-serv --echo --port "$port" --x509certfile "$T/cert.pem" \
        --x509keyfile "$KEY_URI?pin-value=$USER_PIN" > "$T/serv.out" 2>&1 &
    pid=$!
    for i in $(seq 1 100); do
        grep -q "listening" "$T/serv.out" 2> /dev/null && break
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
    done
    sed -n '1,5p' "$T/serv.out"
    if grep -q "listening" "$T/serv.out"; then
        tls_clients "$port"
        rc=$?
    else
        echo "gnutls-serv did not start"
        rc=1
    fi
    kill "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    return $rc
}
check "gnutls-serv with key $KEY_URI serves TLS (gnutls-cli, openssl s_client)" tls_server

# ---------------------------------------------------------------- NSS
nss() {
    local db="sql:$T/nssdb"
    mkdir -p "$T/nssdb"
    printf '%s\n' "$USER_PIN" > "$T/pw.txt"
    certutil -N -d "$db" --empty-password || return 1
    modutil -dbdir "$db" -add shieldhsm -libfile "$LIB" -force || return 1
    modutil -dbdir "$db" -list > "$T/nss.out" 2>&1
    awk '/shieldhsm/ {p = 1} p && NF == 0 {exit} p' "$T/nss.out"
    grep -q "library name: $LIB" "$T/nss.out" && grep -q "token: $LABEL\$" "$T/nss.out" ||
        { cat "$T/nss.out"; echo "modutil -list lacks the module or its token"; return 1; }
    certutil -U -d "$db" > "$T/nssu.out" 2>&1
    grep -B1 -A3 "token: $LABEL\$" "$T/nssu.out"
    grep -q "token: $LABEL\$" "$T/nssu.out" || { echo "certutil -U lacks the token"; return 1; }
    certutil -L -d "$db" -h "$LABEL" -f "$T/pw.txt" > "$T/nssl.out" 2>&1
    cat "$T/nssl.out"
    grep -q "^$LABEL:tlscert " "$T/nssl.out" || { echo "certutil -L lacks $LABEL:tlscert"; return 1; }
}
check "NSS: modutil -add/-list, certutil -U and -L show the token and its certificate" nss

cknfast_name() {
    pkcs11-tool --module "$LIBDIR/libcknfast.so" --list-token-slots 2>&1 | grep -E "token label|token manufacturer" | head -4
}
check "the libcknfast.so name loads the same module" cknfast_name

# ---------------------------------------------------------------- the nShield layout, staged
nfast_staged() {
    local st="$T/stage"
    make -s install DESTDIR="$st" PREFIX=/usr NFAST_LAYOUT=1 > /dev/null || return 1
    ls -l "$st/opt/nfast/bin/enquiry" "$st/opt/nfast/bin/preload" "$st/opt/nfast/toolkits/pkcs11/libcknfast.so" |
        awk '{print $1, $(NF-2), $(NF-1), $NF}'
    [ "$(readlink "$st/opt/nfast/bin/enquiry")" = /usr/bin/shieldhsm ] || return 1
    [ ! -e "$st/usr/bin/enquiry" ] || { echo "enquiry in /usr/bin"; return 1; }
    make -s uninstall DESTDIR="$st" PREFIX=/usr NFAST_LAYOUT=1 > /dev/null || return 1
    if [ -n "$(find "$st" -mindepth 1 2> /dev/null)" ]; then
        find "$st" -mindepth 1
        echo "staged uninstall left files"
        return 1
    fi
    echo "staged NFAST_LAYOUT install/uninstall: tree empty again"
}
check "make install NFAST_LAYOUT=1 (staged): /opt/nfast/bin links, uninstall leaves nothing" nfast_staged

# ---------------------------------------------------------------- uninstall
echo "== make uninstall PREFIX=$PREFIX"
check "make uninstall PREFIX=$PREFIX" make -s uninstall "${MAKEVARS[@]}" && INSTALLED=0
snapshot > "$T/after"
same_tree() {
    if diff "$T/before" "$T/after"; then
        echo "$(wc -l < "$T/after") entries in the install directories, identical before and after"
    else
        return 1
    fi
}
check "after uninstall the install directories are as before" same_tree
gone() {
    p11-kit list-modules 2>&1 | grep "^shieldhsm:" && return 1
    echo "p11-kit no longer lists shieldhsm"
}
check "p11-kit no longer lists shieldhsm" gone

if [ "$failures" -gt 0 ]; then
    echo "install-check: $failures check(s) failed"
    exit 1
fi
echo "install-check: all checks passed"
