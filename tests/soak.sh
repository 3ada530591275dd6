#!/usr/bin/env bash
# Soak: tests/soak.sh KILLS [MODULE.so]. Several processes create, modify, destroy, find and sign
# against one data directory while they are SIGKILLed KILLS times at random moments; then every
# acknowledged write is checked. Last line: `soak: K kills, W acknowledged, L lost, R resurrected`.
# Needs python3 with PyKCS11 (pkcs11-conformance/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-50}"
module="${2:-target/release/libshieldhsm.so}"
[[ -f "$module" ]] || cargo build --release
exec python3 tests/soak.py "$module" "$kills"
