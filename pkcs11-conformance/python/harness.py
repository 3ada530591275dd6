"""Result recording and OpenSSL cross-check helpers for the python suite."""
import os
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import ck  # noqa: E402  (ctypes binding, shared with the runner)


class Failure(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise Failure(msg)


class Results:
    def __init__(self, path, tag):
        self.f = open(path, "a", encoding="utf-8")
        self.tag = tag
        self.quiet = os.environ.get("QUIET") == "1"
        self.passed = self.failed = 0

    def check(self, name, fn, *args):
        """Run fn(*args); an exception is a failure. Returns fn's value or None."""
        try:
            value = fn(*args)
        except Exception as e:  # noqa: BLE001 - every error is a check failure
            reason = "%s: %s" % (type(e).__name__, e) if not isinstance(e, Failure) else str(e)
            reason = reason.replace("\t", " ").replace("\n", " ")
            self.f.write("FAIL\t%s\t%s\n" % (name, reason))
            self.f.flush()
            self.failed += 1
            sys.stderr.write("  FAIL  [%s] %s: %s\n" % (self.tag, name, reason))
            if not isinstance(e, Failure):
                traceback.print_exc(file=sys.stderr)
            return None
        self.f.write("PASS\t%s\n" % name)
        self.f.flush()
        self.passed += 1
        if not self.quiet:
            sys.stderr.write("  ok    [%s] %s\n" % (self.tag, name))
        return value if value is not None else True

    def done(self):
        self.f.write("DONE\t%d\t%d\n" % (self.passed, self.failed))
        self.f.close()


# ---------------------------------------------------------------- OpenSSL
PLAIN_ENV = dict(os.environ)
PLAIN_ENV["OPENSSL_CONF"] = os.environ.get("PLAIN_OPENSSL_CONF", "/dev/null")


def openssl(*args, data=None):
    p = subprocess.run(["openssl"] + list(args), input=data, capture_output=True,
                       env=PLAIN_ENV, timeout=60)
    if p.returncode != 0:
        raise Failure("openssl %s failed: %s" % (" ".join(args[:2]), p.stderr.decode(errors="replace")[-400:]))
    return p.stdout


class TempFiles:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="py-", dir=os.environ.get("W"))

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def path(self, name):
        return os.path.join(self.dir, name)


TMP = None


def tmp():
    global TMP
    if TMP is None:
        TMP = TempFiles()
    return TMP


# ---------------------------------------------------------------- DER
def der_int(v):
    b = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return ck.der(0x02, b)


def rsa_pub_pem(modulus, exponent):
    """PEM SubjectPublicKeyInfo from CKA_MODULUS / CKA_PUBLIC_EXPONENT."""
    rsapub = ck.der(0x30, der_int(int.from_bytes(modulus, "big")) +
                    der_int(int.from_bytes(exponent, "big")))
    alg = ck.der(0x30, bytes.fromhex("06092a864886f70d0101010500"))
    spki = ck.der(0x30, alg + ck.der(0x03, b"\x00" + rsapub))
    t = tmp()
    return openssl("pkey", "-pubin", "-inform", "DER", "-in", t.write("rsapub.der", spki))


def ec_pub_pem(params, point):
    t = tmp()
    return openssl("pkey", "-pubin", "-inform", "DER", "-in",
                   t.write("ecpub.der", ck.ec_spki(params, point)))


def ecdsa_raw_to_der(sig):
    n = len(sig) // 2
    r, s = int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big")
    return ck.der(0x30, der_int(r) + der_int(s))


def openssl_verify(pub_pem, data, sig, digest="sha256", extra=()):
    t = tmp()
    args = ["dgst", "-" + digest, "-verify", t.write("vpub.pem", pub_pem),
            "-signature", t.write("vsig", sig)] + list(extra) + [t.write("vdata", data)]
    out = openssl(*args)
    require(b"Verified OK" in out, "openssl did not verify the signature: %r" % out)
