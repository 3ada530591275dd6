# shellcheck shell=bash
# Shared helpers, sourced by every suite script (suites/*.sh).
#
# The runner exports, per suite:
#   MODULE        absolute path of the PKCS#11 module under test
#   SUITE         suite name
#   SUITE_DIR     fresh temporary directory of this suite (removed afterwards)
#   RESULTS       file receiving one line per check: PASS<TAB>name or FAIL<TAB>name<TAB>reason
#   CONF_HOME     the pkcs11-conformance directory
#   PYTHON        python interpreter to use
#   CHECK_TIMEOUT seconds allowed for one check
#   QUIET         1 = do not print passing checks on stderr
# and the module store variables SOFTHSM2_CONF, SHIELDHSM_KMDATA, NFAST_KMDATA.

set -u
set -o pipefail

export TOKEN_LABEL=conformance
export SO_PIN=5678
export USER_PIN=1234
export W="$SUITE_DIR/work"          # scratch space for the checks of this suite
export CK="$CONF_HOME/lib/ck.py"
mkdir -p "$W" "$SUITE_DIR/logs"
cd "$W" || exit 1

# An empty OpenSSL configuration: plain openssl used as the *independent*
# second implementation must not load the pkcs11 engine.
printf '# empty\n' > "$SUITE_DIR/openssl-plain.cnf"
export PLAIN_OPENSSL_CONF="$SUITE_DIR/openssl-plain.cnf"

_check_no=0

_record_pass() {
    printf 'PASS\t%s\n' "$1" >> "$RESULTS"
    [ "${QUIET:-0}" = 1 ] || printf '  ok    [%s] %s\n' "$SUITE" "$1" >&2
}

# fail NAME REASON [LOGFILE] [COMMAND...]: record a failed check and print
# everything needed to diagnose it on stderr.
_record_fail() {
    local name=$1 reason=$2 log=${3:-}
    shift 3 2>/dev/null || shift $#
    reason=${reason//$'\t'/ }
    reason=${reason//$'\n'/ }
    printf 'FAIL\t%s\t%s\n' "$name" "$reason" >> "$RESULTS"
    {
        printf '  FAIL  [%s] %s: %s\n' "$SUITE" "$name" "$reason"
        if [ $# -gt 0 ]; then
            printf '        command:'
            printf ' %q' "$@"
            printf '\n'
        fi
        if [ -n "$log" ] && [ -s "$log" ]; then
            local n
            n=$(wc -l < "$log")
            if [ "$n" -gt 150 ]; then
                printf '        output (last 150 of %s lines):\n' "$n"
            else
                printf '        output:\n'
            fi
            tail -n 150 "$log" | sed 's/^/        | /'
        fi
    } >&2
}

# pass NAME / fail NAME REASON: record a result computed by the suite itself.
pass() { _record_pass "$1"; }
fail() { _record_fail "$1" "$2" ""; }

# check NAME CMD [ARGS...]
# Runs CMD (a program or an exported shell function) under a timeout, in a
# child bash with `set -euo pipefail`, so any failing step inside a function
# fails the check. Passes iff the exit status is 0.
check() {
    local name=$1
    shift
    _check_no=$((_check_no + 1))
    local log
    log="$SUITE_DIR/logs/$(printf '%03d' "$_check_no").log"
    local rc=0
    rm -f "$W/.why"
    (cd "$W" && timeout -k 10 "$CHECK_TIMEOUT" bash -c 'set -euo pipefail; "$@"' check "$@") \
        > "$log" 2>&1 < /dev/null || rc=$?
    if [ "$rc" -eq 0 ]; then
        _record_pass "$name"
        return 0
    fi
    local reason="exit status $rc"
    [ "$rc" -eq 124 ] && reason="timed out after ${CHECK_TIMEOUT}s"
    [ "$rc" -eq 137 ] && reason="killed after timeout (${CHECK_TIMEOUT}s)"
    # A step may leave a one-line explanation in $W/.why
    if [ -s "$W/.why" ]; then
        reason="$reason: $(head -c 300 "$W/.why")"
    else
        # otherwise quote the last error-looking line of the output
        local hint
        hint=$(grep -E 'CKR_[A-Z_]+|[Ee]rror|[Ff]ail|[Ii]nvalid|[Uu]nable|[Cc]annot' "$log" | tail -n 1 | cut -c 1-200)
        [ -n "$hint" ] && reason="$reason: $hint"
    fi
    rm -f "$W/.why"
    _record_fail "$name" "$reason" "$log" "$@"
    return 1
}

# check_fails NAME CMD...: the command must fail cleanly (non-zero exit that
# is neither a timeout nor a crash by signal).
check_fails() {
    local name=$1
    shift
    _check_no=$((_check_no + 1))
    local log
    log="$SUITE_DIR/logs/$(printf '%03d' "$_check_no").log"
    local rc=0
    (cd "$W" && timeout -k 10 "$CHECK_TIMEOUT" bash -c '"$@"' check "$@") \
        > "$log" 2>&1 < /dev/null || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -lt 126 ]; then
        _record_pass "$name"
        return 0
    fi
    local reason="expected a clean failure, got exit status $rc"
    [ "$rc" -eq 0 ] && reason="command succeeded but must fail"
    [ "$rc" -ge 128 ] && reason="crashed (exit status $rc)"
    [ "$rc" -eq 124 ] && reason="timed out after ${CHECK_TIMEOUT}s"
    _record_fail "$name" "$reason" "$log" "$@"
    return 1
}

# why MSG: explanation for the failure of the current step (used inside steps).
why() {
    printf '%s\n' "$*" > "$W/.why"
    printf 'reason: %s\n' "$*" >&2
    return 1
}

# need_cmd CMD PACKAGE: abort the suite with one failed check if a client
# binary is missing.
need_cmd() {
    if ! command -v "$1" > /dev/null 2>&1; then
        fail "client $1 available" "$1 not found in PATH (Debian package: $2)"
        exit 0
    fi
}

# Plain OpenSSL, guaranteed not to go through the module under test.
ossl() { OPENSSL_CONF="$PLAIN_OPENSSL_CONF" openssl "$@"; }

# Assert helpers for steps.
same_file() { cmp -s "$1" "$2" || why "$1 and $2 differ ($(stat -c %s "$1") vs $(stat -c %s "$2") bytes)"; }
contains() {  # contains FILE REGEX [DESCRIPTION]
    grep -Eq -- "$2" "$1" || { cat "$1"; why "${3:-output lacks /$2/}"; }
}

# setup_token: make the fresh token (first uninitialized slot, label
# $TOKEN_LABEL, SO PIN, user PIN) through the ctypes helper, and export
# TOKEN_SLOT = the slot id the token has after initialization.
# Each step is a separate process, as with pkcs11-tool: the module may only
# show the newly initialized token (possibly under a new slot id) on a later
# enumeration.
setup_token_step() {
    "$PYTHON" "$CK" "$MODULE" slots || why "cannot list the slots"
    local uninit slot
    uninit=$("$PYTHON" "$CK" "$MODULE" first-uninit) || why "no slot with an uninitialized token"
    echo "first slot with an uninitialized token: $uninit"
    "$PYTHON" "$CK" "$MODULE" init-token "$uninit" "$TOKEN_LABEL" "$SO_PIN" ||
        why "C_InitToken on slot $uninit failed"
    slot=$("$PYTHON" "$CK" "$MODULE" init-pin "$TOKEN_LABEL" "$SO_PIN" "$USER_PIN") ||
        why "token '$TOKEN_LABEL' not found after C_InitToken, or SO login / C_InitPIN failed"
    echo "token '$TOKEN_LABEL' is in slot $slot"
    printf '%s\n' "$slot" > "$W/.slot"
    "$PYTHON" "$CK" "$MODULE" slots
}
setup_token() {
    if check "setup: initialize token '$TOKEN_LABEL' in the first uninitialized slot" setup_token_step; then
        TOKEN_SLOT=$(cat "$W/.slot")
        export TOKEN_SLOT
    else
        fail "setup: suite aborted" "no token to run the remaining checks on"
        exit 0
    fi
}

# Every function defined so far (and later, by the suite, via export_all) must
# be visible to the child bash that runs a check.
export_all() {
    local f
    for f in $(compgen -A function); do
        export -f "${f?}"
    done
}

# pkcs11_tool_pubkey ID OUT.der: the public key with CKA_ID ID as SubjectPublicKeyInfo DER, read with
# the suite's p11t. pkcs11-tool 0.23's EC export frees the OpenSSL parameters it then builds the
# key from (a use-after-free valgrind shows in pkcs11-tool itself), so depending on the heap it
# fails with "cannot create EVP_PKEY"; then the SPKI is built from the CKA_EC_PARAMS and
# CKA_EC_POINT values pkcs11-tool lists.
pkcs11_tool_pubkey() {
    if ! p11t --read-object --type pubkey --id "$1" --output-file "$2"; then
        echo "read-object failed; building the SubjectPublicKeyInfo from --list-objects" >&2
        p11t --list-objects --type pubkey > pubobj
        local params point
        read -r params point < <(awk -v id="$1" '/^Public Key Object/ {p = ""; q = ""}
            $1 == "EC_POINT:" {q = $2} $1 == "EC_PARAMS:" {p = $2}
            $1 == "ID:" && $2 == id {print p, q; exit}' pubobj) || true
        if [ -z "$params" ] || [ -z "$point" ]; then why "no EC_PARAMS/EC_POINT listed for public key $1"; fi
        "$PYTHON" "$CK" ec-spki "$params" "$point" "$2"
    fi
}
