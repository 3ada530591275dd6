//! RSA: key material from PKCS#11 attributes, CKM_RSA_PKCS_KEY_PAIR_GEN, and the RSA
//! mechanisms — CKM_RSA_PKCS (sign/verify over caller data such as a DigestInfo,
//! encrypt/decrypt, wrap/unwrap), CKM_RSA_X_509 (raw), CKM_SHAxxx_RSA_PKCS, CKM_RSA_PKCS_PSS and
//! CKM_SHAxxx_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP (encrypt/decrypt/wrap/unwrap).
//!
//! The arithmetic is aws-lc's, through [`super::ffi`]: one engine key per object, built once by
//! [`super::KeyMaterial::from_attrs`] and shared by every operation through an `Arc`.
//!
//! `key` builds keys from attributes, `gen` generates them; this file holds the mechanisms.
//!
//! Single-part mechanisms (raw PKCS#1, X.509, PSS over a digest, OAEP) buffer `update` input and
//! refuse more than they could ever accept; the hashed ones stream into a digest.

#![forbid(unsafe_code)]

mod gen;
mod key;

pub use gen::{gen_bits_range, generate, RsaKeyPairGen, RSA_PKCS_KEY_PAIR_GEN};
pub use key::{key_attrs, key_from_attrs};

use super::ffi::{self, Md, Pad};
use super::{CipherOp, KeyMaterial, Mechanism, Params, SignOp};
use crate::error::{err, Error, Result};
use aws_lc_rs::{constant_time, digest};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// An RSA private key's components in RSAPrivateKey (PKCS#1) order, as PKCS#11 attributes.
pub const PRIVATE_COMPONENTS: [CK_ATTRIBUTE_TYPE; 8] = [
    CKA_MODULUS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
];

/// Modulus sizes accepted for use and import (aws-lc handles up to 16384; nothing real is
/// outside this range).
pub const MIN_BITS: usize = 1024;
pub const MAX_BITS: usize = 8192;
/// Public keys (verification, encryption) under `weak_rsa`.
pub const WEAK_PUBLIC_MIN_BITS: usize = 512;
/// Key-pair generation range (bits; every size in it, to the bit). From [`WEAK_GEN_MIN_BITS`]
/// only with the SAM override `weak_rsa`. What CKM_RSA_PKCS_KEY_PAIR_GEN's mechanism info says.
pub const GEN_MIN_BITS: usize = 2048;
pub const GEN_MAX_BITS: usize = 8192;
pub const WEAK_GEN_MIN_BITS: usize = 1024;

/// A parsed RSA key (public, or private with CRT values).
pub struct RsaKey {
    pub(crate) engine: ffi::Rsa,
}

impl RsaKey {
    /// Modulus length in bytes (k): the length of every signature and ciphertext.
    pub fn len(&self) -> usize {
        self.engine.size()
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn bits(&self) -> usize {
        self.engine.bits()
    }
    pub fn is_private(&self) -> bool {
        self.engine.is_private()
    }
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKey({} bits, private: {})", self.bits(), self.is_private())
    }
}

/// DER DigestInfo prefix (RFC 8017 §9.2 note 1) for each digest.
pub(super) fn digest_info_prefix(md: Md) -> &'static [u8] {
    match md {
        Md::Sha1 => &[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14],
        Md::Sha224 => &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04,
            0x1c,
        ],
        Md::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
            0x20,
        ],
        Md::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04,
            0x30,
        ],
        Md::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04,
            0x40,
        ],
    }
}

/// OAEP parameters: (hash, MGF1 hash, label). The hash must be SHA-1/224/256/384/512 and the
/// MGF1 digest the same one; anything else is `CKR_MECHANISM_PARAM_INVALID`.
pub(crate) fn oaep_params(p: &Params) -> Result<(Md, Md, &[u8])> {
    match p {
        Params::Oaep { hash, mgf, label } => {
            let md = Md::from_mech(*hash).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
            let mgf1 = Md::from_mgf(*mgf).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
            if md != mgf1 {
                return err(CKR_MECHANISM_PARAM_INVALID);
            }
            Ok((md, mgf1, label))
        }
        _ => err(CKR_MECHANISM_PARAM_INVALID),
    }
}

fn no_params(p: &Params) -> Result<()> {
    match p {
        Params::None => Ok(()),
        Params::Raw(v) if v.is_empty() => Ok(()),
        _ => err(CKR_MECHANISM_PARAM_INVALID),
    }
}

// ---------------------------------------------------------------------------------------------
// Encryption schemes (encrypt/decrypt and wrap/unwrap)
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
enum Crypt {
    Pkcs1,
    X509,
    Oaep { md: Md, mgf1: Md, label: Vec<u8> },
}

impl Crypt {
    /// Largest plaintext for a k-byte modulus.
    fn max_input(&self, k: usize) -> usize {
        match self {
            Crypt::Pkcs1 => k.saturating_sub(11),
            Crypt::X509 => k,
            Crypt::Oaep { md, .. } => k.saturating_sub(2 * md.len() + 2),
        }
    }
}

/// Encrypts `input` into `out` (at least k bytes): `CKR_DATA_LEN_RANGE` when too long,
/// `CKR_DATA_INVALID` for an X.509 block not below the modulus.
fn encrypt_into(key: &RsaKey, s: &Crypt, input: &[u8], out: &mut [u8]) -> Result<usize> {
    let k = key.len();
    if input.len() > s.max_input(k) {
        return err(CKR_DATA_LEN_RANGE);
    }
    if out.len() < k {
        return err(CKR_BUFFER_TOO_SMALL);
    }
    let out = &mut out[..k];
    let r = match s {
        Crypt::Pkcs1 => key.engine.encrypt(Pad::Pkcs1, input, out),
        Crypt::X509 => {
            let mut block = Zeroizing::new(vec![0u8; k]);
            block[k - input.len()..].copy_from_slice(input);
            key.engine.encrypt(Pad::None, &block, out).map_err(|_| Error::new(CKR_DATA_INVALID))?;
            Ok(k)
        }
        Crypt::Oaep { md, mgf1, label } => key.engine.oaep(false, *md, *mgf1, label, input, out),
    };
    r.map_err(|_| Error::new(CKR_FUNCTION_FAILED))
}

/// Decrypts a k-byte `input`: `CKR_ENCRYPTED_DATA_LEN_RANGE` for another length,
/// `CKR_ENCRYPTED_DATA_INVALID` when the padding does not check (one answer for every failure).
fn decrypt_with(key: &RsaKey, s: &Crypt, input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let k = key.len();
    if input.len() != k {
        return err(CKR_ENCRYPTED_DATA_LEN_RANGE);
    }
    let mut out = Zeroizing::new(vec![0u8; k]);
    let r = match s {
        Crypt::Pkcs1 => key.engine.decrypt(Pad::Pkcs1, input, &mut out),
        Crypt::X509 => key.engine.decrypt(Pad::None, input, &mut out),
        Crypt::Oaep { md, mgf1, label } => key.engine.oaep(true, *md, *mgf1, label, input, &mut out),
    };
    let n = r.map_err(|_| Error::new(CKR_ENCRYPTED_DATA_INVALID))?;
    out.truncate(n);
    Ok(out)
}

/// RSA-OAEP encryption of a short secret under `key` with the given hashes and label (for
/// CKM_RSA_AES_KEY_WRAP): k bytes.
pub(crate) fn oaep_encrypt(key: &RsaKey, md: Md, mgf1: Md, label: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; key.len()];
    let s = Crypt::Oaep { md, mgf1, label: label.to_vec() };
    let n = encrypt_into(key, &s, input, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// RSA-OAEP decryption (for CKM_RSA_AES_KEY_WRAP); errors as for decryption.
pub(crate) fn oaep_decrypt(key: &RsaKey, md: Md, mgf1: Md, label: &[u8], input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    decrypt_with(key, &Crypt::Oaep { md, mgf1, label: label.to_vec() }, input)
}

struct RsaCipher {
    key: Arc<RsaKey>,
    scheme: Crypt,
    decrypt: bool,
    /// Input gathered by `update` (RSA is single-block; finalize does the work).
    buf: Zeroizing<Vec<u8>>,
}

impl RsaCipher {
    fn limit(&self) -> (usize, CK_RV) {
        if self.decrypt {
            (self.key.len(), CKR_ENCRYPTED_DATA_LEN_RANGE)
        } else {
            (self.scheme.max_input(self.key.len()), CKR_DATA_LEN_RANGE)
        }
    }

    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.decrypt {
            let pt = decrypt_with(&self.key, &self.scheme, input)?;
            if out.len() < pt.len() {
                return err(CKR_BUFFER_TOO_SMALL);
            }
            out[..pt.len()].copy_from_slice(&pt);
            Ok(pt.len())
        } else {
            encrypt_into(&self.key, &self.scheme, input, out)
        }
    }
}

impl CipherOp for RsaCipher {
    fn update_len(&self, _input_len: usize) -> usize {
        0
    }

    fn update(&mut self, input: &[u8], _out: &mut [u8]) -> Result<usize> {
        let (max, rv) = self.limit();
        if self.buf.len() + input.len() > max {
            return err(rv);
        }
        self.buf.extend_from_slice(input);
        Ok(0)
    }

    fn final_len(&self) -> usize {
        self.key.len()
    }

    fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        let r = self.run(&self.buf, out);
        // A too-small buffer keeps the input for a retry; anything else ends the operation.
        if !matches!(&r, Err(e) if e.rv() == CKR_BUFFER_TOO_SMALL) {
            self.buf.zeroize();
            self.buf.clear();
        }
        r
    }

    fn single_len(&self, _input_len: usize) -> usize {
        self.key.len()
    }

    fn single(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.buf.is_empty() {
            self.run(input, out)
        } else {
            self.update(input, out)?;
            self.finalize(out)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signature schemes
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Sig {
    /// PKCS#1 v1.5 type 1 over the message (raw) or a DigestInfo of its hash.
    Pkcs1,
    /// No padding: the message left-padded to k bytes.
    X509,
    /// RSASSA-PSS over the message (a digest) or its hash.
    Pss { md: Md, mgf1: Md, salt: usize },
}

enum Msg {
    Raw(Zeroizing<Vec<u8>>),
    Hash(digest::Context, Md),
}

struct RsaSign {
    key: Arc<RsaKey>,
    sig: Sig,
    /// `None` once finished.
    msg: Option<Msg>,
    /// Largest raw message (single-part mechanisms).
    max_raw: usize,
}

impl RsaSign {
    fn new(key: Arc<RsaKey>, sig: Sig, hash: Option<Md>) -> Self {
        let k = key.len();
        let max_raw = match sig {
            Sig::Pkcs1 => k.saturating_sub(11),
            Sig::X509 => k,
            Sig::Pss { md, .. } => md.len(),
        };
        let msg = match hash {
            Some(md) => Msg::Hash(digest::Context::new(md.algorithm()), md),
            None => Msg::Raw(Zeroizing::new(Vec::new())),
        };
        RsaSign { key, sig, msg: Some(msg), max_raw }
    }

    /// The value the padding is applied to: the raw message, a DigestInfo, or a digest.
    fn representative(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let msg = self.msg.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        Ok(match msg {
            Msg::Raw(v) => {
                let ok = match self.sig {
                    Sig::Pss { md, .. } => v.len() == md.len(),
                    _ => v.len() <= self.max_raw,
                };
                if !ok {
                    return err(CKR_DATA_LEN_RANGE);
                }
                v
            }
            Msg::Hash(ctx, md) => {
                let d = ctx.finish();
                match self.sig {
                    Sig::Pkcs1 => {
                        let prefix = digest_info_prefix(md);
                        let mut v = Zeroizing::new(Vec::with_capacity(prefix.len() + md.len()));
                        v.extend_from_slice(prefix);
                        v.extend_from_slice(d.as_ref());
                        v
                    }
                    _ => Zeroizing::new(d.as_ref().to_vec()),
                }
            }
        })
    }

    fn x509_block(&self, m: &[u8]) -> Zeroizing<Vec<u8>> {
        let k = self.key.len();
        let mut block = Zeroizing::new(vec![0u8; k]);
        block[k - m.len()..].copy_from_slice(m);
        block
    }
}

impl SignOp for RsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        match self.msg.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)? {
            Msg::Raw(v) => {
                if v.len() + data.len() > self.max_raw {
                    return err(CKR_DATA_LEN_RANGE);
                }
                v.extend_from_slice(data);
            }
            Msg::Hash(ctx, _) => ctx.update(data),
        }
        Ok(())
    }

    fn sig_len(&self) -> usize {
        self.key.len()
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        let k = self.key.len();
        if out.len() < k {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        let m = self.representative()?;
        let out = &mut out[..k];
        let eng = &self.key.engine;
        match self.sig {
            Sig::Pkcs1 => eng.sign_raw(Pad::Pkcs1, &m, out).map_err(|_| Error::new(CKR_FUNCTION_FAILED)),
            Sig::X509 => eng.sign_raw(Pad::None, &self.x509_block(&m), out).map_err(|_| Error::new(CKR_DATA_INVALID)),
            Sig::Pss { md, mgf1, salt } => {
                eng.sign_pss(md, mgf1, salt, &m, out).map_err(|_| Error::new(CKR_FUNCTION_FAILED))
            }
        }
    }

    fn verify_final(&mut self, sig: &[u8]) -> Result<()> {
        let k = self.key.len();
        let m = self.representative()?;
        if sig.len() != k {
            return err(CKR_SIGNATURE_LEN_RANGE);
        }
        let eng = &self.key.engine;
        let invalid = || Error::new(CKR_SIGNATURE_INVALID);
        match self.sig {
            Sig::Pkcs1 | Sig::X509 => {
                let mut rec = Zeroizing::new(vec![0u8; k]);
                let (pad, expect) = match self.sig {
                    Sig::Pkcs1 => (Pad::Pkcs1, m),
                    _ => (Pad::None, self.x509_block(&m)),
                };
                let n = eng.verify_raw(pad, sig, &mut rec).map_err(|_| invalid())?;
                constant_time::verify_slices_are_equal(&rec[..n], &expect).map_err(|_| invalid())
            }
            Sig::Pss { md, mgf1, salt } => {
                if eng.verify_pss(md, mgf1, salt, &m, sig) {
                    Ok(())
                } else {
                    Err(invalid())
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mechanisms
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
    /// CKM_RSA_PKCS.
    Pkcs1,
    /// CKM_RSA_X_509.
    X509,
    /// CKM_SHAxxx_RSA_PKCS.
    Pkcs1Hash(Md),
    /// CKM_RSA_PKCS_OAEP.
    Oaep,
    /// CKM_RSA_PKCS_PSS (digest given by the caller).
    Pss,
    /// CKM_SHAxxx_RSA_PKCS_PSS.
    PssHash(Md),
}

/// One RSA mechanism.
pub struct RsaMech {
    kind: Kind,
}

pub static RSA_PKCS: RsaMech = RsaMech { kind: Kind::Pkcs1 };
pub static RSA_X_509: RsaMech = RsaMech { kind: Kind::X509 };
pub static SHA1_RSA_PKCS: RsaMech = RsaMech { kind: Kind::Pkcs1Hash(Md::Sha1) };
pub static SHA224_RSA_PKCS: RsaMech = RsaMech { kind: Kind::Pkcs1Hash(Md::Sha224) };
pub static SHA256_RSA_PKCS: RsaMech = RsaMech { kind: Kind::Pkcs1Hash(Md::Sha256) };
pub static SHA384_RSA_PKCS: RsaMech = RsaMech { kind: Kind::Pkcs1Hash(Md::Sha384) };
pub static SHA512_RSA_PKCS: RsaMech = RsaMech { kind: Kind::Pkcs1Hash(Md::Sha512) };
pub static RSA_PKCS_OAEP: RsaMech = RsaMech { kind: Kind::Oaep };
pub static RSA_PKCS_PSS: RsaMech = RsaMech { kind: Kind::Pss };
pub static SHA1_RSA_PKCS_PSS: RsaMech = RsaMech { kind: Kind::PssHash(Md::Sha1) };
pub static SHA224_RSA_PKCS_PSS: RsaMech = RsaMech { kind: Kind::PssHash(Md::Sha224) };
pub static SHA256_RSA_PKCS_PSS: RsaMech = RsaMech { kind: Kind::PssHash(Md::Sha256) };
pub static SHA384_RSA_PKCS_PSS: RsaMech = RsaMech { kind: Kind::PssHash(Md::Sha384) };
pub static SHA512_RSA_PKCS_PSS: RsaMech = RsaMech { kind: Kind::PssHash(Md::Sha512) };

impl RsaMech {
    fn crypt(&self, p: &Params, key: &RsaKey) -> Result<Crypt> {
        match self.kind {
            Kind::Pkcs1 => no_params(p).map(|_| Crypt::Pkcs1),
            Kind::X509 => no_params(p).map(|_| Crypt::X509),
            Kind::Oaep => {
                let (md, mgf1, label) = oaep_params(p)?;
                if key.len() < 2 * md.len() + 2 {
                    return err(CKR_KEY_SIZE_RANGE);
                }
                Ok(Crypt::Oaep { md, mgf1, label: label.to_vec() })
            }
            _ => err(CKR_MECHANISM_INVALID),
        }
    }

    fn sig(&self, p: &Params, key: &RsaKey) -> Result<(Sig, Option<Md>)> {
        match self.kind {
            Kind::Pkcs1 => no_params(p).map(|_| (Sig::Pkcs1, None)),
            Kind::X509 => no_params(p).map(|_| (Sig::X509, None)),
            Kind::Pkcs1Hash(md) => no_params(p).map(|_| (Sig::Pkcs1, Some(md))),
            Kind::Pss | Kind::PssHash(_) => {
                let Params::Pss { hash, mgf, salt_len } = p else { return err(CKR_MECHANISM_PARAM_INVALID) };
                let md = Md::from_mech(*hash).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
                let mgf1 = Md::from_mgf(*mgf).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
                if mgf1 != md || matches!(self.kind, Kind::PssHash(m) if m != md) {
                    return err(CKR_MECHANISM_PARAM_INVALID);
                }
                // RFC 8017 §9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits - 1) / 8).
                let em_len = (key.bits() - 1).div_ceil(8);
                // Checked arithmetic: a salt length near usize::MAX must not wrap the bound.
                if md.len().checked_add(*salt_len).and_then(|n| n.checked_add(2)).is_none_or(|need| em_len < need) {
                    return err(CKR_MECHANISM_PARAM_INVALID);
                }
                let hash = matches!(self.kind, Kind::PssHash(_)).then_some(md);
                Ok((Sig::Pss { md, mgf1, salt: *salt_len }, hash))
            }
            Kind::Oaep => err(CKR_MECHANISM_INVALID),
        }
    }

    fn start_sign(&self, p: &Params, key: &Arc<RsaKey>) -> Result<Box<dyn SignOp>> {
        let (sig, hash) = self.sig(p, key)?;
        Ok(Box::new(RsaSign::new(key.clone(), sig, hash)))
    }

    fn start_cipher(&self, p: &Params, key: &Arc<RsaKey>, decrypt: bool) -> Result<Box<dyn CipherOp>> {
        let scheme = self.crypt(p, key)?;
        Ok(Box::new(RsaCipher { key: key.clone(), scheme, decrypt, buf: Zeroizing::new(Vec::new()) }))
    }

    fn is_cipher(&self) -> bool {
        matches!(self.kind, Kind::Pkcs1 | Kind::X509 | Kind::Oaep)
    }
}

/// The public key of an encryption or a wrap: at least [`MIN_BITS`], whatever `weak_rsa`
/// allows for verification (what is sealed to a factorable key is not sealed).
pub fn strong_public(key: &KeyMaterial) -> Result<&Arc<RsaKey>> {
    let k = key.rsa_public()?;
    if k.bits() < MIN_BITS {
        return err(CKR_KEY_SIZE_RANGE);
    }
    Ok(k)
}

impl Mechanism for RsaMech {
    fn encrypt(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        if !self.is_cipher() {
            return err(CKR_MECHANISM_INVALID);
        }
        self.start_cipher(p, strong_public(key)?, false)
    }

    fn decrypt(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        if !self.is_cipher() {
            return err(CKR_MECHANISM_INVALID);
        }
        self.start_cipher(p, key.rsa_private()?, true)
    }

    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start_sign(p, key.rsa_private()?)
    }

    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start_sign(p, key.rsa_public()?)
    }

    fn wrap(&self, p: &Params, key: &KeyMaterial, plaintext: &[u8]) -> Result<Vec<u8>> {
        if !matches!(self.kind, Kind::Pkcs1 | Kind::Oaep) {
            return err(CKR_MECHANISM_INVALID);
        }
        key.rsa_public().map_err(|_| Error::new(CKR_WRAPPING_KEY_TYPE_INCONSISTENT))?;
        let key = strong_public(key)?;
        let scheme = self.crypt(p, key)?;
        if plaintext.is_empty() {
            return err(CKR_KEY_SIZE_RANGE);
        }
        let mut out = vec![0u8; key.len()];
        let n = encrypt_into(key, &scheme, plaintext, &mut out).map_err(|e| match e.rv() {
            CKR_DATA_LEN_RANGE => Error::new(CKR_KEY_SIZE_RANGE),
            _ => e,
        })?;
        out.truncate(n);
        Ok(out)
    }

    fn unwrap(&self, p: &Params, key: &KeyMaterial, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if !matches!(self.kind, Kind::Pkcs1 | Kind::Oaep) {
            return err(CKR_MECHANISM_INVALID);
        }
        let key = key.rsa_private().map_err(|_| Error::new(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT))?;
        let scheme = self.crypt(p, key)?;
        decrypt_with(key, &scheme, wrapped).map_err(|e| match e.rv() {
            CKR_ENCRYPTED_DATA_LEN_RANGE => Error::new(CKR_WRAPPED_KEY_LEN_RANGE),
            CKR_ENCRYPTED_DATA_INVALID => Error::new(CKR_WRAPPED_KEY_INVALID),
            _ => e,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mech::testutil::*;
    use crate::object::attr::AttrMap;

    /// RSA Laboratories pkcs1v15sign-vectors.txt, Example 1 (1024-bit key) and signature 1.1
    /// (SHA-1): n, e, d, p, q, dP, dQ, qInv.
    pub const EX1: [&str; 8] = [
        "a5 6e 4a 0e 70 10 17 58 9a 51 87 dc 7e a8 41 d1 56 f2 ec 0e 36 ad 52 a4 4d fe b1 e6 1f 7a d9 91
         d8 c5 10 56 ff ed b1 62 b4 c0 f2 83 a1 2a 88 a3 94 df f5 26 ab 72 91 cb b3 07 ce ab fc e0 b1 df
         d5 cd 95 08 09 6d 5b 2b 8b 6d f5 d6 71 ef 63 77 c0 92 1c b2 3c 27 0a 70 e2 59 8e 6f f8 9d 19 f1
         05 ac c2 d3 f0 cb 35 f2 92 80 e1 38 6b 6f 64 c4 ef 22 e1 e1 f2 0d 0c e8 cf fb 22 49 bd 9a 21 37",
        "01 00 01",
        "33 a5 04 2a 90 b2 7d 4f 54 51 ca 9b bb d0 b4 47 71 a1 01 af 88 43 40 ae f9 88 5f 2a 4b be 92 e8
         94 a7 24 ac 3c 56 8c 8f 97 85 3a d0 7c 02 66 c8 c6 a3 ca 09 29 f1 e8 f1 12 31 88 44 29 fc 4d 9a
         e5 5f ee 89 6a 10 ce 70 7c 3e d7 e7 34 e4 47 27 a3 95 74 50 1a 53 26 83 10 9c 2a ba ca ba 28 3c
         31 b4 bd 2f 53 c3 ee 37 e3 52 ce e3 4f 9e 50 3b d8 0c 06 22 ad 79 c6 dc ee 88 35 47 c6 a3 b3 25",
        "e7 e8 94 27 20 a8 77 51 72 73 a3 56 05 3e a2 a1 bc 0c 94 aa 72 d5 5c 6e 86 29 6b 2d fc 96 79 48
         c0 a7 2c bc cc a7 ea cb 35 70 6e 09 a1 df 55 a1 53 5b d9 b3 cc 34 16 0b 3b 6d cd 3e da 8e 64 43",
        "b6 9d ca 1c f7 d4 d7 ec 81 e7 5b 90 fc ca 87 4a bc de 12 3f d2 70 01 80 aa 90 47 9b 6e 48 de 8d
         67 ed 24 f9 f1 9d 85 ba 27 58 74 f5 42 cd 20 dc 72 3e 69 63 36 4a 1f 94 25 45 2b 26 9a 67 99 fd",
        "28 fa 13 93 86 55 be 1f 8a 15 9c ba ca 5a 72 ea 19 0c 30 08 9e 19 cd 27 4a 55 6f 36 c4 f6 e1 9f
         55 4b 34 c0 77 79 04 27 bb dd 8d d3 ed e2 44 83 28 f3 85 d8 1b 30 e8 e4 3b 2f ff a0 27 86 19 79",
        "1a 8b 38 f3 98 fa 71 20 49 89 8d 7f b7 9e e0 a7 76 68 79 12 99 cd fa 09 ef c0 e5 07 ac b2 1e d7
         43 01 ef 5b fd 48 be 45 5e ae b6 e1 67 82 55 82 75 80 a8 e4 e8 e1 41 51 d1 51 0a 82 a3 f2 e7 29",
        "27 15 6a ba 41 26 d2 4a 81 f3 a5 28 cb fb 27 f5 68 86 f8 40 a9 f6 e8 6e 17 a4 4b 94 fe 93 19 58
         4b 8e 22 fd de 1e 5a 2e 3b d8 aa 5b a8 d8 58 41 94 eb 21 90 ac f8 32 b8 47 f1 3a 3d 24 a7 9f 4d",
    ];
    pub const EX1_MSG: &str =
        "cd c8 7d a2 23 d7 86 df 3b 45 e0 bb bc 72 13 26 d1 ee 2a f8 06 cc 31 54 75 cc 6f 0d 9c 66 e1 b6
        23 71 d4 5c e2 39 2e 1a c9 28 44 c3 10 10 2f 15 6a 0d 8d 52 c1 f4 c4 0b a3 aa 65 09 57 86 cb 76
        97 57 a6 56 3b a9 58 fe d0 bc c9 84 e8 b5 17 a3 d5 f5 15 b2 3b 8a 41 e7 4a a8 67 69 3f 90 df b0
        61 a6 e8 6d fa ae e6 44 72 c0 0e 5f 20 94 57 29 cb eb e7 7f 06 ce 78 e0 8f 40 98 fb a4 1f 9d 61
        93 c0 31 7e 8b 60 d4 b6 08 4a cb 42 d2 9e 38 08 a3 bc 37 2d 85 e3 31 17 0f cb f7 cc 72 d0 b7 1c
        29 66 48 b3 a4 d1 0f 41 62 95 d0 80 7a a6 25 ca b2 74 4f d9 ea 8f d2 23 c4 25 37 02 98 28 bd 16
        be 02 54 6f 13 0f d2 e3 3b 93 6d 26 76 e0 8a ed 1b 73 31 8b 75 0a 01 67 d0";
    pub const EX1_SIG: &str =
        "6b c3 a0 66 56 84 29 30 a2 47 e3 0d 58 64 b4 d8 19 23 6b a7 c6 89 65 86 2a d7 db c4 e2 4a f2 8e
        86 bb 53 1f 03 35 8b e5 fb 74 77 7c 60 86 f8 50 ca ef 89 3f 0d 6f cc 2d 0c 91 ec 01 36 93 b4 ea
        00 b8 0c d4 9a ac 4e cb 5f 89 11 af e5 39 ad a4 a8 f3 82 3d 1d 13 e4 72 d1 49 05 47 c6 59 c7 61
        7f 3d 24 08 7d db 6f 2b 72 09 61 67 fc 09 7c ab 18 e9 a4 58 fc b6 34 cd ce 8e e3 58 94 c4 84 d7";

    /// RFC 8017 test vectors (pkcs-1v2-1-vec, oaep-vect.txt), Example 1 key (1024 bits) and
    /// RSAES-OAEP Encryption Example 1.1 (SHA-1, MGF1-SHA-1, empty label).
    pub const OAEP1: [&str; 8] = [
        "a8 b3 b2 84 af 8e b5 0b 38 70 34 a8 60 f1 46 c4 91 9f 31 87 63 cd 6c 55 98 c8 ae 48 11 a1 e0 ab
         c4 c7 e0 b0 82 d6 93 a5 e7 fc ed 67 5c f4 66 85 12 77 2c 0c bc 64 a7 42 c6 c6 30 f5 33 c8 cc 72
         f6 2a e8 33 c4 0b f2 58 42 e9 84 bb 78 bd bf 97 c0 10 7d 55 bd b6 62 f5 c4 e0 fa b9 84 5c b5 14
         8e f7 39 2d d3 aa ff 93 ae 1e 6b 66 7b b3 d4 24 76 16 d4 f5 ba 10 d4 cf d2 26 de 88 d3 9f 16 fb",
        "01 00 01",
        "53 33 9c fd b7 9f c8 46 6a 65 5c 73 16 ac a8 5c 55 fd 8f 6d d8 98 fd af 11 95 17 ef 4f 52 e8 fd
         8e 25 8d f9 3f ee 18 0f a0 e4 ab 29 69 3c d8 3b 15 2a 55 3d 4a c4 d1 81 2b 8b 9f a5 af 0e 7f 55
         fe 73 04 df 41 57 09 26 f3 31 1f 15 c4 d6 5a 73 2c 48 31 16 ee 3d 3d 2d 0a f3 54 9a d9 bf 7c bf
         b7 8a d8 84 f8 4d 5b eb 04 72 4d c7 36 9b 31 de f3 7d 0c f5 39 e9 cf cd d3 de 65 37 29 ea d5 d1",
        "d3 27 37 e7 26 7f fe 13 41 b2 d5 c0 d1 50 a8 1b 58 6f b3 13 2b ed 2f 8d 52 62 86 4a 9c b9 f3 0a
         f3 8b e4 48 59 8d 41 3a 17 2e fb 80 2c 21 ac f1 c1 1c 52 0c 2f 26 a4 71 dc ad 21 2e ac 7c a3 9d",
        "cc 88 53 d1 d5 4d a6 30 fa c0 04 f4 71 f2 81 c7 b8 98 2d 82 24 a4 90 ed be b3 3d 3e 3d 5c c9 3c
         47 65 70 3d 1d d7 91 64 2f 1f 11 6a 0d d8 52 be 24 19 b2 af 72 bf e9 a0 30 e8 60 b0 28 8b 5d 77",
        "0e 12 bf 17 18 e9 ce f5 59 9b a1 c3 88 2f e8 04 6a 90 87 4e ef ce 8f 2c cc 20 e4 f2 74 1f b0 a3
         3a 38 48 ae c9 c9 30 5f be cb d2 d7 68 19 96 7d 46 71 ac c6 43 1e 40 37 96 8d b3 78 78 e6 95 c1",
        "95 29 7b 0f 95 a2 fa 67 d0 07 07 d6 09 df d4 fc 05 c8 9d af c2 ef 6d 6e a5 5b ec 77 1e a3 33 73
         4d 92 51 e7 90 82 ec da 86 6e fe f1 3c 45 9e 1a 63 13 86 b7 e3 54 c8 99 f5 f1 12 ca 85 d7 15 83",
        "4f 45 6c 50 24 93 bd c0 ed 2a b7 56 a3 a6 ed 4d 67 35 2a 69 7d 42 16 e9 32 12 b1 27 a6 3d 54 11
         ce 6f a9 8d 5d be fd 73 26 3e 37 28 14 27 43 81 81 66 ed 7d d6 36 87 dd 2a 8c a1 d2 f4 fb d8 e1",
    ];
    /// Example 1.1: message, seed, ciphertext.
    pub const OAEP1_1: [&str; 3] = [
        "66 28 19 4e 12 07 3d b0 3b a9 4c da 9e f9 53 23 97 d5 0d ba 79 b9 87 00 4a fe fe 34",
        "18 b7 76 ea 21 06 9d 69 77 6a 33 e9 6b ad 48 e1 dd a0 a5 ef",
        "35 4f e6 7b 4a 12 6d 5d 35 fe 36 c7 77 79 1a 3f 7b a1 3d ef 48 4e 2d 39 08 af f7 22 fa d4 68 fb
         21 69 6d e9 5d 0b e9 11 c2 d3 17 4f 8a fc c2 01 03 5f 7b 6d 8e 69 40 2d e5 45 16 18 c2 1a 53 5f
         a9 d7 bf c5 b8 dd 9f c2 43 f8 cf 92 7d b3 13 22 d6 e8 81 ea a9 1a 99 61 70 e6 57 a0 5a 26 64 26
         d9 8c 88 00 3f 84 77 c1 22 70 94 a0 d9 fa 1e 8c 40 24 30 9c e1 ec cc b5 21 00 35 d4 7a c7 2e 8a",
    ];

    /// RSA Laboratories pss-int.txt (RFC 8017 test data): 1024-bit public key, message, mHash
    /// (SHA-1), 20-byte salt, signature.
    const PSS_N: &str =
        "a2 ba 40 ee 07 e3 b2 bd 2f 02 ce 22 7f 36 a1 95 02 44 86 e4 9c 19 cb 41 bb bd fb ba 98 b2 2b 0e
        57 7c 2e ea ff a2 0d 88 3a 76 e6 5e 39 4c 69 d4 b3 c0 5a 1e 8f ad da 27 ed b2 a4 2b c0 00 fe 88
        8b 9b 32 c2 2d 15 ad d0 cd 76 b3 e7 93 6e 19 95 5b 22 0d d1 7d 4e a9 04 b1 ec 10 2b 2e 4d e7 75
        12 22 aa 99 15 10 24 c7 cb 41 cc 5e a2 1d 00 ee b4 1f 7c 80 08 34 d2 c6 e0 6b ce 3b ce 7e a9 a5";
    const PSS_MSG: &str =
        "85 9e ef 2f d7 8a ca 00 30 8b dc 47 11 93 bf 55 bf 9d 78 db 8f 8a 67 2b 48 46 34 f3 c9 c2 6e 64
        78 ae 10 26 0f e0 dd 8c 08 2e 53 a5 29 3a f2 17 3c d5 0c 6d 5d 35 4f eb f7 8b 26 02 1c 25 c0 27
        12 e7 8c d4 69 4c 9f 46 97 77 e4 51 e7 f8 e9 e0 4c d3 73 9c 6b bf ed ae 48 7f b5 56 44 e9 ca 74
        ff 77 a5 3c b7 29 80 2f 6e d4 a5 ff a8 ba 15 98 90 fc";
    const PSS_MHASH: &str = "37 b6 6a e0 44 58 43 35 3d 47 ec b0 b4 fd 14 c1 10 e6 2d 6a";
    const PSS_SIG: &str =
        "8d aa 62 7d 3d e7 59 5d 63 05 6c 7e c6 59 e5 44 06 f1 06 10 12 8b aa e8 21 c8 b2 a0 f3 93 6d 54
        dc 3b dc e4 66 89 f6 b7 95 1b b1 8e 84 05 42 76 97 18 d5 71 5d 21 0d 85 ef bb 59 61 92 03 2c 42
        be 4c 29 97 2c 85 62 75 eb 6d 5a 45 f0 5f 51 87 6f c6 74 3d ed dd 28 ca ec 9b b3 0e a9 9e 02 c3
        48 82 69 60 4f e4 97 f7 4c cd 7c 7f ca 16 71 89 71 23 cb d3 0d ef 5d 54 a2 b5 53 6a d9 0a 74 7e";

    /// NIST CAVS 10.1 SigGen15_186-3.rsp (as mirrored by pyca/cryptography), [mod = 1024],
    /// e = 0x1001: (hash mechanism, message, signature).
    const SIGGEN15_N: &str = "a3ecf80ff1804833c36a89a1583f58ef3332476a50a153e73ced17796139636045c131a6b17222ba8848f70150b18dfa390bfb1670ae982dfbc311fd0ede055564687af3805ca883944bb5ac9ec19b0e0cfbd9a314d70b17080c3d49b50cbf417062eb41bd639d67a5fb330ec55a0489fee08eeec97ed487c114b20393fe0aef";
    const SIGGEN15: [(CK_MECHANISM_TYPE, &str, &str); 3] = [
        (
            CKM_SHA1_RSA_PKCS,
            "1018469fda81f41922cfdb2dca679f7f3a286f11ba448ab71e4e02cca994c0242caec9416e57c0cad07cab383193fad3102ec5ddf0d0550d01ffe63ffc9aab694f6d13d17a034b7db9bb04ebe31e76039270a44a8485e25841d7958cfed53bfec27dabb5c72c9d1b23b56cada7b11bf7081797c03c0d3b8227fd991d77ea78cb",
            "147A8797D9D653F52D210135F61BBDFE59698D755B076230F2B252E7792C86121469FAB7B410789DF4F193A76E8BE99A2162E422C6A56106FA4E2FE5ABAFC542FF1A899D8580F9F6B4CD29A8310CD34964CE22BBAD9618D97E4C36695B246BDD0C0D5D0C75D044265E6F275A272718B0C2B93974DC76DDCCA985BEF994CE67BD",
        ),
        (
            CKM_SHA224_RSA_PKCS,
            "ee957a3107024f9a51d212fc6ff18d46a26a2d80df2cb6b1250f36010d12381ba3e639d574b16013e80c69e8d24de3ff460c9b3aabe05898106ac85cc495bb6c201b8ff7a84ceb5a530bb14526192d1907969395d1c4a8b2a40fbfcb7f4ae701103c63deca5b5a3939d7d05992dad55d8f0ffcda79610fc78605019666ba24a4",
            "10FAFCF4B543C9D58C1658A9D96E2D3BA1276406951B2D2EA5A7930FA18A88F88A0EBDC53038C0277F7F00E699B5AA4977B25D42EDACF3ED6EBA656C177BBBA622B710E5BD78DE381F626E38B5D49FA06FD5E0E9ACB5FC67AE86107313575BE75BB4535864B57ADEF917DAE1F04B0ED4BD02EE81CC3F0CAA9B7A9A9D940D9372",
        ),
        (
            CKM_SHA256_RSA_PKCS,
            "dfce08b64b9ea4014947012670548da4ceeee084dbfe509aac92bf096982b8050153bbdd1c5bd4385226729e9a19773b05558ce0acdfb74be6fd2fa8bfe36f58a68e89f066f1bd85584f4a27d6e884abf2d727ae683bebd6d295585b1b71dcc636491bf910a68670c3882fc60c08db7bff3c59f4f95b13c3d721e329657528d9",
            "8D9D30A87DF0C2F6CD651FCAF2B9AC1296287AD3D4B03132E330F08AB701FC197040D0A261F631E7E34478B592551E1F682395C9E2B54C8CE8B0C72C1B5A79748CC34F9152730A7F67FAE1225A4CE750F1D5D4E288176DF197E7503C88B5BAECEF3ABCF2875F111E6D7F7B4DC8AFA2ED3C1D7AD8E7CF45A77F0B1CB178518402",
        ),
    ];

    pub const TYPES: [CK_ATTRIBUTE_TYPE; 8] = crate::mech::rsa::PRIVATE_COMPONENTS;

    /// A private key object from hex components (the first `n` of n, e, d, p, q, dP, dQ, qInv).
    pub fn private_attrs(c: &[&str; 8], n: usize) -> AttrMap {
        let v: Vec<Vec<u8>> = c.iter().map(|s| h(s)).collect();
        let items: Vec<(CK_ATTRIBUTE_TYPE, &[u8])> =
            TYPES.iter().copied().zip(v.iter().map(|x| &x[..])).take(n).collect();
        attrs(CKO_PRIVATE_KEY, CKK_RSA, &items)
    }

    pub fn public_attrs(n: &str, e: &str) -> AttrMap {
        attrs(CKO_PUBLIC_KEY, CKK_RSA, &[(CKA_MODULUS, &h(n)), (CKA_PUBLIC_EXPONENT, &h(e))])
    }

    const NONE: Params = Params::None;

    #[test]
    fn pkcs1v15_signature_example_1_1() {
        let k = material(&private_attrs(&EX1, 8));
        let msg = h(EX1_MSG);
        let sig = h(EX1_SIG);
        // Hashed mechanism: single-part and in pieces.
        assert_eq!(sign(&SHA1_RSA_PKCS, &NONE, &k, &msg).unwrap(), sig);
        assert_eq!(sign_parts(&SHA1_RSA_PKCS, &NONE, &k, &msg, 13).unwrap(), sig);
        // CKM_RSA_PKCS over a caller-built DigestInfo.
        let mut di = digest_info_prefix(Md::Sha1).to_vec();
        di.extend_from_slice(&digest(CKM_SHA_1, &msg));
        assert_eq!(sign(&RSA_PKCS, &NONE, &k, &di).unwrap(), sig);
        // Verification, with the private key's public half and with a public key.
        let public = material(&public_attrs(EX1[0], EX1[1]));
        for key in [&k, &public] {
            verify(&SHA1_RSA_PKCS, &NONE, key, &msg, &sig).unwrap();
            verify(&RSA_PKCS, &NONE, key, &di, &sig).unwrap();
            let mut bad = sig.clone();
            bad[40] ^= 4;
            assert_eq!(rv(verify(&SHA1_RSA_PKCS, &NONE, key, &msg, &bad)), CKR_SIGNATURE_INVALID);
            assert_eq!(rv(verify(&RSA_PKCS, &NONE, key, &di[1..], &sig)), CKR_SIGNATURE_INVALID);
            assert_eq!(rv(verify(&SHA1_RSA_PKCS, &NONE, key, &msg[1..], &sig)), CKR_SIGNATURE_INVALID);
            assert_eq!(rv(verify(&SHA1_RSA_PKCS, &NONE, key, &msg, &sig[1..])), CKR_SIGNATURE_LEN_RANGE);
            let mut long = sig.clone();
            long.push(0);
            assert_eq!(rv(verify(&SHA1_RSA_PKCS, &NONE, key, &msg, &long)), CKR_SIGNATURE_LEN_RANGE);
            // The DigestInfo signature is not a SHA-256 one.
            assert_eq!(rv(verify(&SHA256_RSA_PKCS, &NONE, key, &msg, &sig)), CKR_SIGNATURE_INVALID);
        }
        // A public key cannot sign.
        assert_eq!(rv(SHA1_RSA_PKCS.sign(&NONE, &public)), CKR_KEY_TYPE_INCONSISTENT);
    }

    #[test]
    fn nist_siggen15_signatures_verify() {
        let key = material(&public_attrs(SIGGEN15_N, "1001"));
        for (mech, msg, sig) in SIGGEN15 {
            let (msg, sig) = (h(msg), h(sig));
            verify(imp(mech), &NONE, &key, &msg, &sig).unwrap();
            let mut other = msg.clone();
            other[0] ^= 1;
            assert_eq!(rv(verify(imp(mech), &NONE, &key, &other, &sig)), CKR_SIGNATURE_INVALID);
        }
    }

    #[test]
    fn pss_verification_of_the_rfc_example() {
        let key = material(&public_attrs(PSS_N, "010001"));
        let (msg, mhash, sig) = (h(PSS_MSG), h(PSS_MHASH), h(PSS_SIG));
        assert_eq!(digest(CKM_SHA_1, &msg), mhash);
        let p = pss(CKM_SHA_1, CKG_MGF1_SHA1, 20);
        verify(&SHA1_RSA_PKCS_PSS, &p, &key, &msg, &sig).unwrap();
        verify(&RSA_PKCS_PSS, &p, &key, &mhash, &sig).unwrap();
        // Another salt length, another message, a flipped bit: invalid.
        assert_eq!(
            rv(verify(&RSA_PKCS_PSS, &pss(CKM_SHA_1, CKG_MGF1_SHA1, 0), &key, &mhash, &sig)),
            CKR_SIGNATURE_INVALID
        );
        assert_eq!(rv(verify(&SHA1_RSA_PKCS_PSS, &p, &key, &msg[1..], &sig)), CKR_SIGNATURE_INVALID);
        let mut bad = sig.clone();
        bad[127] ^= 1;
        assert_eq!(rv(verify(&RSA_PKCS_PSS, &p, &key, &mhash, &bad)), CKR_SIGNATURE_INVALID);
        // CKM_RSA_PKCS_PSS takes exactly a digest of the parameter's hash.
        assert_eq!(rv(verify(&RSA_PKCS_PSS, &p, &key, &mhash[1..], &sig)), CKR_DATA_LEN_RANGE);
        let mut long = mhash.clone();
        long.push(0);
        assert_eq!(rv(verify(&RSA_PKCS_PSS, &p, &key, &long, &sig)), CKR_DATA_LEN_RANGE);
    }

    #[test]
    fn oaep_decryption_of_rfc8017_example_1_1() {
        let key = material(&private_attrs(&OAEP1, 8));
        let [m, _seed, c] = OAEP1_1.map(h);
        let p = oaep(CKM_SHA_1, CKG_MGF1_SHA1, &[]);
        assert_eq!(decrypt(&RSA_PKCS_OAEP, &p, &key, &c).unwrap(), m);
        assert_eq!(decrypt_parts(&RSA_PKCS_OAEP, &p, &key, &c).unwrap(), m);
        assert_eq!(*RSA_PKCS_OAEP.unwrap(&p, &key, &c).unwrap(), m);
        // A label, or another hash, makes it fail (one answer for every failure).
        let wrong = [oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"x"), oaep(CKM_SHA256, CKG_MGF1_SHA256, &[])];
        for p in &wrong {
            assert_eq!(rv(decrypt(&RSA_PKCS_OAEP, p, &key, &c)), CKR_ENCRYPTED_DATA_INVALID);
            assert_eq!(rv(RSA_PKCS_OAEP.unwrap(p, &key, &c)), CKR_WRAPPED_KEY_INVALID);
        }
        let mut bad = c.clone();
        bad[5] ^= 0x10;
        assert_eq!(rv(decrypt(&RSA_PKCS_OAEP, &p, &key, &bad)), CKR_ENCRYPTED_DATA_INVALID);
        assert_eq!(rv(decrypt(&RSA_PKCS_OAEP, &p, &key, &c[1..])), CKR_ENCRYPTED_DATA_LEN_RANGE);
        assert_eq!(rv(RSA_PKCS_OAEP.unwrap(&p, &key, &c[1..])), CKR_WRAPPED_KEY_LEN_RANGE);
        // Our own encryption decrypts back.
        let public = material(&public_attrs(OAEP1[0], OAEP1[1]));
        let c2 = encrypt(&RSA_PKCS_OAEP, &p, &public, &m).unwrap();
        assert_eq!(c2.len(), 128);
        assert_ne!(c2, c);
        assert_eq!(decrypt(&RSA_PKCS_OAEP, &p, &key, &c2).unwrap(), m);
    }

    fn all_sign_cases(k: usize) -> Vec<(CK_MECHANISM_TYPE, Params, Vec<u8>)> {
        let msg: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut v = vec![(CKM_RSA_PKCS, NONE, msg[..k - 11].to_vec()), (CKM_RSA_X_509, NONE, msg[..20].to_vec())];
        for (hash, mgf, pkcs, pss_mech, len) in HASHES {
            v.push((pkcs, NONE, msg.clone()));
            for salt in [0, len, k - len - 2] {
                v.push((pss_mech, pss(hash, mgf, salt), msg.clone()));
                v.push((CKM_RSA_PKCS_PSS, pss(hash, mgf, salt), digest(hash, &msg)));
            }
        }
        v
    }

    #[test]
    fn every_signature_mechanism_round_trips_for_every_size() {
        for bits in [2048usize, 3072, 4096] {
            let (public, private) = rsa_pair(bits);
            let (pubk, k) = (material(&public), material(&private));
            let klen = bits / 8;
            for (mech, p, msg) in all_sign_cases(klen) {
                let m = imp(mech);
                let sig = sign(m, &p, &k, &msg).unwrap();
                assert_eq!(sig.len(), klen);
                verify(m, &p, &pubk, &msg, &sig).unwrap();
                // Multi-part signing gives a signature that verifies too (PKCS#1 v1.5 is
                // deterministic: the same one).
                let parts = sign_parts(m, &p, &k, &msg, 17).unwrap();
                verify(m, &p, &pubk, &msg, &parts).unwrap();
                if !matches!(p, Params::Pss { .. }) {
                    assert_eq!(parts, sig);
                }
                let mut bad = sig.clone();
                bad[klen / 2] ^= 0x40;
                assert_eq!(rv(verify(m, &p, &pubk, &msg, &bad)), CKR_SIGNATURE_INVALID, "{mech:#x}");
                assert_eq!(rv(verify(m, &p, &pubk, &msg, &sig[..klen - 1])), CKR_SIGNATURE_LEN_RANGE);
                // A public key cannot sign, an EC key cannot be used at all.
                assert_eq!(rv(m.sign(&p, &pubk)), CKR_KEY_TYPE_INCONSISTENT);
            }
        }
    }

    #[test]
    fn raw_x509_is_textbook_rsa() {
        let k = material(&private_attrs(&EX1, 8));
        let msg = b"short";
        let sig = sign(&RSA_X_509, &NONE, &k, msg).unwrap();
        // Verification recovers the left-padded block.
        verify(&RSA_X_509, &NONE, &k, msg, &sig).unwrap();
        let mut padded = vec![0u8; 128 - msg.len()];
        padded.extend_from_slice(msg);
        verify(&RSA_X_509, &NONE, &k, &padded, &sig).unwrap();
        // Encryption is the same operation the other way round.
        let c = encrypt(&RSA_X_509, &NONE, &k, &sig).unwrap();
        assert_eq!(c, padded);
        let p = decrypt(&RSA_X_509, &NONE, &k, &padded).unwrap();
        assert_eq!(p, sig);
        // A block not below the modulus is invalid data; longer than k is out of range.
        assert_eq!(rv(sign(&RSA_X_509, &NONE, &k, &[0xff; 128])), CKR_DATA_INVALID);
        assert_eq!(rv(encrypt(&RSA_X_509, &NONE, &k, &[0xff; 128])), CKR_DATA_INVALID);
        assert_eq!(rv(sign(&RSA_X_509, &NONE, &k, &[1; 129])), CKR_DATA_LEN_RANGE);
        assert_eq!(rv(encrypt(&RSA_X_509, &NONE, &k, &[1; 129])), CKR_DATA_LEN_RANGE);
    }

    #[test]
    fn encryption_round_trips_for_every_size_and_hash() {
        for bits in [2048usize, 3072, 4096] {
            let (public, private) = rsa_pair(bits);
            let (pubk, k) = (material(&public), material(&private));
            let klen = bits / 8;
            let mut cases = vec![(CKM_RSA_PKCS, NONE, klen - 11), (CKM_RSA_X_509, NONE, klen)];
            for (hash, mgf, _, _, len) in HASHES {
                for label in [&b""[..], b"label", &[0u8; 300]] {
                    cases.push((CKM_RSA_PKCS_OAEP, oaep(hash, mgf, label), klen - 2 * len - 2));
                }
            }
            for (mech, p, max) in cases {
                let m = imp(mech);
                for len in [1usize, 16, max] {
                    let pt: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(0x42)).collect();
                    let ct = encrypt(m, &p, &pubk, &pt).unwrap();
                    assert_eq!(ct.len(), klen);
                    let back = decrypt(m, &p, &k, &ct).unwrap_or_else(|e| panic!("{mech:#x} {p:?} {len} {e:?}"));
                    if mech == CKM_RSA_X_509 {
                        assert_eq!(&back[klen - len..], &pt[..]);
                    } else {
                        assert_eq!(back, pt);
                        assert_eq!(decrypt_parts(m, &p, &k, &ct).unwrap(), pt);
                    }
                    if mech != CKM_RSA_X_509 {
                        let w = m.wrap(&p, &pubk, &pt).unwrap();
                        assert_eq!(*m.unwrap(&p, &k, &w).unwrap(), pt);
                    }
                }
                assert_eq!(rv(encrypt(m, &p, &pubk, &vec![1; max + 1])), CKR_DATA_LEN_RANGE);
                // Multi-part input beyond the limit is refused at update.
                let mut op = m.encrypt(&p, &pubk).unwrap();
                op.update(&vec![1; max], &mut []).unwrap();
                assert_eq!(rv(op.update(&[1], &mut [])), CKR_DATA_LEN_RANGE);
                if mech != CKM_RSA_X_509 {
                    assert_eq!(rv(m.wrap(&p, &pubk, &vec![1; max + 1])), CKR_KEY_SIZE_RANGE);
                    assert_eq!(rv(decrypt(m, &p, &k, &vec![0x5a; klen])), CKR_ENCRYPTED_DATA_INVALID);
                    assert_eq!(rv(m.unwrap(&p, &k, &vec![0x5a; klen])), CKR_WRAPPED_KEY_INVALID);
                }
                assert_eq!(rv(decrypt(m, &p, &k, &vec![1; klen + 1])), CKR_ENCRYPTED_DATA_LEN_RANGE);
                assert_eq!(rv(m.decrypt(&p, &pubk)), CKR_KEY_TYPE_INCONSISTENT);
            }
        }
    }

    #[test]
    fn parameters_are_checked() {
        let (_, private) = rsa_pair(2048);
        let k = material(&private);
        // OAEP: a SHA mechanism, the matching MGF1, and nothing else.
        for p in [
            NONE,
            oaep(CKM_SHA256, CKG_MGF1_SHA1, &[]),
            oaep(CKM_SHA_1, CKG_MGF1_SHA256, &[]),
            oaep(CKM_MD5, CKG_MGF1_SHA1, &[]),
            oaep(CKM_SHA256, 0, &[]),
            pss(CKM_SHA256, CKG_MGF1_SHA256, 32),
        ] {
            assert_eq!(rv(RSA_PKCS_OAEP.encrypt(&p, &k)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(RSA_PKCS_OAEP.decrypt(&p, &k)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(RSA_PKCS_OAEP.wrap(&p, &k, &[1; 16])), CKR_MECHANISM_PARAM_INVALID);
        }
        // PSS: the hashed mechanisms need their own hash; MGF1 must match; the salt must fit.
        for (m, p) in [
            (&RSA_PKCS_PSS, NONE),
            (&RSA_PKCS_PSS, pss(CKM_SHA256, CKG_MGF1_SHA1, 32)),
            (&RSA_PKCS_PSS, pss(CKM_MD5, CKG_MGF1_SHA1, 16)),
            (&RSA_PKCS_PSS, pss(CKM_SHA512, CKG_MGF1_SHA512, 256 - 64 - 1)),
            (&SHA256_RSA_PKCS_PSS, pss(CKM_SHA384, CKG_MGF1_SHA384, 48)),
            (&SHA1_RSA_PKCS_PSS, oaep(CKM_SHA_1, CKG_MGF1_SHA1, &[])),
        ] {
            assert_eq!(rv(m.sign(&p, &k)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(m.verify(&p, &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        // The largest salt that fits works.
        let p = pss(CKM_SHA512, CKG_MGF1_SHA512, 256 - 64 - 2);
        let d = digest(CKM_SHA512, b"abc");
        let sig = sign(&RSA_PKCS_PSS, &p, &k, &d).unwrap();
        verify(&RSA_PKCS_PSS, &p, &k, &d, &sig).unwrap();
        // The PKCS#1 v1.5 and X.509 mechanisms take no parameter.
        for m in [&RSA_PKCS, &SHA256_RSA_PKCS, &RSA_X_509] {
            assert_eq!(rv(m.sign(&Params::Raw(vec![1]), &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(rv(RSA_PKCS.encrypt(&Params::Iv(vec![0; 16]), &k)), CKR_MECHANISM_PARAM_INVALID);
        // Data limits for CKM_RSA_PKCS signatures: k - 11 bytes.
        assert_eq!(rv(sign(&RSA_PKCS, &NONE, &k, &[1; 246])), CKR_DATA_LEN_RANGE);
        sign(&RSA_PKCS, &NONE, &k, &[1; 245]).unwrap();
        // Operations the mechanisms do not have.
        assert_eq!(rv(SHA256_RSA_PKCS.encrypt(&NONE, &k)), CKR_MECHANISM_INVALID);
        assert_eq!(rv(RSA_PKCS_OAEP.sign(&oaep(CKM_SHA_1, CKG_MGF1_SHA1, &[]), &k)), CKR_MECHANISM_INVALID);
        assert_eq!(rv(RSA_X_509.wrap(&NONE, &k, &[1; 16])), CKR_MECHANISM_INVALID);
    }

    #[test]
    fn wrong_key_types() {
        let (ec_pub, ec_priv) = ec_pair(crate::mech::ec::P256.params);
        let aes = KeyMaterial::Secret(crate::mech::key::SecretKey::new(CKK_AES, &[0; 16]));
        for k in [material(&ec_pub), material(&ec_priv), aes, KeyMaterial::Unparsed] {
            assert_eq!(rv(SHA256_RSA_PKCS.sign(&NONE, &k)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(SHA256_RSA_PKCS.verify(&NONE, &k)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(RSA_PKCS.encrypt(&NONE, &k)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(RSA_PKCS.decrypt(&NONE, &k)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(RSA_PKCS.wrap(&NONE, &k, &[1; 16])), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(RSA_PKCS.unwrap(&NONE, &k, &[1; 256])), CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
        }
        let (public, _) = rsa_pair(2048);
        assert_eq!(rv(RSA_PKCS.unwrap(&NONE, &material(&public), &[1; 256])), CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
    }
}
