#!/usr/bin/env python3
"""Check an Azure Key Vault BYOK transfer file (.byok) offline, with the KEK's private key.

A second, independent implementation for shieldhsm's tests and demo: Python and
pyca/cryptography only, no code shared with the Rust side. It opens the package the way the
Key Vault HSM would and refuses anything Azure would not import.

usage: verify_byok.py FILE.byok KEK_PRIVATE.pem [--kid KID]
                      [--expect-plaintext FILE] [--expect-public SPKI.pem]

Checks, in order (see docs/nshield-emulation.md §1.4, §1.5 and §3.6):
  1. the file is UTF-8 JSON (no BOM, no repeated keys) holding exactly `schema_version`
     ("1.0.0"), `header` (exactly `kid`, `alg` = "dir", `enc` = "CKM_RSA_AES_KEY_WRAP"),
     `ciphertext` and `generator`; the kid is a versioned Key Vault key URL and, with --kid,
     the one expected;
  2. `ciphertext` is canonical unpadded base64url;
  3. the KEK is RSA 2048/3072/4096; the first k bytes (k = modulus length) decrypt with RSA-OAEP
     (SHA-1, MGF1-SHA-1, empty label) to a 128/192/256-bit AES transfer key;
  4. the rest unwraps under that key with AES key wrap with padding (RFC 5649), integrity checked;
  5. the plaintext is a raw AES key (16/24/32 bytes) or a DER PKCS#8 PrivateKeyInfo holding an
     RSA 2048/3072/4096 or EC P-256/P-384/P-521/secp256k1 private key;
  6. optionally, the plaintext equals a given file, or its public key a given SPKI PEM.

Prints one line `OK <file> target=... transfer_key=AES-... plaintext_sha256=... kid=...` and
exits 0; otherwise prints `FAIL <file>: <reason>` to stderr and exits 1 (2 for bad usage).
"""

import argparse
import base64
import hashlib
import hmac
import json
import re
import sys

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

FIELDS = ("schema_version", "header", "ciphertext", "generator")
HEADER_FIELDS = ("kid", "alg", "enc")
KID_RE = re.compile(r"^https://[A-Za-z0-9.-]+/keys/[A-Za-z0-9-]+/[0-9a-fA-F]{32}$")
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
KEK_SIZES = (2048, 3072, 4096)
RSA_TARGET_SIZES = (2048, 3072, 4096)
EC_TARGET_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "P-256K"}
OID_RSA = "1.2.840.113549.1.1.1"
OID_EC = "1.2.840.10045.2.1"


class Refused(Exception):
    """The package (or an input) is not acceptable; the message says why."""


# --- a minimal DER reader: just enough to see that the plaintext is PKCS#8 shaped -------------


def der_item(buf, pos):
    """(tag, body, next position) of the DER element at buf[pos:]."""
    if pos + 2 > len(buf):
        raise Refused("truncated DER")
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(buf):
            raise Refused("bad DER length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        if length < 0x80 or buf[pos] == 0:
            raise Refused("non-minimal DER length")
        pos += n
    if pos + length > len(buf):
        raise Refused("truncated DER")
    return tag, buf[pos : pos + length], pos + length


def oid_text(body):
    if not body:
        raise Refused("empty OID")
    arcs, value = [], 0
    for b in body:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])


def pkcs8_algorithm(der):
    """The algorithm OID of a PrivateKeyInfo / OneAsymmetricKey, or Refused."""
    tag, body, end = der_item(der, 0)
    if tag != 0x30 or end != len(der):
        raise Refused("not a single DER SEQUENCE")
    tag, version, pos = der_item(body, 0)
    if tag != 0x02 or version not in (b"\x00", b"\x01"):
        raise Refused("PKCS#8 version is not 0 or 1")
    tag, alg, pos = der_item(body, pos)
    if tag != 0x30:
        raise Refused("no AlgorithmIdentifier")
    tag, oid, _ = der_item(alg, 0)
    if tag != 0x06:
        raise Refused("AlgorithmIdentifier without an OID")
    tag, _, _ = der_item(body, pos)
    if tag != 0x04:
        raise Refused("no privateKey OCTET STRING")
    return oid_text(oid)


# --- the checks ---------------------------------------------------------------------------------


def no_repeated_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Refused("JSON key %r appears twice" % key)
        seen[key] = value
    return seen


def exact_fields(obj, names, where):
    if not isinstance(obj, dict):
        raise Refused("%s is not a JSON object" % where)
    missing = [n for n in names if n not in obj]
    extra = sorted(set(obj) - set(names))
    if missing:
        raise Refused("%s lacks %s" % (where, ", ".join(missing)))
    if extra:
        raise Refused("%s has fields Azure does not define: %s" % (where, ", ".join(extra)))


def parse_document(raw, want_kid):
    if raw.startswith(b"\xef\xbb\xbf"):
        raise Refused("the file starts with a UTF-8 byte order mark")
    try:
        doc = json.loads(raw.decode("utf-8"), object_pairs_hook=no_repeated_keys)
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused("not UTF-8 JSON: %s" % e)
    exact_fields(doc, FIELDS, "the document")
    if doc["schema_version"] != "1.0.0":
        raise Refused("schema_version is %r, expected \"1.0.0\"" % (doc["schema_version"],))
    header = doc["header"]
    exact_fields(header, HEADER_FIELDS, "header")
    if header["alg"] != "dir":
        raise Refused("header.alg is %r, expected \"dir\"" % (header["alg"],))
    if header["enc"] != "CKM_RSA_AES_KEY_WRAP":
        raise Refused("header.enc is %r, expected \"CKM_RSA_AES_KEY_WRAP\"" % (header["enc"],))
    kid = header["kid"]
    if not isinstance(kid, str) or not KID_RE.match(kid):
        raise Refused("header.kid %r is not https://<host>/keys/<name>/<32-hex version>" % (kid,))
    if want_kid is not None and kid != want_kid:
        raise Refused("kid is %s, expected %s" % (kid, want_kid))
    if not isinstance(doc["generator"], str):
        raise Refused("generator is not a string")
    text = doc["ciphertext"]
    if not isinstance(text, str) or not B64URL_RE.match(text) or len(text) % 4 == 1:
        raise Refused("ciphertext is not unpadded base64url")
    ct = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(ct).decode().rstrip("=") != text:
        raise Refused("ciphertext is not canonical base64url (stray bits in the last character)")
    return kid, ct


def load_kek(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Refused("cannot read the KEK private key: %s" % e)
    try:
        if b"-----BEGIN" in data:
            kek = serialization.load_pem_private_key(data, password=None)
        else:
            kek = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise Refused("%s is not an unencrypted private key: %s" % (path, e))
    if not isinstance(kek, rsa.RSAPrivateKey):
        raise Refused("the KEK is not an RSA key")
    if kek.key_size not in KEK_SIZES:
        raise Refused("the KEK is RSA-%d; Key Vault KEKs are RSA 2048, 3072 or 4096" % kek.key_size)
    return kek


def unwrap(kek, ct):
    k = kek.key_size // 8
    rest = len(ct) - k
    if rest < 16 or rest % 8:
        raise Refused("ciphertext is %d bytes: not %d bytes of RSA-OAEP then an RFC 5649 wrap" % (len(ct), k))
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    try:
        transfer_key = kek.decrypt(ct[:k], oaep)
    except ValueError:
        raise Refused("RSA-OAEP (SHA-1) decryption failed: another KEK, or not OAEP-SHA-1")
    if len(transfer_key) not in (16, 24, 32):
        raise Refused("the transfer key is %d bytes, not an AES key" % len(transfer_key))
    try:
        plaintext = aes_key_unwrap_with_padding(transfer_key, ct[k:])
    except (InvalidUnwrap, InvalidKey, ValueError):
        raise Refused("the RFC 5649 integrity check failed (tampered or wrongly wrapped)")
    return transfer_key, plaintext


def classify(plaintext):
    """(name of the target, its private key object or None for AES)."""
    if len(plaintext) in (16, 24, 32):
        return "AES-%d" % (8 * len(plaintext)), None
    try:
        oid = pkcs8_algorithm(plaintext)
    except Refused as e:
        raise Refused("the plaintext is neither a raw AES key nor PKCS#8 (%s)" % e)
    if oid not in (OID_RSA, OID_EC):
        raise Refused("the PKCS#8 key algorithm %s is neither RSA nor EC" % oid)
    try:
        key = serialization.load_der_private_key(plaintext, password=None)
    except (ValueError, TypeError) as e:
        raise Refused("the PKCS#8 private key does not load: %s" % e)
    if isinstance(key, rsa.RSAPrivateKey) and oid == OID_RSA:
        if key.key_size not in RSA_TARGET_SIZES:
            raise Refused("RSA-%d: Azure imports RSA 2048, 3072 and 4096" % key.key_size)
        return "RSA-%d" % key.key_size, key
    if isinstance(key, ec.EllipticCurvePrivateKey) and oid == OID_EC:
        curve = EC_TARGET_CURVES.get(key.curve.name)
        if curve is None:
            raise Refused("EC curve %s: Azure imports P-256, P-384, P-521 and P-256K" % key.curve.name)
        return "EC-%s" % curve, key
    raise Refused("the PKCS#8 algorithm does not match the key inside it")


def spki_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check(args):
    try:
        with open(args.byok, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise Refused("cannot read it: %s" % e)
    kid, ct = parse_document(raw, args.kid)
    kek = load_kek(args.kek_private)
    transfer_key, plaintext = unwrap(kek, ct)
    target, key = classify(plaintext)
    if args.expect_plaintext:
        with open(args.expect_plaintext, "rb") as f:
            if not hmac.compare_digest(f.read(), plaintext):
                raise Refused("the plaintext differs from %s" % args.expect_plaintext)
    if args.expect_public:
        if key is None:
            raise Refused("--expect-public given, but the target is an AES key")
        with open(args.expect_public, "rb") as f:
            want = serialization.load_pem_public_key(f.read())
        if spki_der(want) != spki_der(key.public_key()):
            raise Refused("the target's public key differs from %s" % args.expect_public)
    return "OK %s target=%s transfer_key=AES-%d plaintext_sha256=%s kid=%s" % (
        args.byok,
        target,
        8 * len(transfer_key),
        hashlib.sha256(plaintext).hexdigest(),
        kid,
    )


def main():
    ap = argparse.ArgumentParser(description="Check an Azure Key Vault .byok transfer file with the KEK private key.")
    ap.add_argument("byok", help="the .byok file")
    ap.add_argument("kek_private", help="the KEK private key, PKCS#8 or PKCS#1, PEM or DER, unencrypted")
    ap.add_argument("--kid", help="the KEK identifier the header must name")
    ap.add_argument("--expect-plaintext", metavar="FILE", help="the exact bytes the package must hold")
    ap.add_argument("--expect-public", metavar="SPKI_PEM", help="the public key of the RSA/EC key it must hold")
    args = ap.parse_args()
    try:
        print(check(args))
    except Refused as e:
        print("FAIL %s: %s" % (args.byok, e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
