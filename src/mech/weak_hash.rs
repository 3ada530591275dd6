//! The legacy digests aws-lc-rs does not offer, from RustCrypto: CKM_MD5 and CKM_RIPEMD160,
//! HMAC over them (CKM_MD5_HMAC, CKM_RIPEMD160_HMAC and their _GENERAL forms) and
//! CKM_MD5_RSA_PKCS (PKCS#1 v1.5 over an MD5 DigestInfo, through [`super::rsa::RSA_PKCS`]).
//!
//! All of them are usable only with the `weak_all` security assurance relaxed; the registry
//! marks them, and the token layer refuses them otherwise.

use super::{DigestOp, KeyMaterial, Mechanism, Params, SignOp};
use crate::error::{err, Result};
use cryptoki_sys::*;
use digest::{Digest, OutputSizeUser};
use hmac::{Mac, SimpleHmac};
use std::marker::PhantomData;

type Md5 = md5::Md5;
type Ripemd160 = ripemd::Ripemd160;

/// What the legacy mechanisms need of a RustCrypto hash.
pub trait LegacyHash: Digest + Clone + Default + Send + digest::core_api::BlockSizeUser + 'static {}
impl<D: Digest + Clone + Default + Send + digest::core_api::BlockSizeUser + 'static> LegacyHash for D {}

/// A digest mechanism over `D`.
pub struct LegacyDigest<D>(PhantomData<fn() -> D>);

pub static MD5: LegacyDigest<Md5> = LegacyDigest(PhantomData);
pub static RIPEMD160: LegacyDigest<Ripemd160> = LegacyDigest(PhantomData);

impl<D: LegacyHash> Mechanism for LegacyDigest<D> {
    fn digest(&self, p: &Params) -> Result<Box<dyn DigestOp>> {
        if !matches!(p, Params::None) {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        Ok(Box::new(DigestCtx(D::default())))
    }
}

struct DigestCtx<D>(D);

impl<D: LegacyHash> DigestOp for DigestCtx<D> {
    fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    fn len(&self) -> usize {
        <D as OutputSizeUser>::output_size()
    }

    /// As the SHA digests: nothing written and the state kept when `out` is short.
    fn finalize(&mut self, out: &mut [u8]) -> usize {
        let n = self.len();
        if out.len() < n {
            return 0;
        }
        out[..n].copy_from_slice(&std::mem::take(&mut self.0).finalize());
        n
    }
}

/// An HMAC mechanism over `D` (RFC 2104): full length, or `_GENERAL` (1..=digest length bytes).
pub struct LegacyHmac<D> {
    /// The HMAC key type bound to this digest (besides CKK_GENERIC_SECRET).
    key_type: CK_KEY_TYPE,
    general: bool,
    d: PhantomData<fn() -> D>,
}

pub static MD5_HMAC: LegacyHmac<Md5> = LegacyHmac { key_type: CKK_MD5_HMAC, general: false, d: PhantomData };
pub static MD5_HMAC_GENERAL: LegacyHmac<Md5> = LegacyHmac { key_type: CKK_MD5_HMAC, general: true, d: PhantomData };
pub static RIPEMD160_HMAC: LegacyHmac<Ripemd160> =
    LegacyHmac { key_type: CKK_RIPEMD160_HMAC, general: false, d: PhantomData };
pub static RIPEMD160_HMAC_GENERAL: LegacyHmac<Ripemd160> =
    LegacyHmac { key_type: CKK_RIPEMD160_HMAC, general: true, d: PhantomData };

impl<D: LegacyHash> LegacyHmac<D> {
    fn start(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        let full = <D as OutputSizeUser>::output_size();
        let out_len = match (self.general, p) {
            (false, Params::None) => full,
            (true, Params::MacLen(n)) if (1..=full).contains(n) => *n,
            _ => return err(CKR_MECHANISM_PARAM_INVALID),
        };
        let sk = key.secret(&[CKK_GENERIC_SECRET, self.key_type])?;
        // Any key length is valid for HMAC (longer ones are hashed first).
        let mac = <SimpleHmac<D> as Mac>::new_from_slice(&sk.value).map_err(|_| CKR_KEY_SIZE_RANGE)?;
        Ok(Box::new(HmacOp { mac: Some(mac), out_len }))
    }
}

impl<D: LegacyHash> Mechanism for LegacyHmac<D> {
    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start(p, key)
    }
    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start(p, key)
    }
}

struct HmacOp<D: LegacyHash> {
    /// `None` once finalized.
    mac: Option<SimpleHmac<D>>,
    out_len: usize,
}

impl<D: LegacyHash> HmacOp<D> {
    fn tag(&mut self) -> Result<Vec<u8>> {
        Ok(self.mac.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?.finalize().into_bytes().to_vec())
    }
}

impl<D: LegacyHash> SignOp for HmacOp<D> {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        Mac::update(self.mac.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?, data);
        Ok(())
    }

    fn sig_len(&self) -> usize {
        self.out_len
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        super::mac_out(self.out_len, out, || self.tag())
    }

    fn verify_final(&mut self, sig: &[u8]) -> Result<()> {
        super::mac_check(self.out_len, sig, || self.tag())
    }
}

/// DER DigestInfo prefix for MD5 (RFC 8017 §9.2 note 1: id-md5 with NULL parameters).
pub const MD5_DIGEST_INFO: [u8; 18] =
    [0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10];

/// CKM_MD5_RSA_PKCS: hashes the message with MD5, then signs or verifies the DigestInfo with
/// CKM_RSA_PKCS (which checks the key and does the padding).
pub struct Md5RsaPkcs;

pub static MD5_RSA_PKCS: Md5RsaPkcs = Md5RsaPkcs;

impl Md5RsaPkcs {
    fn start(&self, p: &Params, inner: Box<dyn SignOp>) -> Result<Box<dyn SignOp>> {
        if !matches!(p, Params::None) && !matches!(p, Params::Raw(v) if v.is_empty()) {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        Ok(Box::new(HashThenSign { hash: Some(Md5::new()), inner }))
    }
}

impl Mechanism for Md5RsaPkcs {
    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start(p, super::rsa::RSA_PKCS.sign(&Params::None, key)?)
    }
    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start(p, super::rsa::RSA_PKCS.verify(&Params::None, key)?)
    }
}

struct HashThenSign {
    /// `None` once the DigestInfo went to `inner`.
    hash: Option<Md5>,
    inner: Box<dyn SignOp>,
}

impl HashThenSign {
    /// Feeds MD5's DigestInfo to the inner CKM_RSA_PKCS operation (once).
    fn feed_digest_info(&mut self) -> Result<()> {
        if let Some(h) = self.hash.take() {
            let mut di = MD5_DIGEST_INFO.to_vec();
            di.extend_from_slice(&h.finalize());
            self.inner.update(&di)?;
        }
        Ok(())
    }
}

impl SignOp for HashThenSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        Digest::update(self.hash.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?, data);
        Ok(())
    }

    fn sig_len(&self) -> usize {
        self.inner.sig_len()
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        // A short buffer is answered before the digest is consumed, so the caller can retry.
        if out.len() < self.inner.sig_len() {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        self.feed_digest_info()?;
        self.inner.sign_final(out)
    }

    fn verify_final(&mut self, sig: &[u8]) -> Result<()> {
        self.feed_digest_info()?;
        self.inner.verify_final(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_hex(m: &dyn Mechanism, data: &[u8]) -> String {
        let mut op = m.digest(&Params::None).unwrap();
        for c in data.chunks(3) {
            op.update(c);
        }
        let mut out = vec![0u8; op.len()];
        assert_eq!(op.finalize(&mut out), out.len());
        hex::encode(out)
    }

    #[test]
    fn rfc1321_and_ripemd160_samples() {
        // RFC 1321 A.5 and the RIPEMD-160 designers' page; the full suites run through the .so
        // (tests/legacy.rs).
        assert_eq!(digest_hex(&MD5, b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(digest_hex(&RIPEMD160, b"abc"), "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc");
        let mut op = MD5.digest(&Params::None).unwrap();
        let mut short = [0u8; 15];
        assert_eq!(op.finalize(&mut short), 0);
        assert_eq!(rv(MD5.digest(&Params::Raw(vec![1]))), CKR_MECHANISM_PARAM_INVALID);
    }

    fn rv<T>(r: Result<T>) -> CK_RV {
        r.err().map_or(CKR_OK, |e| e.rv())
    }

    #[test]
    fn hmac_params_and_verify() {
        let k = crate::mech::testutil::secret(CKK_GENERIC_SECRET, b"Jefe");
        // RFC 2104 / RFC 2202 test case 2.
        let mut op = MD5_HMAC.sign(&Params::None, &k).unwrap();
        op.update(b"what do ya want for nothing?").unwrap();
        let mut tag = [0u8; 16];
        assert_eq!(op.sign_final(&mut tag).unwrap(), 16);
        assert_eq!(hex::encode(tag), "750c783e6ab0b503eaa86e310a5db738");
        let mut v = MD5_HMAC_GENERAL.verify(&Params::MacLen(10), &k).unwrap();
        v.update(b"what do ya want for nothing?").unwrap();
        assert_eq!(v.verify_final(&tag[..10]).map_err(|e| e.rv()), Ok(()));
        assert_eq!(rv(MD5_HMAC_GENERAL.sign(&Params::MacLen(17), &k)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(MD5_HMAC.sign(&Params::MacLen(16), &k)), CKR_MECHANISM_PARAM_INVALID);
        let aes = crate::mech::testutil::secret(CKK_AES, &[0; 16]);
        assert_eq!(rv(RIPEMD160_HMAC.sign(&Params::None, &aes)), CKR_KEY_TYPE_INCONSISTENT);
        assert_eq!(rv(MD5_RSA_PKCS.sign(&Params::None, &aes)), CKR_KEY_TYPE_INCONSISTENT);
    }
}
