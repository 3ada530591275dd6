#!/usr/bin/env python3
"""Python suite, part 2: the raw C API through ctypes (lib/ck.py), for what
wrappers hide: two-call buffer sizing, exact CKR_ codes, session states,
C_Finalize/C_Initialize, multi-part sign/verify, and concurrent signing from
several threads (ctypes releases the GIL during calls).

usage: lowlevel_checks.py MODULE TOKEN_LABEL USER_PIN RESULTS
"""
import ctypes
import hashlib
import os
import sys
import threading
from ctypes import byref

import harness
from harness import Failure, ck, require
from ck import (CK_ULONG, CK_UNAVAILABLE_INFORMATION, Alloc, Mech, Template)

MODULE, LABEL, PIN, RESULTS = sys.argv[1:5]
R = harness.Results(RESULTS, "python")
S = {}
MSG = os.urandom(3000)
BOGUS = 0x7EADBEEF


def expect_rv(rv, want, what):
    if isinstance(want, int):
        want = (want,)
    require(rv in want, "%s returned %s, expected %s" % (what, ck.rvname(rv), "/".join(ck.rvname(w) for w in want)))


def setup():
    m = ck.Module(MODULE)
    m.initialize(os_locking=True)
    S["m"] = m
    S["slot"] = ck.slot_of(m, LABEL)
    # The keeper session holds the login while check sessions come and go.
    S["keeper"] = m.open(S["slot"], rw=False)
    s = m.open(S["slot"], rw=True)
    expect_rv(m.login(s, PIN), ck.CKR_OK, "C_Login(USER)")
    S["s"] = s
    info = m.info()
    require(info.cryptokiVersion.major in (2, 3), "cryptokiVersion %d.%d" % (
        info.cryptokiVersion.major, info.cryptokiVersion.minor))
    require(m.version[0] in (2, 3), "CK_FUNCTION_LIST version %r" % (m.version,))
    # keys used below: a token RSA key pair and a sensitive AES key
    pub, priv = m.generate_key_pair(
        s, ck.CKM_RSA_PKCS_KEY_PAIR_GEN,
        [(ck.CKA_TOKEN, True), (ck.CKA_MODULUS_BITS, 2048), (ck.CKA_PUBLIC_EXPONENT, b"\x01\x00\x01"),
         (ck.CKA_VERIFY, True), (ck.CKA_LABEL, "ll-rsa")],
        [(ck.CKA_TOKEN, True), (ck.CKA_PRIVATE, True), (ck.CKA_SENSITIVE, True), (ck.CKA_SIGN, True),
         (ck.CKA_LABEL, "ll-rsa")])
    S["pub"], S["priv"] = pub, priv
    S["aes"] = m.generate_key(s, ck.CKM_AES_KEY_GEN,
                              [(ck.CKA_CLASS, ck.CKO_SECRET_KEY), (ck.CKA_KEY_TYPE, ck.CKK_AES),
                               (ck.CKA_VALUE_LEN, 32), (ck.CKA_TOKEN, True), (ck.CKA_SENSITIVE, True),
                               (ck.CKA_EXTRACTABLE, False), (ck.CKA_ENCRYPT, True), (ck.CKA_DECRYPT, True),
                               (ck.CKA_LABEL, "ll-aes")])


def refind():
    """C_Logout invalidates the application's handles to private objects and
    destroys private session objects (v2.40 C_Logout), so the keys are token
    objects, looked up again after logging back in."""
    m, s = S["m"], S["s"]
    for name, tmpl in (("priv", [(ck.CKA_LABEL, "ll-rsa"), (ck.CKA_CLASS, ck.CKO_PRIVATE_KEY)]),
                       ("pub", [(ck.CKA_LABEL, "ll-rsa"), (ck.CKA_CLASS, ck.CKO_PUBLIC_KEY)]),
                       ("aes", [(ck.CKA_LABEL, "ll-aes")])):
        found = m.find(s, tmpl)
        require(len(found) == 1, "%s: found %d objects after re-login" % (name, len(found)))
        S[name] = found[0]


def already_initialized():
    expect_rv(S["m"].call("C_Initialize", None), ck.CKR_CRYPTOKI_ALREADY_INITIALIZED, "second C_Initialize")


def slot_list_sizing():
    m = S["m"]
    n = CK_ULONG(0)
    expect_rv(m.call("C_GetSlotList", 0, None, byref(n)), ck.CKR_OK, "C_GetSlotList(NULL)")
    total = n.value
    require(total >= 2, "only %d slots; expected the token's slot plus an uninitialized one" % total)
    arr = (CK_ULONG * total)()
    small = CK_ULONG(total - 1)
    expect_rv(m.call("C_GetSlotList", 0, arr, byref(small)), ck.CKR_BUFFER_TOO_SMALL,
              "C_GetSlotList with room for %d of %d slots" % (total - 1, total))
    require(small.value == total, "count after CKR_BUFFER_TOO_SMALL is %d, expected %d" % (small.value, total))
    n2 = CK_ULONG(total)
    expect_rv(m.call("C_GetSlotList", 0, arr, byref(n2)), ck.CKR_OK, "C_GetSlotList(full buffer)")
    require(S["slot"] in list(arr), "token slot not in the slot list")


def mechanism_list_sizing():
    m = S["m"]
    n = CK_ULONG(0)
    expect_rv(m.call("C_GetMechanismList", S["slot"], None, byref(n)), ck.CKR_OK, "C_GetMechanismList(NULL)")
    total = n.value
    require(total > 1, "%d mechanisms" % total)
    arr = (CK_ULONG * total)()
    small = CK_ULONG(1)
    expect_rv(m.call("C_GetMechanismList", S["slot"], arr, byref(small)), ck.CKR_BUFFER_TOO_SMALL,
              "C_GetMechanismList with room for 1")
    require(small.value == total, "count after CKR_BUFFER_TOO_SMALL is %d, expected %d" % (small.value, total))
    info = ck.CK_MECHANISM_INFO()
    expect_rv(m.call("C_GetMechanismInfo", S["slot"], ck.CKM_RSA_PKCS_KEY_PAIR_GEN, byref(info)), ck.CKR_OK,
              "C_GetMechanismInfo(RSA keygen)")
    require(info.ulMinKeySize <= 2048 <= info.ulMaxKeySize,
            "RSA keygen key sizes %d..%d exclude 2048" % (info.ulMinKeySize, info.ulMaxKeySize))
    expect_rv(m.call("C_GetMechanismInfo", S["slot"], 0x7FFFFFF0, byref(info)), ck.CKR_MECHANISM_INVALID,
              "C_GetMechanismInfo(unknown mechanism)")


def attribute_sizing():
    m, s, pub = S["m"], S["s"], S["pub"]
    t = Template([(ck.CKA_MODULUS, None)])
    expect_rv(m.call("C_GetAttributeValue", s, pub, t.ptr(), 1), ck.CKR_OK, "C_GetAttributeValue(pValue NULL)")
    require(t.array[0].ulValueLen == 256, "CKA_MODULUS length %d, expected 256" % t.array[0].ulValueLen)
    t = Template([(ck.CKA_MODULUS, Alloc(256))])
    expect_rv(m.call("C_GetAttributeValue", s, pub, t.ptr(), 1), ck.CKR_OK, "C_GetAttributeValue(exact buffer)")
    require(len(t.value(0)) == 256, "got %d bytes" % len(t.value(0)))
    t = Template([(ck.CKA_MODULUS, Alloc(100))])
    expect_rv(m.call("C_GetAttributeValue", s, pub, t.ptr(), 1), ck.CKR_BUFFER_TOO_SMALL,
              "C_GetAttributeValue(100-byte buffer for a 256-byte modulus)")


def attribute_too_small_len():
    m, s, pub = S["m"], S["s"], S["pub"]
    t = Template([(ck.CKA_MODULUS, Alloc(100))])
    m.call("C_GetAttributeValue", s, pub, t.ptr(), 1)
    got = t.array[0].ulValueLen
    require(got == CK_UNAVAILABLE_INFORMATION,
            "after CKR_BUFFER_TOO_SMALL ulValueLen is %d; v2.40 5.7 (C_GetAttributeValue case 5) "
            "requires CK_UNAVAILABLE_INFORMATION" % got)


def attribute_invalid_type():
    m, s, pub = S["m"], S["s"], S["pub"]
    t = Template([(ck.CKA_LABEL, Alloc(64)), (0x7FFFFF00, Alloc(16)), (ck.CKA_MODULUS, Alloc(256))])
    rv = m.call("C_GetAttributeValue", s, pub, t.ptr(), 3)
    expect_rv(rv, ck.CKR_ATTRIBUTE_TYPE_INVALID, "C_GetAttributeValue with an unknown attribute type")
    require(t.array[1].ulValueLen == CK_UNAVAILABLE_INFORMATION,
            "unknown attribute's ulValueLen is %d, expected CK_UNAVAILABLE_INFORMATION" % t.array[1].ulValueLen)
    require(t.value(0) == b"ll-rsa", "valid attribute CKA_LABEL not filled in alongside the invalid one: %r" % t.value(0))
    require(t.value(2) is not None and len(t.value(2)) == 256, "CKA_MODULUS not filled in alongside the invalid one")


def attribute_sensitive():
    m, s = S["m"], S["s"]
    t = Template([(ck.CKA_VALUE, Alloc(64))])
    rv = m.call("C_GetAttributeValue", s, S["aes"], t.ptr(), 1)
    expect_rv(rv, ck.CKR_ATTRIBUTE_SENSITIVE, "C_GetAttributeValue(CKA_VALUE) of a sensitive AES key")
    require(t.array[0].ulValueLen == CK_UNAVAILABLE_INFORMATION,
            "ulValueLen %d, expected CK_UNAVAILABLE_INFORMATION" % t.array[0].ulValueLen)
    t = Template([(ck.CKA_VALUE, None)])
    rv = m.call("C_GetAttributeValue", s, S["aes"], t.ptr(), 1)
    expect_rv(rv, ck.CKR_ATTRIBUTE_SENSITIVE, "C_GetAttributeValue(CKA_VALUE, NULL) of a sensitive AES key")
    t = Template([(ck.CKA_PRIVATE_EXPONENT, None)])
    rv = m.call("C_GetAttributeValue", s, S["priv"], t.ptr(), 1)
    expect_rv(rv, ck.CKR_ATTRIBUTE_SENSITIVE, "C_GetAttributeValue(CKA_PRIVATE_EXPONENT) of a sensitive RSA key")


def sign_sizing():
    m, s = S["m"], S["s"]
    mech = Mech(ck.CKM_SHA256_RSA_PKCS)
    expect_rv(m.call("C_SignInit", s, mech.ref(), S["priv"]), ck.CKR_OK, "C_SignInit")
    n = CK_ULONG(0)
    expect_rv(m.call("C_Sign", s, MSG, len(MSG), None, byref(n)), ck.CKR_OK, "C_Sign(NULL) length query")
    require(n.value == 256, "C_Sign length query says %d, expected 256" % n.value)
    small = ctypes.create_string_buffer(10)
    n = CK_ULONG(10)
    expect_rv(m.call("C_Sign", s, MSG, len(MSG), small, byref(n)), ck.CKR_BUFFER_TOO_SMALL, "C_Sign(10-byte buffer)")
    require(n.value == 256, "length after CKR_BUFFER_TOO_SMALL is %d, expected 256" % n.value)
    buf = ctypes.create_string_buffer(256)
    n = CK_ULONG(256)
    expect_rv(m.call("C_Sign", s, MSG, len(MSG), buf, byref(n)), ck.CKR_OK,
              "C_Sign after CKR_BUFFER_TOO_SMALL (operation must stay active)")
    sig = buf.raw[:n.value]
    require(m.verify(s, Mech(ck.CKM_SHA256_RSA_PKCS), S["pub"], MSG, sig) == ck.CKR_OK, "C_Verify failed")
    # the operation is finished now
    expect_rv(m.call("C_Sign", s, MSG, len(MSG), buf, byref(n)), ck.CKR_OPERATION_NOT_INITIALIZED,
              "C_Sign after a completed signature")
    S["sig"] = sig


def sign_multipart():
    m, s = S["m"], S["s"]
    mech = Mech(ck.CKM_SHA256_RSA_PKCS)
    m.ok("C_SignInit", s, mech.ref(), S["priv"])
    for i in range(0, len(MSG), 1000):
        chunk = MSG[i:i + 1000]
        m.ok("C_SignUpdate", s, chunk, len(chunk))
    n = CK_ULONG(0)
    m.ok("C_SignFinal", s, None, byref(n))
    buf = ctypes.create_string_buffer(n.value)
    m.ok("C_SignFinal", s, buf, byref(n))
    sig = buf.raw[:n.value]
    require(sig == S["sig"], "multi-part signature differs from single-part (PKCS#1 v1.5 is deterministic)")
    m.ok("C_VerifyInit", s, Mech(ck.CKM_SHA256_RSA_PKCS).ref(), S["pub"])
    for i in range(0, len(MSG), 700):
        chunk = MSG[i:i + 700]
        m.ok("C_VerifyUpdate", s, chunk, len(chunk))
    expect_rv(m.call("C_VerifyFinal", s, sig, len(sig)), ck.CKR_OK, "C_VerifyFinal")
    pem = harness.rsa_pub_pem(m.get_attr(s, S["pub"], ck.CKA_MODULUS), m.get_attr(s, S["pub"], ck.CKA_PUBLIC_EXPONENT))
    harness.openssl_verify(pem, MSG, sig)


def digest_multipart_lowlevel():
    m, s = S["m"], S["s"]
    m.ok("C_DigestInit", s, Mech(ck.CKM_SHA512).ref())
    for i in range(0, len(MSG), 333):
        chunk = MSG[i:i + 333]
        m.ok("C_DigestUpdate", s, chunk, len(chunk))
    n = CK_ULONG(0)
    m.ok("C_DigestFinal", s, None, byref(n))
    require(n.value == 64, "SHA-512 length query %d" % n.value)
    buf = ctypes.create_string_buffer(64)
    m.ok("C_DigestFinal", s, buf, byref(n))
    require(buf.raw == hashlib.sha512(MSG).digest(), "multi-part SHA-512 differs from hashlib")


def bad_signature():
    bad = bytearray(S["sig"])
    bad[-1] ^= 1
    rv = S["m"].verify(S["s"], Mech(ck.CKM_SHA256_RSA_PKCS), S["pub"], MSG, bytes(bad))
    expect_rv(rv, ck.CKR_SIGNATURE_INVALID, "C_Verify of a corrupted signature")


def invalid_session():
    info = ck.CK_SESSION_INFO()
    expect_rv(S["m"].call("C_GetSessionInfo", BOGUS, byref(info)), ck.CKR_SESSION_HANDLE_INVALID,
              "C_GetSessionInfo(bogus handle)")
    expect_rv(S["m"].call("C_CloseSession", BOGUS), ck.CKR_SESSION_HANDLE_INVALID, "C_CloseSession(bogus handle)")


def invalid_object():
    t = Template([(ck.CKA_LABEL, None)])
    expect_rv(S["m"].call("C_GetAttributeValue", S["s"], BOGUS, t.ptr(), 1), ck.CKR_OBJECT_HANDLE_INVALID,
              "C_GetAttributeValue(bogus object handle)")
    expect_rv(S["m"].call("C_DestroyObject", S["s"], BOGUS), ck.CKR_OBJECT_HANDLE_INVALID,
              "C_DestroyObject(bogus object handle)")


def invalid_key_handle():
    expect_rv(S["m"].call("C_SignInit", S["s"], Mech(ck.CKM_SHA256_RSA_PKCS).ref(), BOGUS),
              (ck.CKR_KEY_HANDLE_INVALID, ck.CKR_OBJECT_HANDLE_INVALID), "C_SignInit(bogus key handle)")


def invalid_slot():
    si = ck.CK_SLOT_INFO()
    expect_rv(S["m"].call("C_GetSlotInfo", BOGUS, byref(si)), ck.CKR_SLOT_ID_INVALID, "C_GetSlotInfo(bogus slot)")
    h = CK_ULONG(0)
    expect_rv(S["m"].call("C_OpenSession", BOGUS, ck.CKF_SERIAL_SESSION, None, None, byref(h)),
              ck.CKR_SLOT_ID_INVALID, "C_OpenSession(bogus slot)")


def wrong_pin():
    m = S["m"]
    m.ok("C_Logout", S["s"])
    try:
        expect_rv(m.login(S["s"], "99999999"), ck.CKR_PIN_INCORRECT, "C_Login(wrong PIN)")
    finally:
        expect_rv(m.login(S["s"], PIN), ck.CKR_OK, "C_Login(correct PIN) after a wrong one")
        refind()


def already_logged_in():
    expect_rv(S["m"].login(S["s"], PIN), ck.CKR_USER_ALREADY_LOGGED_IN, "second C_Login(USER)")


def operation_state_errors():
    m, s = S["m"], S["s"]
    n = CK_ULONG(0)
    expect_rv(m.call("C_Sign", s, MSG, len(MSG), None, byref(n)), ck.CKR_OPERATION_NOT_INITIALIZED,
              "C_Sign without C_SignInit")
    m.ok("C_SignInit", s, Mech(ck.CKM_SHA256_RSA_PKCS).ref(), S["priv"])
    expect_rv(m.call("C_SignInit", s, Mech(ck.CKM_SHA256_RSA_PKCS).ref(), S["priv"]), ck.CKR_OPERATION_ACTIVE,
              "second C_SignInit")
    # finish the active operation
    buf = ctypes.create_string_buffer(512)
    n = CK_ULONG(512)
    m.ok("C_Sign", s, MSG, len(MSG), buf, byref(n))


def mechanism_invalid():
    expect_rv(S["m"].call("C_DigestInit", S["s"], Mech(0x7FFFFFF0).ref()), ck.CKR_MECHANISM_INVALID,
              "C_DigestInit(unassigned mechanism 0x7FFFFFF0)")


def key_misuse():
    rv = S["m"].call("C_SignInit", S["s"], Mech(ck.CKM_SHA256_RSA_PKCS).ref(), S["aes"])
    expect_rv(rv, (ck.CKR_KEY_TYPE_INCONSISTENT, ck.CKR_KEY_FUNCTION_NOT_PERMITTED),
              "C_SignInit(RSA mechanism, AES key)")


def template_errors():
    m, s = S["m"], S["s"]
    h = CK_ULONG(0)
    t = Template([(ck.CKA_CLASS, ck.CKO_SECRET_KEY), (ck.CKA_KEY_TYPE, ck.CKK_AES), (ck.CKA_TOKEN, False)])
    expect_rv(m.call("C_CreateObject", s, t.ptr(), len(t), byref(h)), ck.CKR_TEMPLATE_INCOMPLETE,
              "C_CreateObject(AES key without CKA_VALUE)")
    t = Template([(ck.CKA_CLASS, ck.CKO_SECRET_KEY), (ck.CKA_KEY_TYPE, ck.CKK_AES), (ck.CKA_TOKEN, False),
                  (ck.CKA_VALUE, b"\x00" * 7)])
    expect_rv(m.call("C_CreateObject", s, t.ptr(), len(t), byref(h)),
              (ck.CKR_ATTRIBUTE_VALUE_INVALID, ck.CKR_TEMPLATE_INCONSISTENT, ck.CKR_KEY_SIZE_RANGE),
              "C_CreateObject(AES key of 7 bytes)")


def read_only_session():
    m = S["m"]
    ro = m.open(S["slot"], rw=False)
    try:
        h = CK_ULONG(0)
        t = Template([(ck.CKA_CLASS, ck.CKO_DATA), (ck.CKA_TOKEN, True), (ck.CKA_LABEL, "ll-ro"), (ck.CKA_VALUE, b"x")])
        expect_rv(m.call("C_CreateObject", ro, t.ptr(), len(t), byref(h)), ck.CKR_SESSION_READ_ONLY,
                  "C_CreateObject(token object) in a read-only session")
        info = m.session_info(ro)
        require(info.state == ck.CKS_RO_USER_FUNCTIONS, "RO session state %d, expected CKS_RO_USER_FUNCTIONS" % info.state)
        require(not info.flags & ck.CKF_RW_SESSION, "RO session has CKF_RW_SESSION")
    finally:
        m.call("C_CloseSession", ro)


def session_states():
    m, s = S["m"], S["s"]
    info = m.session_info(s)
    require(info.slotID == S["slot"], "session slotID %d, expected %d" % (info.slotID, S["slot"]))
    require(info.state == ck.CKS_RW_USER_FUNCTIONS, "logged-in RW state %d, expected CKS_RW_USER_FUNCTIONS" % info.state)
    m.ok("C_Logout", s)
    try:
        info = m.session_info(s)
        require(info.state == ck.CKS_RW_PUBLIC_SESSION, "logged-out RW state %d, expected CKS_RW_PUBLIC_SESSION" % info.state)
        n = len(m.find(s, [(ck.CKA_CLASS, ck.CKO_PRIVATE_KEY)]))
        require(n == 0, "%d private keys visible after C_Logout" % n)
        t = Template([(ck.CKA_LABEL, None)])
        expect_rv(m.call("C_GetAttributeValue", s, S["priv"], t.ptr(), 1), ck.CKR_OBJECT_HANDLE_INVALID,
                  "C_GetAttributeValue(private key handle) after C_Logout")
    finally:
        expect_rv(m.login(s, PIN), ck.CKR_OK, "C_Login")
        refind()


def logout_not_logged_in():
    m, s = S["m"], S["s"]
    m.ok("C_Logout", s)
    try:
        expect_rv(m.call("C_Logout", s), ck.CKR_USER_NOT_LOGGED_IN, "C_Logout when not logged in")
    finally:
        expect_rv(m.login(s, PIN), ck.CKR_OK, "C_Login")
        refind()


def encrypt_partial_blocks():
    m, s = S["m"], S["s"]
    key_v, iv = os.urandom(32), os.urandom(16)
    key = m.create(s, [(ck.CKA_CLASS, ck.CKO_SECRET_KEY), (ck.CKA_KEY_TYPE, ck.CKK_AES), (ck.CKA_TOKEN, False),
                       (ck.CKA_VALUE, key_v), (ck.CKA_ENCRYPT, True), (ck.CKA_DECRYPT, True)])
    pt = os.urandom(1001)
    mech = Mech(ck.CKM_AES_CBC_PAD, iv)

    def run(init, update, final, data, pieces):
        m.ok(init, s, mech.ref(), key)
        out, pos = b"", 0
        for size in pieces + [len(data)]:
            chunk = data[pos:pos + size]
            pos += len(chunk)
            buf = ctypes.create_string_buffer(len(chunk) + 32)
            n = CK_ULONG(len(chunk) + 32)
            m.ok(update, s, chunk, len(chunk), buf, byref(n))
            require(n.value <= len(chunk) + 16, "%s produced %d bytes for %d" % (update, n.value, len(chunk)))
            out += buf.raw[:n.value]
        buf = ctypes.create_string_buffer(64)
        n = CK_ULONG(64)
        m.ok(final, s, buf, byref(n))
        return out + buf.raw[:n.value]

    ct = run("C_EncryptInit", "C_EncryptUpdate", "C_EncryptFinal", pt, [5, 1, 10, 300, 3])
    expect = harness.openssl("enc", "-aes-256-cbc", "-K", key_v.hex(), "-iv", iv.hex(),
                             "-in", harness.tmp().write("pb.in", pt))
    require(ct == expect, "AES-CBC-PAD with 5/1/10/300/3-byte updates differs from openssl")
    back = run("C_DecryptInit", "C_DecryptUpdate", "C_DecryptFinal", ct, [7, 9, 16, 1, 500])
    require(back == pt, "multi-part decryption with partial blocks differs from the plaintext")


def persisted_from_other_process():
    m, s = S["m"], S["s"]
    path = os.path.join(os.environ["W"], "py-data.value")
    require(os.path.exists(path), "the PyKCS11 part did not create its data object")
    found = m.find(s, [(ck.CKA_LABEL, "py-data-renamed")])
    require(len(found) == 1, "token data object made by the PyKCS11 process: found %d" % len(found))
    with open(path, "rb") as f:
        require(m.get_attr(s, found[0], ck.CKA_VALUE) == f.read(), "persisted CKA_VALUE differs")


def random_bytes():
    a, b = S["m"].random(S["s"], 1000), S["m"].random(S["s"], 1000)
    require(len(a) == 1000 and a != b, "C_GenerateRandom outputs are equal")
    require(len(set(a)) > 200, "1000 random bytes contain only %d distinct values" % len(set(a)))


def threads():
    m, slot = S["m"], S["slot"]
    errors = []
    sigs = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)
    pub = S["pub"]
    priv = S["priv"]

    def worker(idx):
        try:
            sess = m.open(slot, rw=False)
            barrier.wait(timeout=60)
            local = []
            for i in range(20):
                sig = m.sign(sess, Mech(ck.CKM_SHA256_RSA_PKCS), priv, MSG)
                rv = m.verify(sess, Mech(ck.CKM_SHA256_RSA_PKCS), pub, MSG, sig)
                if rv != ck.CKR_OK:
                    raise Failure("thread %d: C_Verify %s" % (idx, ck.rvname(rv)))
                local.append(sig)
                if idx % 2:
                    d = m.digest(sess, Mech(ck.CKM_SHA256), MSG[:i + 1])
                    if d != hashlib.sha256(MSG[:i + 1]).digest():
                        raise Failure("thread %d: digest mismatch" % idx)
            m.ok("C_CloseSession", sess)
            with lock:
                sigs.extend(local)
        except Exception as e:  # noqa: BLE001
            with lock:
                errors.append("thread %d: %s" % (idx, e))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=240)
    require(not any(t.is_alive() for t in ts), "a signing thread hung")
    require(not errors, "; ".join(errors))
    require(len(sigs) == 80, "%d signatures, expected 80" % len(sigs))
    require(all(x == S["sig"] for x in sigs), "concurrent PKCS#1 v1.5 signatures of one message differ")


def close_all_sessions():
    m = S["m"]
    extra = m.open(S["slot"], rw=False)
    m.ok("C_CloseAllSessions", S["slot"])
    info = ck.CK_SESSION_INFO()
    expect_rv(m.call("C_GetSessionInfo", extra, byref(info)), ck.CKR_SESSION_HANDLE_INVALID,
              "C_GetSessionInfo after C_CloseAllSessions")


def finalize_reinit():
    m = S["m"]
    S["finalized"] = True
    m.finalize()
    n = CK_ULONG(0)
    expect_rv(m.call("C_GetSlotList", 0, None, byref(n)), ck.CKR_CRYPTOKI_NOT_INITIALIZED,
              "C_GetSlotList after C_Finalize")
    m.initialize(os_locking=False)
    slot = ck.slot_of(m, LABEL)
    s = m.open(slot, rw=False)
    expect_rv(m.login(s, PIN), ck.CKR_OK, "C_Login after re-initialize")
    found = m.find(s, [(ck.CKA_LABEL, "ll-rsa"), (ck.CKA_CLASS, ck.CKO_PRIVATE_KEY)])
    require(len(found) == 1, "token key not found after C_Finalize/C_Initialize (%d)" % len(found))
    m.ok("C_Logout", s)
    m.finalize()


def fresh_session():
    """Give every check a new session, so an operation left active by a
    failed check cannot spill into the next one."""
    m = S["m"]
    if S.get("finalized"):
        return
    try:
        m.call("C_CloseSession", S["s"])
        S["s"] = m.open(S["slot"], rw=True)
        rv = m.login(S["s"], PIN)
        if rv not in (ck.CKR_OK, ck.CKR_USER_ALREADY_LOGGED_IN):
            raise ck.P11Error("C_Login", rv)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("    could not open a fresh session: %s\n" % e)


def check(name, fn):
    R.check(name, fn)
    fresh_session()


def main():
    if not R.check("ctypes: C_GetFunctionList, C_Initialize(OS locking), token keys", setup):
        R.done()
        return
    check("second C_Initialize gives CKR_CRYPTOKI_ALREADY_INITIALIZED", already_initialized)
    check("C_GetSlotList two-call sizing and CKR_BUFFER_TOO_SMALL", slot_list_sizing)
    check("C_GetMechanismList sizing, C_GetMechanismInfo", mechanism_list_sizing)
    check("C_GetAttributeValue: NULL size query, exact buffer, CKR_BUFFER_TOO_SMALL", attribute_sizing)
    check("C_GetAttributeValue: too-small buffer sets CK_UNAVAILABLE_INFORMATION", attribute_too_small_len)
    check("C_GetAttributeValue: unknown type gives CKR_ATTRIBUTE_TYPE_INVALID, others filled", attribute_invalid_type)
    check("C_GetAttributeValue: sensitive values give CKR_ATTRIBUTE_SENSITIVE", attribute_sensitive)
    check("C_Sign: length query, CKR_BUFFER_TOO_SMALL keeps the operation", sign_sizing)
    check("C_SignUpdate/Final == C_Sign, C_VerifyUpdate/Final, openssl verifies", sign_multipart)
    check("C_DigestUpdate/Final SHA-512 == hashlib", digest_multipart_lowlevel)
    check("corrupted signature gives CKR_SIGNATURE_INVALID", bad_signature)
    check("invalid session handle gives CKR_SESSION_HANDLE_INVALID", invalid_session)
    check("invalid object handle gives CKR_OBJECT_HANDLE_INVALID", invalid_object)
    check("invalid key handle gives CKR_KEY_HANDLE_INVALID", invalid_key_handle)
    check("invalid slot id gives CKR_SLOT_ID_INVALID", invalid_slot)
    check("wrong PIN gives CKR_PIN_INCORRECT", wrong_pin)
    check("second login gives CKR_USER_ALREADY_LOGGED_IN", already_logged_in)
    check("CKR_OPERATION_NOT_INITIALIZED / CKR_OPERATION_ACTIVE", operation_state_errors)
    check("unknown mechanism gives CKR_MECHANISM_INVALID", mechanism_invalid)
    check("RSA mechanism with an AES key is refused", key_misuse)
    check("C_CreateObject: CKR_TEMPLATE_INCOMPLETE, bad AES key length refused", template_errors)
    check("read-only session: CKR_SESSION_READ_ONLY, CKS_RO_USER_FUNCTIONS", read_only_session)
    check("session states across C_Login/C_Logout, handles invalid after logout", session_states)
    check("C_Logout when not logged in gives CKR_USER_NOT_LOGGED_IN", logout_not_logged_in)
    check("C_EncryptUpdate/C_DecryptUpdate with partial blocks == openssl", encrypt_partial_blocks)
    check("token objects persist across processes", persisted_from_other_process)
    check("C_GenerateRandom", random_bytes)
    check("4 threads x 20 sign/verify in their own sessions", threads)
    check("C_CloseAllSessions invalidates sessions", close_all_sessions)
    check("first initialized token offering CKM_EC_KEY_PAIR_GEN is a login token, makes a private token key",
          first_keygen_slot_is_login_token)
    check("CKA_ALLOWED_MECHANISMS unset reads as an empty list (length 0), key unrestricted",
          allowed_mechanisms_unset_reads_empty)
    check("C_Finalize, CKR_CRYPTOKI_NOT_INITIALIZED, re-initialize finds token keys", finalize_reinit)
    R.done()


# ------------------------------------------------------------ generic clients
CKA_ALLOWED_MECHANISMS = 0x40000600
P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")


def first_keygen_slot_is_login_token():
    """OpenSSL 3's pkcs11-provider, given a URI without a token, generates keys on the first
    initialized token in C_GetSlotList order that offers the mechanism, and logs in only if the
    token says CKF_LOGIN_REQUIRED. That token must take a CKA_TOKEN/CKA_PRIVATE key."""
    m = S["m"]
    chosen = None
    for slot in m.slots(present=True):
        if not m.token_info(slot).flags & ck.CKF_TOKEN_INITIALIZED:
            continue
        if ck.CKM_EC_KEY_PAIR_GEN in m.mechanisms(slot):
            chosen = slot
            break
    require(chosen is not None, "no initialized token offers CKM_EC_KEY_PAIR_GEN")
    info = m.token_info(chosen)
    require(info.flags & ck.CKF_LOGIN_REQUIRED,
            "the first token offering CKM_EC_KEY_PAIR_GEN (slot %d, %r) has no CKF_LOGIN_REQUIRED: a generic "
            "client does not log in there and cannot make private keys" % (chosen, ck.fixed(info.label)))
    s = m.open(chosen, rw=True)
    try:
        expect_rv(m.login(s, PIN), (ck.CKR_OK, ck.CKR_USER_ALREADY_LOGGED_IN), "C_Login(USER) on slot %d" % chosen)
        pub, priv = m.generate_key_pair(
            s, ck.CKM_EC_KEY_PAIR_GEN,
            [(ck.CKA_EC_PARAMS, P256_PARAMS), (ck.CKA_TOKEN, True), (ck.CKA_VERIFY, True)],
            [(ck.CKA_TOKEN, True), (ck.CKA_PRIVATE, True), (ck.CKA_SIGN, True)])
        require(m.get_attr(s, priv, ck.CKA_PRIVATE) == b"\x01", "CKA_PRIVATE of the generated key is not true")
        m.ok("C_DestroyObject", s, priv)
        m.ok("C_DestroyObject", s, pub)
    finally:
        m.call("C_CloseSession", s)


def allowed_mechanisms_unset_reads_empty():
    """SoftHSMv2's convention: an unset CKA_ALLOWED_MECHANISMS is an empty array, which means no
    restriction (CKR_ATTRIBUTE_TYPE_INVALID would tell the client the token lacks the attribute)."""
    m, s = S["m"], S["s"]
    pub, priv = m.generate_key_pair(
        s, ck.CKM_EC_KEY_PAIR_GEN,
        [(ck.CKA_EC_PARAMS, P256_PARAMS), (ck.CKA_VERIFY, True)],
        [(ck.CKA_SIGN, True)])
    for name, obj in (("private", priv), ("public", pub)):
        t = Template([(CKA_ALLOWED_MECHANISMS, None)])
        expect_rv(m.call("C_GetAttributeValue", s, obj, t.ptr(), 1), ck.CKR_OK,
                  "C_GetAttributeValue(CKA_ALLOWED_MECHANISMS, NULL) on the %s key" % name)
        require(t.array[0].ulValueLen == 0, "CKA_ALLOWED_MECHANISMS of the %s key has length %d, expected 0"
                % (name, t.array[0].ulValueLen))
        t = Template([(CKA_ALLOWED_MECHANISMS, Alloc(64))])
        expect_rv(m.call("C_GetAttributeValue", s, obj, t.ptr(), 1), ck.CKR_OK,
                  "C_GetAttributeValue(CKA_ALLOWED_MECHANISMS, 64-byte buffer) on the %s key" % name)
        require(t.array[0].ulValueLen == 0, "read gave length %d" % t.array[0].ulValueLen)
    sig = m.sign(s, Mech(ck.CKM_ECDSA), priv, hashlib.sha256(MSG).digest())
    expect_rv(m.verify(s, Mech(ck.CKM_ECDSA), pub, hashlib.sha256(MSG).digest(), sig), ck.CKR_OK,
              "C_Verify with the unrestricted key")


if __name__ == "__main__":
    main()
