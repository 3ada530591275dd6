#!/usr/bin/env python3
"""Minimal ctypes binding of the PKCS#11 v2.40 C API (no third-party deps).

Used by the runner to locate the uninitialized slot, to initialize tokens and
to find a token's slot by label, and by the python suite for low-level checks
that wrappers such as PyKCS11 hide (two-call buffer sizing, exact CKR_ codes,
concurrent calls that release the GIL).

CLI (all output on stdout, errors on stderr, non-zero exit on failure):
  ck.py MODULE slots                 one line per slot: id, present, initialized, label
  ck.py MODULE first-uninit          id of the first slot whose token is present
                                     and lacks CKF_TOKEN_INITIALIZED
  ck.py MODULE slot-of LABEL         id of the single initialized token labelled LABEL
  ck.py MODULE mechs LABEL           C_GetMechanismList of that token, one hex number a line
  ck.py MODULE init-token SLOT LABEL SOPIN   C_InitToken on SLOT
  ck.py MODULE init-pin LABEL SOPIN PIN      SO login + C_InitPIN on the token
                                     labelled LABEL; prints its slot id
  ck.py ec-spki PARAMS_HEX POINT_HEX OUT   write an EC SubjectPublicKeyInfo (DER)
"""
import ctypes
import sys
from ctypes import (POINTER, Structure, byref, c_char, c_char_p, c_ubyte,
                    c_ulong, c_void_p, sizeof)

CK_ULONG = c_ulong
CK_RV = c_ulong
CK_BBOOL = c_ubyte
CK_UNAVAILABLE_INFORMATION = (1 << (8 * sizeof(c_ulong))) - 1

# ---------------------------------------------------------------- constants
CKR = {
    0x00: "CKR_OK", 0x01: "CKR_CANCEL", 0x02: "CKR_HOST_MEMORY",
    0x03: "CKR_SLOT_ID_INVALID", 0x05: "CKR_GENERAL_ERROR",
    0x06: "CKR_FUNCTION_FAILED", 0x07: "CKR_ARGUMENTS_BAD",
    0x10: "CKR_ATTRIBUTE_READ_ONLY", 0x11: "CKR_ATTRIBUTE_SENSITIVE",
    0x12: "CKR_ATTRIBUTE_TYPE_INVALID", 0x13: "CKR_ATTRIBUTE_VALUE_INVALID",
    0x20: "CKR_DATA_INVALID", 0x21: "CKR_DATA_LEN_RANGE",
    0x30: "CKR_DEVICE_ERROR", 0x31: "CKR_DEVICE_MEMORY",
    0x40: "CKR_ENCRYPTED_DATA_INVALID", 0x41: "CKR_ENCRYPTED_DATA_LEN_RANGE",
    0x50: "CKR_FUNCTION_CANCELED", 0x54: "CKR_FUNCTION_NOT_SUPPORTED",
    0x60: "CKR_KEY_HANDLE_INVALID", 0x62: "CKR_KEY_SIZE_RANGE",
    0x63: "CKR_KEY_TYPE_INCONSISTENT", 0x68: "CKR_KEY_FUNCTION_NOT_PERMITTED",
    0x6A: "CKR_KEY_UNEXTRACTABLE", 0x70: "CKR_MECHANISM_INVALID",
    0x71: "CKR_MECHANISM_PARAM_INVALID", 0x82: "CKR_OBJECT_HANDLE_INVALID",
    0x90: "CKR_OPERATION_ACTIVE", 0x91: "CKR_OPERATION_NOT_INITIALIZED",
    0xA0: "CKR_PIN_INCORRECT", 0xA1: "CKR_PIN_INVALID",
    0xA2: "CKR_PIN_LEN_RANGE", 0xA4: "CKR_PIN_LOCKED",
    0xB0: "CKR_SESSION_CLOSED", 0xB1: "CKR_SESSION_COUNT",
    0xB3: "CKR_SESSION_HANDLE_INVALID",
    0xB4: "CKR_SESSION_PARALLEL_NOT_SUPPORTED", 0xB5: "CKR_SESSION_READ_ONLY",
    0xB6: "CKR_SESSION_EXISTS", 0xB7: "CKR_SESSION_READ_ONLY_EXISTS",
    0xB8: "CKR_SESSION_READ_WRITE_SO_EXISTS", 0xC0: "CKR_SIGNATURE_INVALID",
    0xC1: "CKR_SIGNATURE_LEN_RANGE", 0xD0: "CKR_TEMPLATE_INCOMPLETE",
    0xD1: "CKR_TEMPLATE_INCONSISTENT", 0xE0: "CKR_TOKEN_NOT_PRESENT",
    0xE1: "CKR_TOKEN_NOT_RECOGNIZED", 0xE2: "CKR_TOKEN_WRITE_PROTECTED",
    0xF0: "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
    0xF1: "CKR_UNWRAPPING_KEY_SIZE_RANGE",
    0xF2: "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
    0x100: "CKR_USER_ALREADY_LOGGED_IN", 0x101: "CKR_USER_NOT_LOGGED_IN",
    0x102: "CKR_USER_PIN_NOT_INITIALIZED", 0x103: "CKR_USER_TYPE_INVALID",
    0x104: "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
    0x105: "CKR_USER_TOO_MANY_TYPES", 0x110: "CKR_WRAPPED_KEY_INVALID",
    0x112: "CKR_WRAPPED_KEY_LEN_RANGE", 0x113: "CKR_WRAPPING_KEY_HANDLE_INVALID",
    0x115: "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
    0x150: "CKR_BUFFER_TOO_SMALL", 0x190: "CKR_CRYPTOKI_NOT_INITIALIZED",
    0x191: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
}
for _v, _n in list(CKR.items()):
    globals()[_n] = _v
CKR_OK = 0x00                       # (also set by the loop; named for linters)
CKR_FUNCTION_NOT_SUPPORTED = 0x54

CKF_TOKEN_PRESENT = 0x1
CKF_RW_SESSION = 0x2
CKF_SERIAL_SESSION = 0x4
CKF_LOGIN_REQUIRED = 0x4
CKF_USER_PIN_INITIALIZED = 0x8
CKF_TOKEN_INITIALIZED = 0x400
CKF_OS_LOCKING_OK = 0x2
CKU_SO, CKU_USER = 0, 1
CKS_RO_PUBLIC_SESSION, CKS_RO_USER_FUNCTIONS = 0, 1
CKS_RW_PUBLIC_SESSION, CKS_RW_USER_FUNCTIONS, CKS_RW_SO_FUNCTIONS = 2, 3, 4

CKO_DATA, CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_SECRET_KEY = 0, 1, 2, 3, 4
CKK_RSA, CKK_EC, CKK_GENERIC_SECRET, CKK_AES = 0x0, 0x3, 0x10, 0x1F

CKA_CLASS = 0x0
CKA_TOKEN = 0x1
CKA_PRIVATE = 0x2
CKA_LABEL = 0x3
CKA_APPLICATION = 0x10
CKA_VALUE = 0x11
CKA_KEY_TYPE = 0x100
CKA_ID = 0x102
CKA_SENSITIVE = 0x103
CKA_ENCRYPT = 0x104
CKA_DECRYPT = 0x105
CKA_WRAP = 0x106
CKA_UNWRAP = 0x107
CKA_SIGN = 0x108
CKA_VERIFY = 0x10A
CKA_DERIVE = 0x10C
CKA_MODULUS = 0x120
CKA_MODULUS_BITS = 0x121
CKA_PUBLIC_EXPONENT = 0x122
CKA_PRIVATE_EXPONENT = 0x123
CKA_VALUE_LEN = 0x161
CKA_EXTRACTABLE = 0x162
CKA_LOCAL = 0x163
CKA_NEVER_EXTRACTABLE = 0x164
CKA_ALWAYS_SENSITIVE = 0x165
CKA_MODIFIABLE = 0x170
CKA_EC_PARAMS = 0x180
CKA_EC_POINT = 0x181

CKM_RSA_PKCS_KEY_PAIR_GEN = 0x0
CKM_RSA_PKCS = 0x1
CKM_RSA_PKCS_OAEP = 0x9
CKM_RSA_PKCS_PSS = 0xD
CKM_SHA256_RSA_PKCS = 0x40
CKM_SHA256_RSA_PKCS_PSS = 0x43
CKM_SHA_1 = 0x220
CKM_SHA256 = 0x250
CKM_SHA384 = 0x260
CKM_SHA512 = 0x270
CKM_GENERIC_SECRET_KEY_GEN = 0x350
CKM_EC_KEY_PAIR_GEN = 0x1040
CKM_ECDSA = 0x1041
CKM_ECDSA_SHA256 = 0x1044
CKM_ECDH1_DERIVE = 0x1050
CKM_AES_KEY_GEN = 0x1080
CKM_AES_ECB = 0x1081
CKM_AES_CBC = 0x1082
CKM_AES_CBC_PAD = 0x1085
CKM_AES_GCM = 0x1087
CKM_AES_KEY_WRAP = 0x2109
CKM_AES_KEY_WRAP_PAD = 0x210A
CKM_AES_KEY_WRAP_KWP = 0x210B
CKD_NULL = 0x1

P256_PARAMS = bytes.fromhex("06082a8648ce3d030107")


def rvname(rv):
    return CKR.get(rv, "0x%08X" % rv)


class P11Error(Exception):
    def __init__(self, func, rv):
        super().__init__("%s failed: %s" % (func, rvname(rv)))
        self.func = func
        self.rv = rv


# ---------------------------------------------------------------- structures
class CK_VERSION(Structure):
    _fields_ = [("major", c_ubyte), ("minor", c_ubyte)]


class CK_INFO(Structure):
    _fields_ = [("cryptokiVersion", CK_VERSION), ("manufacturerID", c_char * 32),
                ("flags", CK_ULONG), ("libraryDescription", c_char * 32),
                ("libraryVersion", CK_VERSION)]


class CK_SLOT_INFO(Structure):
    _fields_ = [("slotDescription", c_char * 64), ("manufacturerID", c_char * 32),
                ("flags", CK_ULONG), ("hardwareVersion", CK_VERSION),
                ("firmwareVersion", CK_VERSION)]


class CK_TOKEN_INFO(Structure):
    _fields_ = [("label", c_char * 32), ("manufacturerID", c_char * 32),
                ("model", c_char * 16), ("serialNumber", c_char * 16),
                ("flags", CK_ULONG), ("ulMaxSessionCount", CK_ULONG),
                ("ulSessionCount", CK_ULONG), ("ulMaxRwSessionCount", CK_ULONG),
                ("ulRwSessionCount", CK_ULONG), ("ulMaxPinLen", CK_ULONG),
                ("ulMinPinLen", CK_ULONG), ("ulTotalPublicMemory", CK_ULONG),
                ("ulFreePublicMemory", CK_ULONG), ("ulTotalPrivateMemory", CK_ULONG),
                ("ulFreePrivateMemory", CK_ULONG), ("hardwareVersion", CK_VERSION),
                ("firmwareVersion", CK_VERSION), ("utcTime", c_char * 16)]


class CK_SESSION_INFO(Structure):
    _fields_ = [("slotID", CK_ULONG), ("state", CK_ULONG), ("flags", CK_ULONG),
                ("ulDeviceError", CK_ULONG)]


class CK_MECHANISM_INFO(Structure):
    _fields_ = [("ulMinKeySize", CK_ULONG), ("ulMaxKeySize", CK_ULONG),
                ("flags", CK_ULONG)]


class CK_ATTRIBUTE(Structure):
    _fields_ = [("type", CK_ULONG), ("pValue", c_void_p), ("ulValueLen", CK_ULONG)]


class CK_MECHANISM(Structure):
    _fields_ = [("mechanism", CK_ULONG), ("pParameter", c_void_p),
                ("ulParameterLen", CK_ULONG)]


class CK_C_INITIALIZE_ARGS(Structure):
    _fields_ = [("CreateMutex", c_void_p), ("DestroyMutex", c_void_p),
                ("LockMutex", c_void_p), ("UnlockMutex", c_void_p),
                ("flags", CK_ULONG), ("pReserved", c_void_p)]


class CK_ECDH1_DERIVE_PARAMS(Structure):
    _fields_ = [("kdf", CK_ULONG), ("ulSharedDataLen", CK_ULONG),
                ("pSharedData", c_void_p), ("ulPublicDataLen", CK_ULONG),
                ("pPublicData", c_void_p)]


class CK_GCM_PARAMS(Structure):
    _fields_ = [("pIv", c_void_p), ("ulIvLen", CK_ULONG), ("ulIvBits", CK_ULONG),
                ("pAAD", c_void_p), ("ulAADLen", CK_ULONG), ("ulTagBits", CK_ULONG)]


P = c_void_p          # generic pointer
UL = CK_ULONG
PUL = POINTER(CK_ULONG)
BUF = c_char_p
ATTRP = POINTER(CK_ATTRIBUTE)
MECHP = POINTER(CK_MECHANISM)

# The 68 entries of CK_FUNCTION_LIST, in order, with their argument types.
FUNCTIONS = [
    ("C_Initialize", [P]), ("C_Finalize", [P]), ("C_GetInfo", [P]),
    ("C_GetFunctionList", [P]), ("C_GetSlotList", [CK_BBOOL, PUL, PUL]),
    ("C_GetSlotInfo", [UL, P]), ("C_GetTokenInfo", [UL, P]),
    ("C_GetMechanismList", [UL, PUL, PUL]), ("C_GetMechanismInfo", [UL, UL, P]),
    ("C_InitToken", [UL, BUF, UL, BUF]), ("C_InitPIN", [UL, BUF, UL]),
    ("C_SetPIN", [UL, BUF, UL, BUF, UL]),
    ("C_OpenSession", [UL, UL, P, P, PUL]), ("C_CloseSession", [UL]),
    ("C_CloseAllSessions", [UL]), ("C_GetSessionInfo", [UL, P]),
    ("C_GetOperationState", [UL, BUF, PUL]),
    ("C_SetOperationState", [UL, BUF, UL, UL, UL]),
    ("C_Login", [UL, UL, BUF, UL]), ("C_Logout", [UL]),
    ("C_CreateObject", [UL, ATTRP, UL, PUL]),
    ("C_CopyObject", [UL, UL, ATTRP, UL, PUL]), ("C_DestroyObject", [UL, UL]),
    ("C_GetObjectSize", [UL, UL, PUL]),
    ("C_GetAttributeValue", [UL, UL, ATTRP, UL]),
    ("C_SetAttributeValue", [UL, UL, ATTRP, UL]),
    ("C_FindObjectsInit", [UL, ATTRP, UL]), ("C_FindObjects", [UL, PUL, UL, PUL]),
    ("C_FindObjectsFinal", [UL]),
    ("C_EncryptInit", [UL, MECHP, UL]), ("C_Encrypt", [UL, BUF, UL, BUF, PUL]),
    ("C_EncryptUpdate", [UL, BUF, UL, BUF, PUL]), ("C_EncryptFinal", [UL, BUF, PUL]),
    ("C_DecryptInit", [UL, MECHP, UL]), ("C_Decrypt", [UL, BUF, UL, BUF, PUL]),
    ("C_DecryptUpdate", [UL, BUF, UL, BUF, PUL]), ("C_DecryptFinal", [UL, BUF, PUL]),
    ("C_DigestInit", [UL, MECHP]), ("C_Digest", [UL, BUF, UL, BUF, PUL]),
    ("C_DigestUpdate", [UL, BUF, UL]), ("C_DigestKey", [UL, UL]),
    ("C_DigestFinal", [UL, BUF, PUL]),
    ("C_SignInit", [UL, MECHP, UL]), ("C_Sign", [UL, BUF, UL, BUF, PUL]),
    ("C_SignUpdate", [UL, BUF, UL]), ("C_SignFinal", [UL, BUF, PUL]),
    ("C_SignRecoverInit", [UL, MECHP, UL]), ("C_SignRecover", [UL, BUF, UL, BUF, PUL]),
    ("C_VerifyInit", [UL, MECHP, UL]), ("C_Verify", [UL, BUF, UL, BUF, UL]),
    ("C_VerifyUpdate", [UL, BUF, UL]), ("C_VerifyFinal", [UL, BUF, UL]),
    ("C_VerifyRecoverInit", [UL, MECHP, UL]),
    ("C_VerifyRecover", [UL, BUF, UL, BUF, PUL]),
    ("C_DigestEncryptUpdate", [UL, BUF, UL, BUF, PUL]),
    ("C_DecryptDigestUpdate", [UL, BUF, UL, BUF, PUL]),
    ("C_SignEncryptUpdate", [UL, BUF, UL, BUF, PUL]),
    ("C_DecryptVerifyUpdate", [UL, BUF, UL, BUF, PUL]),
    ("C_GenerateKey", [UL, MECHP, ATTRP, UL, PUL]),
    ("C_GenerateKeyPair", [UL, MECHP, ATTRP, UL, ATTRP, UL, PUL, PUL]),
    ("C_WrapKey", [UL, MECHP, UL, UL, BUF, PUL]),
    ("C_UnwrapKey", [UL, MECHP, UL, BUF, UL, ATTRP, UL, PUL]),
    ("C_DeriveKey", [UL, MECHP, UL, ATTRP, UL, PUL]),
    ("C_SeedRandom", [UL, BUF, UL]), ("C_GenerateRandom", [UL, BUF, UL]),
    ("C_GetFunctionStatus", [UL]), ("C_CancelFunction", [UL]),
    ("C_WaitForSlotEvent", [UL, PUL, P]),
]


class CK_FUNCTION_LIST(Structure):
    _fields_ = [("version", CK_VERSION)] + [(n, c_void_p) for n, _ in FUNCTIONS]


# ---------------------------------------------------------------- helpers
def attr_bytes(value):
    """Encode a Python value the way PKCS#11 stores it."""
    if isinstance(value, bool):
        return bytes([1 if value else 0])
    if isinstance(value, int):
        return bytes(CK_ULONG(value))
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


class Template:
    """A CK_ATTRIBUTE array that keeps its value buffers alive."""

    def __init__(self, items):
        self.items = list(items)
        self.array = (CK_ATTRIBUTE * max(1, len(self.items)))()
        self._keep = []
        for i, (t, v) in enumerate(self.items):
            self.array[i].type = t
            if v is None:                       # size query
                self.array[i].pValue = None
                self.array[i].ulValueLen = 0
            elif isinstance(v, Alloc):          # output buffer of given size
                buf = ctypes.create_string_buffer(max(1, v.size))
                self._keep.append(buf)
                self.array[i].pValue = ctypes.cast(buf, c_void_p)
                self.array[i].ulValueLen = v.size
            else:
                raw = attr_bytes(v)
                buf = ctypes.create_string_buffer(raw, max(1, len(raw)))
                self._keep.append(buf)
                self.array[i].pValue = ctypes.cast(buf, c_void_p)
                self.array[i].ulValueLen = len(raw)

    def __len__(self):
        return len(self.items)

    def ptr(self):
        return self.array if self.items else None

    def value(self, i):
        a = self.array[i]
        if a.ulValueLen == CK_UNAVAILABLE_INFORMATION or not a.pValue:
            return None
        return ctypes.string_at(a.pValue, a.ulValueLen)


class Alloc:
    def __init__(self, size):
        self.size = size


class Mech:
    """A CK_MECHANISM that keeps its parameter alive."""

    def __init__(self, mech, param=None):
        self.m = CK_MECHANISM()
        self.m.mechanism = mech
        self._param = param
        if param is None:
            self.m.pParameter = None
            self.m.ulParameterLen = 0
        elif isinstance(param, (bytes, bytearray)):
            self._buf = ctypes.create_string_buffer(bytes(param), max(1, len(param)))
            self.m.pParameter = ctypes.cast(self._buf, c_void_p)
            self.m.ulParameterLen = len(param)
        else:                                   # a ctypes Structure
            self.m.pParameter = ctypes.cast(ctypes.pointer(param), c_void_p)
            self.m.ulParameterLen = sizeof(param)

    def ref(self):
        return byref(self.m)


def ecdh_params(public_point):
    p = CK_ECDH1_DERIVE_PARAMS()
    buf = ctypes.create_string_buffer(public_point, len(public_point))
    p.kdf = CKD_NULL
    p.ulSharedDataLen = 0
    p.pSharedData = None
    p.ulPublicDataLen = len(public_point)
    p.pPublicData = ctypes.cast(buf, c_void_p)
    p._keep = buf
    return p


class Module:
    def __init__(self, path):
        self.path = path
        self.dll = ctypes.CDLL(path)
        getfl = self.dll.C_GetFunctionList
        getfl.restype = CK_RV
        getfl.argtypes = [POINTER(POINTER(CK_FUNCTION_LIST))]
        self.flp = POINTER(CK_FUNCTION_LIST)()
        rv = getfl(byref(self.flp))
        if rv != CKR_OK:
            raise P11Error("C_GetFunctionList", rv)
        fl = self.flp.contents
        self.version = (fl.version.major, fl.version.minor)
        self.fn = {}
        for name, argtypes in FUNCTIONS:
            addr = getattr(fl, name)
            if not addr:
                continue
            proto = ctypes.CFUNCTYPE(CK_RV, *argtypes)
            self.fn[name] = proto(addr)

    # raw call: returns CK_RV
    def call(self, name, *args):
        if name not in self.fn:
            return CKR_FUNCTION_NOT_SUPPORTED
        return self.fn[name](*args)

    def ok(self, name, *args):
        rv = self.call(name, *args)
        if rv != CKR_OK:
            raise P11Error(name, rv)

    # -------------------------------------------------------- conveniences
    def initialize(self, os_locking=True):
        if os_locking:
            self._initargs = CK_C_INITIALIZE_ARGS()
            self._initargs.flags = CKF_OS_LOCKING_OK
            self.ok("C_Initialize", ctypes.cast(byref(self._initargs), c_void_p))
        else:
            self.ok("C_Initialize", None)

    def finalize(self):
        self.ok("C_Finalize", None)

    def info(self):
        i = CK_INFO()
        self.ok("C_GetInfo", byref(i))
        return i

    def slots(self, present=True):
        n = CK_ULONG(0)
        self.ok("C_GetSlotList", 1 if present else 0, None, byref(n))
        arr = (CK_ULONG * max(1, n.value))()
        self.ok("C_GetSlotList", 1 if present else 0, arr, byref(n))
        return [arr[i] for i in range(n.value)]

    def slot_info(self, slot):
        i = CK_SLOT_INFO()
        self.ok("C_GetSlotInfo", slot, byref(i))
        return i

    def token_info(self, slot):
        t = CK_TOKEN_INFO()
        self.ok("C_GetTokenInfo", slot, byref(t))
        return t

    def mechanisms(self, slot):
        n = CK_ULONG(0)
        self.ok("C_GetMechanismList", slot, None, byref(n))
        arr = (CK_ULONG * max(1, n.value))()
        self.ok("C_GetMechanismList", slot, arr, byref(n))
        return [arr[i] for i in range(n.value)]

    def open(self, slot, rw=True):
        h = CK_ULONG(0)
        flags = CKF_SERIAL_SESSION | (CKF_RW_SESSION if rw else 0)
        self.ok("C_OpenSession", slot, flags, None, None, byref(h))
        return h.value

    def login(self, sess, pin, user=CKU_USER):
        pin = pin.encode()
        return self.call("C_Login", sess, user, pin, len(pin))

    def session_info(self, sess):
        i = CK_SESSION_INFO()
        self.ok("C_GetSessionInfo", sess, byref(i))
        return i

    def find(self, sess, items, limit=1000):
        t = Template(items)
        self.ok("C_FindObjectsInit", sess, t.ptr(), len(t))
        out = (CK_ULONG * 64)()
        n = CK_ULONG(0)
        found = []
        try:
            while len(found) < limit:
                self.ok("C_FindObjects", sess, out, 64, byref(n))
                if n.value == 0:
                    break
                found.extend(out[i] for i in range(n.value))
        finally:
            self.ok("C_FindObjectsFinal", sess)
        return found

    def get_attr(self, sess, obj, attr):
        """Two-call C_GetAttributeValue for one attribute; returns bytes."""
        t = Template([(attr, None)])
        self.ok("C_GetAttributeValue", sess, obj, t.ptr(), 1)
        size = t.array[0].ulValueLen
        t2 = Template([(attr, Alloc(size))])
        self.ok("C_GetAttributeValue", sess, obj, t2.ptr(), 1)
        return t2.value(0)

    def create(self, sess, items):
        t = Template(items)
        h = CK_ULONG(0)
        self.ok("C_CreateObject", sess, t.ptr(), len(t), byref(h))
        return h.value

    def generate_key(self, sess, mech, items):
        t = Template(items)
        h = CK_ULONG(0)
        self.ok("C_GenerateKey", sess, Mech(mech).ref(), t.ptr(), len(t), byref(h))
        return h.value

    def generate_key_pair(self, sess, mech, pub_items, priv_items):
        tp, tv = Template(pub_items), Template(priv_items)
        hp, hv = CK_ULONG(0), CK_ULONG(0)
        self.ok("C_GenerateKeyPair", sess, Mech(mech).ref(), tp.ptr(), len(tp),
                tv.ptr(), len(tv), byref(hp), byref(hv))
        return hp.value, hv.value

    def _two_call(self, name, sess, data):
        """Single-part op (C_Encrypt/C_Decrypt/C_Sign/C_Digest) using length query."""
        n = CK_ULONG(0)
        self.ok(name, sess, data, len(data), None, byref(n))
        buf = ctypes.create_string_buffer(max(1, n.value))
        self.ok(name, sess, data, len(data), buf, byref(n))
        return buf.raw[:n.value]

    def sign(self, sess, mech, key, data):
        self.ok("C_SignInit", sess, mech.ref(), key)
        return self._two_call("C_Sign", sess, data)

    def verify(self, sess, mech, key, data, sig):
        self.ok("C_VerifyInit", sess, mech.ref(), key)
        return self.call("C_Verify", sess, data, len(data), sig, len(sig))

    def encrypt(self, sess, mech, key, data):
        self.ok("C_EncryptInit", sess, mech.ref(), key)
        return self._two_call("C_Encrypt", sess, data)

    def decrypt(self, sess, mech, key, data):
        self.ok("C_DecryptInit", sess, mech.ref(), key)
        return self._two_call("C_Decrypt", sess, data)

    def digest(self, sess, mech, data):
        self.ok("C_DigestInit", sess, mech.ref())
        return self._two_call("C_Digest", sess, data)

    def wrap(self, sess, mech, wrapping, key):
        n = CK_ULONG(0)
        self.ok("C_WrapKey", sess, mech.ref(), wrapping, key, None, byref(n))
        buf = ctypes.create_string_buffer(max(1, n.value))
        self.ok("C_WrapKey", sess, mech.ref(), wrapping, key, buf, byref(n))
        return buf.raw[:n.value]

    def unwrap(self, sess, mech, unwrapping, blob, items):
        t = Template(items)
        h = CK_ULONG(0)
        self.ok("C_UnwrapKey", sess, mech.ref(), unwrapping, blob, len(blob),
                t.ptr(), len(t), byref(h))
        return h.value

    def derive(self, sess, mech, base, items):
        t = Template(items)
        h = CK_ULONG(0)
        self.ok("C_DeriveKey", sess, mech.ref(), base, t.ptr(), len(t), byref(h))
        return h.value

    def random(self, sess, n):
        buf = ctypes.create_string_buffer(max(1, n))
        self.ok("C_GenerateRandom", sess, buf, n)
        return buf.raw[:n]


def fixed(raw):
    """Blank-padded fixed-size PKCS#11 string -> str."""
    return raw.decode("utf-8", "replace").rstrip(" \0")


def pad32(s):
    b = s.encode()
    if len(b) > 32:
        raise ValueError("label longer than 32 bytes")
    return b + b" " * (32 - len(b))


# ---------------------------------------------------------------- slot logic
def first_uninitialized(mod):
    """First slot (in C_GetSlotList order) whose token is present but not
    initialized (CKF_TOKEN_INITIALIZED clear)."""
    for s in mod.slots(present=True):
        if not mod.token_info(s).flags & CKF_TOKEN_INITIALIZED:
            return s
    return None


def slot_of(mod, label):
    hits = []
    for s in mod.slots(present=True):
        t = mod.token_info(s)
        if fixed(t.label) == label and t.flags & CKF_TOKEN_INITIALIZED:
            hits.append(s)
    if len(hits) != 1:
        raise RuntimeError("expected exactly one initialized token labelled %r, found %d (slots %s)"
                           % (label, len(hits), hits))
    return hits[0]


def init_token_only(path, slot, label, so_pin):
    """C_InitToken on SLOT (one process, as pkcs11-tool --init-token does)."""
    mod = Module(path)
    mod.initialize(os_locking=False)
    t = mod.token_info(slot)
    if t.flags & CKF_TOKEN_INITIALIZED:
        raise RuntimeError("slot %d already holds an initialized token (%r)" % (slot, fixed(t.label)))
    sop = so_pin.encode()
    mod.ok("C_InitToken", slot, sop, len(sop), pad32(label))
    mod.finalize()


def init_pin(path, label, so_pin, user_pin):
    """SO login on the token labelled LABEL and C_InitPIN (a fresh process:
    modules such as SoftHSMv2 give the token a new slot id after C_InitToken,
    visible on the next enumeration)."""
    mod = Module(path)
    mod.initialize(os_locking=False)
    slot = slot_of(mod, label)
    sess = mod.open(slot, rw=True)
    rv = mod.login(sess, so_pin, CKU_SO)
    if rv != CKR_OK:
        raise P11Error("C_Login(SO)", rv)
    up = user_pin.encode()
    mod.ok("C_InitPIN", sess, up, len(up))
    mod.ok("C_Logout", sess)
    mod.ok("C_CloseSession", sess)
    mod.finalize()
    return slot


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def unwrap_octet_string(point):
    """CKA_EC_POINT is a DER OCTET STRING holding the point (some modules
    return the raw point); return the raw point."""
    if point[:1] == b"\x04" and len(point) > 2:
        n = point[1]
        off = 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(point[2:2 + k], "big")
            off = 2 + k
        if off + n == len(point) and point[off:off + 1] in (b"\x02", b"\x03", b"\x04"):
            return point[off:]
    return point


def ec_spki(params, point):
    """SubjectPublicKeyInfo DER from CKA_EC_PARAMS and CKA_EC_POINT."""
    oid_ec = bytes.fromhex("06072a8648ce3d0201")
    alg = der(0x30, oid_ec + params)
    return der(0x30, alg + der(0x03, b"\x00" + unwrap_octet_string(point)))


def main(argv):
    if len(argv) >= 2 and argv[1] == "ec-spki":
        # ck.py ec-spki PARAMS_HEX POINT_HEX OUTFILE (no module needed)
        with open(argv[4], "wb") as f:
            f.write(ec_spki(bytes.fromhex(argv[2]), bytes.fromhex(argv[3])))
        return 0
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path, cmd, args = argv[1], argv[2], argv[3:]
    try:
        if cmd == "init-token":
            init_token_only(path, int(args[0], 0), args[1], args[2])
            return 0
        if cmd == "init-pin":
            print(init_pin(path, *args))
            return 0
        mod = Module(path)
        mod.initialize(os_locking=False)
        if cmd == "slots":
            for s in mod.slots(present=False):
                si = mod.slot_info(s)
                if si.flags & CKF_TOKEN_PRESENT:
                    t = mod.token_info(s)
                    print("%d\tpresent\t%s\t%s" % (
                        s, "initialized" if t.flags & CKF_TOKEN_INITIALIZED else "uninitialized",
                        fixed(t.label)))
                else:
                    print("%d\tempty\t-\t-" % s)
        elif cmd == "first-uninit":
            s = first_uninitialized(mod)
            if s is None:
                sys.stderr.write("no slot with an uninitialized token\n")
                return 1
            print(s)
        elif cmd == "slot-of":
            print(slot_of(mod, args[0]))
        elif cmd == "mechs":
            for m in mod.mechanisms(slot_of(mod, args[0])):
                print("0x%08X" % m)
        else:
            sys.stderr.write("unknown command %s\n" % cmd)
            return 2
        mod.finalize()
        return 0
    except (P11Error, RuntimeError, OSError, ValueError) as e:
        sys.stderr.write("ck.py %s: %s\n" % (cmd, e))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
