#!/usr/bin/env python3
"""Soak: several processes create, modify, destroy and find token objects and sign through the
built libshieldhsm.so, while the driver kills them with SIGKILL at random moments. Afterwards a
fresh process checks every acknowledged write: nothing lost, nothing resurrected, the store opens
clean. Driven by tests/soak.sh; the last line is `soak: K kills, W acknowledged, L lost,
R resurrected`.

Each worker journals `BEGIN op label value` before a call and `ACK op label value` after CKR_OK
(flushed, so a SIGKILL loses nothing of the journal but the in-flight call, whose outcome is then
either)."""
import os, random, signal, subprocess, sys, tempfile, time

import PyKCS11 as P
from PyKCS11.LowLevel import (CKA_CLASS, CKA_LABEL, CKA_PRIVATE, CKA_TOKEN, CKA_VALUE, CKA_APPLICATION,
                              CKF_RW_SESSION, CKF_SERIAL_SESSION, CKF_TOKEN_INITIALIZED, CKM_EC_KEY_PAIR_GEN,
                              CKM_ECDSA, CKO_DATA, CKA_EC_PARAMS, CKA_SIGN, CKO_PRIVATE_KEY)

SO_PIN, USER_PIN, LABEL = "5678-so", "1234-user", "soak"
P256 = bytes.fromhex("06082a8648ce3d030107")


def open_session(module):
    lib = P.PyKCS11Lib()
    lib.load(module)
    slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.startswith(LABEL))
    s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    s.login(USER_PIN)
    return lib, s


def setup(module):
    lib = P.PyKCS11Lib()
    lib.load(module)
    free = next(s for s in lib.getSlotList() if not lib.getTokenInfo(s).flags & CKF_TOKEN_INITIALIZED)
    lib.initToken(free, SO_PIN, LABEL)
    slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.startswith(LABEL))
    s = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    s.login(SO_PIN, P.CKU_SO)
    s.initPin(USER_PIN)
    s.logout()
    s.login(USER_PIN)
    s.generateKeyPair([(CKA_TOKEN, True), (CKA_EC_PARAMS, P256)],
                      [(CKA_TOKEN, True), (CKA_SIGN, True), (CKA_LABEL, "signer")],
                      P.Mechanism(CKM_EC_KEY_PAIR_GEN))


def objects(s, label=None):
    t = [(CKA_CLASS, CKO_DATA), (CKA_APPLICATION, "soak")]
    if label is not None:
        t.append((CKA_LABEL, label))
    return s.findObjects(t)


def worker(module, wid, journal):
    _, s = open_session(module)
    signer = s.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_LABEL, "signer")])[0]
    rng = random.Random(os.getpid())
    mine = {}  # label -> handle (this process)
    n = 0
    with open(journal, "a", buffering=1) as j:
        while True:
            n += 1
            op = rng.choice(["create", "create", "set", "destroy", "find", "sign"])
            if op == "create" or not mine:
                label = f"w{wid}-{os.getpid()}-{n}"
                value = os.urandom(8).hex()
                j.write(f"BEGIN create {label} {value}\n")
                h = s.createObject([(CKA_CLASS, CKO_DATA), (CKA_TOKEN, True), (CKA_PRIVATE, True),
                                    (CKA_APPLICATION, "soak"), (CKA_LABEL, label),
                                    (CKA_VALUE, value.encode())])
                mine[label] = h
                j.write(f"ACK create {label} {value}\n")
            elif op == "set":
                label = rng.choice(list(mine))
                value = os.urandom(8).hex()
                j.write(f"BEGIN set {label} {value}\n")
                s.setAttributeValue(mine[label], [(CKA_VALUE, value.encode())])
                j.write(f"ACK set {label} {value}\n")
            elif op == "destroy":
                label = rng.choice(list(mine))
                j.write(f"BEGIN destroy {label} -\n")
                s.destroyObject(mine.pop(label))
                j.write(f"ACK destroy {label} -\n")
            elif op == "find":
                objects(s)
            else:
                s.sign(signer, os.urandom(32), P.Mechanism(CKM_ECDSA))


def check(module, journals):
    """Every label's fate from the journals, against what a fresh process finds."""
    state = {}  # label -> (acked value or None for destroyed, in-flight (op, value) or None)
    acked = 0
    for path in journals:
        for line in open(path):
            parts = line.split()
            if len(parts) != 4:
                continue  # a torn last line of a killed writer
            kind, op, label, value = parts
            acked_value, _ = state.get(label, (None, None))
            if kind == "BEGIN":
                state[label] = (acked_value, (op, value))
            else:
                acked += 1
                state[label] = (None if op == "destroy" else value, None)
    _, s = open_session(module)
    found = {}
    for h in objects(s):
        a = s.getAttributeValue(h, [CKA_LABEL, CKA_VALUE])
        text = lambda v: v if isinstance(v, str) else bytes(v).decode()
        found[text(a[0])] = text(a[1])
    lost = resurrected = 0
    for label, (value, inflight) in state.items():
        now = found.get(label)
        allowed = {value}
        if inflight:
            allowed.add(None if inflight[0] == "destroy" else inflight[1])
        if now in allowed:
            continue
        if now is None:
            lost += 1
            print(f"LOST {label}: expected {value}, in flight {inflight}", file=sys.stderr)
        elif value is None and (not inflight or inflight[0] == "destroy"):
            resurrected += 1
            print(f"RESURRECTED {label}: {now}", file=sys.stderr)
        else:
            lost += 1
            print(f"WRONG {label}: {now}, expected {value} or {inflight}", file=sys.stderr)
    for label in found:
        if label not in state:
            resurrected += 1
            print(f"UNKNOWN {label}", file=sys.stderr)
    return acked, lost, resurrected


def main():
    module, kills = sys.argv[1], int(sys.argv[2])
    workers = int(os.environ.get("SOAK_WORKERS", "3"))
    with tempfile.TemporaryDirectory() as d:
        os.environ["SHIELDHSM_KMDATA"] = os.path.join(d, "kmdata")
        setup(module)
        journals = [os.path.join(d, f"journal-{i}") for i in range(workers)]
        spawn = lambda i: subprocess.Popen([sys.executable, __file__, "--worker", module, str(i), journals[i]])
        procs = [spawn(i) for i in range(workers)]
        rng = random.Random(int(os.environ.get("SOAK_SEED", "9")))
        for _ in range(kills):
            time.sleep(rng.uniform(0.05, 0.4))
            i = rng.randrange(workers)
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
            procs[i] = spawn(i)
        time.sleep(0.3)
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
        acked, lost, resurrected = check(module, journals)
        print(f"soak: {kills} kills, {acked} acknowledged, {lost} lost, {resurrected} resurrected")
        sys.exit(1 if lost or resurrected or acked == 0 else 0)


if __name__ == "__main__":
    if sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        main()
