#!/usr/bin/env bash
# Suite "python": PyKCS11 (python/pykcs11_checks.py) and the raw C API via
# ctypes (python/lowlevel_checks.py). Both record their own checks.
# shellcheck source=../lib/common.sh
. "$CONF_HOME/lib/common.sh"

need_cmd openssl openssl

pykcs11_available() {
    if "$PYTHON" -c 'import PyKCS11' 2> /dev/null; then
        return 0
    fi
    if [ "${CONFORMANCE_NO_PIP:-0}" = 1 ]; then
        why "PyKCS11 is not installed for $PYTHON (pip install -r pkcs11-conformance/requirements.txt)"
    fi
    echo "PyKCS11 missing: pip install -r $CONF_HOME/requirements.txt"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -r "$CONF_HOME/requirements.txt" ||
        why "pip install -r requirements.txt failed"
    "$PYTHON" -c 'import PyKCS11' || why "PyKCS11 still not importable after pip install"
}

mechanism_list() {
    "$PYTHON" "$CK" "$MODULE" mechs "$TOKEN_LABEL" > "$W/mechs.txt"
    wc -l < "$W/mechs.txt"
    [ -s "$W/mechs.txt" ] || why "C_GetMechanismList returned nothing"
}

export_all

setup_token
check "setup: C_GetMechanismList of the token" mechanism_list

# run_part SCRIPT: run one of the python programs; they append PASS/FAIL lines
# to $RESULTS and finish with a DONE line.
run_part() {
    local script=$1 rc=0 before
    before=$(grep -c '^DONE' "$RESULTS" || true)
    (cd "$W" && timeout -k 10 $((CHECK_TIMEOUT * 3)) "$PYTHON" "$CONF_HOME/python/$script" \
        "$MODULE" "$TOKEN_LABEL" "$USER_PIN" "$RESULTS") \
        > "$SUITE_DIR/logs/$script.log" 2>&1 < /dev/null || rc=$?
    cat "$SUITE_DIR/logs/$script.log" >&2
    if [ "$(grep -c '^DONE' "$RESULTS" || true)" -gt "$before" ]; then
        [ "$rc" -eq 0 ] || fail "$script exit status" "exited with status $rc after completing its checks"
    else
        fail "$script completed" "exited with status $rc before finishing (see output above)"
    fi
    sed -i '/^DONE/d' "$RESULTS"
}

if check "setup: PyKCS11 importable" pykcs11_available; then
    run_part pykcs11_checks.py
fi
run_part lowlevel_checks.py
exit 0
