//! NIST SP 800-108 key-based key derivation (PKCS#11 3.0 §2.42): CKM_SP800_108_COUNTER_KDF
//! (§5.1: K(i) = PRF(K_I, data with [i] where the iteration variable is)) and
//! CKM_SP800_108_FEEDBACK_KDF (§5.2: K(i) = PRF(K_I, data with K(i-1) where the iteration
//! variable is, K(0) the IV, and an optional counter [i])).
//!
//! The PRF is a MAC mechanism of this crate run as such ([`super::hmac`] on aws-lc-rs's HMAC,
//! [`super::cmac`]'s CMAC), so the base key must be a key that mechanism takes (HMAC: generic
//! secret or the matching CKK_SHA*_HMAC; CMAC: AES or DES3). The caller's data parameters are
//! laid out as given (PKCS#11 leaves the order to the caller); the DKM length field counts the
//! one derived key (no additional derived keys: `ulAdditionalDerivedKeys` must be 0, the ABI
//! layer refuses others) or the PRF blocks computed.
#![forbid(unsafe_code)]

use super::{cmac, hmac, KeyMaterial, Mechanism, Params};
use crate::error::{err, Result};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// A counter (`CK_SP800_108_COUNTER_FORMAT`): width 8, 16, 24 or 32 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    pub little_endian: bool,
    pub bits: CK_ULONG,
}

/// The length field (`CK_SP800_108_DKM_LENGTH_FORMAT`): width 8 to 64 bits, whole bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DkmLength {
    pub method: CK_ULONG,
    pub little_endian: bool,
    pub bits: CK_ULONG,
}

/// One `CK_PRF_DATA_PARAM`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrfData {
    /// CK_SP800_108_ITERATION_VARIABLE: a counter (counter mode) or, with no value, K(i-1)
    /// (feedback mode).
    Iteration(Option<Counter>),
    /// CK_SP800_108_OPTIONAL_COUNTER (feedback mode).
    Counter(Counter),
    DkmLength(DkmLength),
    Bytes(Vec<u8>),
}

/// `CK_SP800_108_KDF_PARAMS` / `CK_SP800_108_FEEDBACK_KDF_PARAMS` (the IV empty for counter mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KbkdfParams {
    pub prf: CK_MECHANISM_TYPE,
    pub data: Vec<PrfData>,
    pub iv: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Counter,
    Feedback,
}

pub struct Kbkdf {
    mode: Mode,
}

pub static SP800_108_COUNTER_KDF: Kbkdf = Kbkdf { mode: Mode::Counter };
pub static SP800_108_FEEDBACK_KDF: Kbkdf = Kbkdf { mode: Mode::Feedback };

/// The MAC mechanism behind a `prfType`.
fn prf(ty: CK_MECHANISM_TYPE) -> Result<&'static dyn Mechanism> {
    Ok(match ty {
        CKM_SHA_1_HMAC => &hmac::SHA1_HMAC,
        CKM_SHA224_HMAC => &hmac::SHA224_HMAC,
        CKM_SHA256_HMAC => &hmac::SHA256_HMAC,
        CKM_SHA384_HMAC => &hmac::SHA384_HMAC,
        CKM_SHA512_HMAC => &hmac::SHA512_HMAC,
        CKM_AES_CMAC => &cmac::AES_CMAC,
        CKM_DES3_CMAC => &cmac::DES3_CMAC,
        _ => return err(CKR_MECHANISM_PARAM_INVALID),
    })
}

/// `v` as `bits` bits (a whole number of bytes), big- or little-endian; it must fit.
fn encode(v: u64, bits: CK_ULONG, little_endian: bool) -> Result<Vec<u8>> {
    let n = bits as usize / 8;
    if n < 8 && v >> (8 * n) != 0 {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    let be = v.to_be_bytes();
    let mut out = be[8 - n..].to_vec();
    if little_endian {
        out.reverse();
    }
    Ok(out)
}

impl Kbkdf {
    /// The parameters' shape as PKCS#11 requires it for this mode.
    fn check(&self, p: &KbkdfParams) -> Result<()> {
        let bad = || err(CKR_MECHANISM_PARAM_INVALID);
        let (mut iteration, mut counters, mut dkm) = (0, 0, 0);
        for d in &p.data {
            match d {
                PrfData::Iteration(c) => {
                    iteration += 1;
                    match (self.mode, c) {
                        (Mode::Counter, Some(c)) if matches!(c.bits, 8 | 16 | 24 | 32) => {}
                        (Mode::Feedback, None) => {}
                        _ => return bad(),
                    }
                }
                PrfData::Counter(c) => {
                    counters += 1;
                    if self.mode != Mode::Feedback || !matches!(c.bits, 8 | 16 | 24 | 32) {
                        return bad();
                    }
                }
                PrfData::DkmLength(l) => {
                    dkm += 1;
                    let method_ok = matches!(
                        l.method,
                        CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS | CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS
                    );
                    if !method_ok || l.bits == 0 || l.bits > 64 || l.bits % 8 != 0 {
                        return bad();
                    }
                }
                PrfData::Bytes(_) => {}
            }
        }
        if iteration != 1 || counters > 1 || dkm > 1 || (self.mode == Mode::Counter && !p.iv.is_empty()) {
            return bad();
        }
        Ok(())
    }

    /// The derived keying material, `len` bytes.
    pub fn run(&self, p: &KbkdfParams, key: &KeyMaterial, len: usize) -> Result<Zeroizing<Vec<u8>>> {
        self.check(p)?;
        let mac = prf(p.prf)?;
        let h = mac.sign(&Params::None, key)?.sig_len();
        let blocks = len.div_ceil(h);
        let mut out = Zeroizing::new(Vec::with_capacity(blocks * h));
        let mut prev = Zeroizing::new(p.iv.clone());
        for i in 1..=blocks as u64 {
            let mut op = mac.sign(&Params::None, key)?;
            for d in &p.data {
                let piece = match d {
                    PrfData::Iteration(Some(c)) | PrfData::Counter(c) => encode(i, c.bits, c.little_endian)?,
                    PrfData::Iteration(None) => {
                        op.update(&prev)?;
                        continue;
                    }
                    PrfData::DkmLength(l) => {
                        let bytes = if l.method == CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS { blocks * h } else { len };
                        encode(bytes as u64 * 8, l.bits, l.little_endian)?
                    }
                    PrfData::Bytes(b) => {
                        op.update(b)?;
                        continue;
                    }
                };
                op.update(&piece)?;
            }
            let mut k = Zeroizing::new(vec![0u8; h]);
            op.sign_final(&mut k)?;
            out.extend_from_slice(&k);
            prev = k;
        }
        out.truncate(len);
        Ok(out)
    }
}

impl Mechanism for Kbkdf {
    fn derive(&self, p: &Params, key: &KeyMaterial, len: Option<usize>) -> Result<Zeroizing<Vec<u8>>> {
        let Params::Kbkdf(p) = p else { return err(CKR_MECHANISM_PARAM_INVALID) };
        let Some(len) = len else { return err(CKR_TEMPLATE_INCOMPLETE) };
        self.run(p, key, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn counter_params(prf: CK_MECHANISM_TYPE, bits: CK_ULONG, fixed: &[u8]) -> KbkdfParams {
        let c = Counter { little_endian: false, bits };
        KbkdfParams { prf, data: vec![PrfData::Iteration(Some(c)), PrfData::Bytes(fixed.to_vec())], iv: vec![] }
    }

    #[test]
    fn counter_mode_gives_the_cavp_answers() {
        // nist-800-108-KBKDF-CTR.txt, [PRF=CMAC_AES128] [CTRLOCATION=BEFORE_FIXED] [RLEN=8_BITS]
        // COUNT=0, and [PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED] [RLEN=8_BITS] COUNT=0.
        let k = material(&attrs(CKO_SECRET_KEY, CKK_AES, &[(CKA_VALUE, &h("dff1e50ac0b69dc40f1051d46c2b069c"))]));
        let fixed = h("c16e6e02c5a3dcc8d78b9ac1306877761310455b4e41469951d9e6c2245a064b33fd8c3b01203a7824485bf0a64060c4648b707d2607935699316ea5");
        let out = SP800_108_COUNTER_KDF.run(&counter_params(CKM_AES_CMAC, 8, &fixed), &k, 16).unwrap();
        assert_eq!(*out, h("8be8f0869b3c0ba97b71863d1b9f7813"));
    }

    #[test]
    fn the_parameters_take_the_shape_pkcs11_gives_them() {
        let k = material(&attrs(CKO_SECRET_KEY, CKK_GENERIC_SECRET, &[(CKA_VALUE, &[1u8; 32])]));
        let ok = counter_params(CKM_SHA256_HMAC, 32, b"x");
        assert_eq!(SP800_108_COUNTER_KDF.run(&ok, &k, 40).unwrap().len(), 40);
        let mut two = ok.clone();
        two.data.push(two.data[0].clone());
        let mut none = ok.clone();
        none.data.remove(0);
        let wide = counter_params(CKM_SHA256_HMAC, 40, b"x");
        let bad_prf = counter_params(CKM_SHA256, 32, b"x");
        let mut fb_counter = ok.clone();
        fb_counter.data[0] = PrfData::Iteration(None);
        let mut dkm = ok.clone();
        dkm.data.push(PrfData::DkmLength(DkmLength { method: 7, little_endian: false, bits: 16 }));
        for p in [two, none, wide, bad_prf, fb_counter, dkm] {
            assert_eq!(rv(SP800_108_COUNTER_KDF.run(&p, &k, 32)), CKR_MECHANISM_PARAM_INVALID, "{p:?}");
        }
        // An 8-bit counter counts 255 blocks at most; a counter-mode iteration variable is no
        // feedback one.
        let short = counter_params(CKM_SHA256_HMAC, 8, b"x");
        assert!(SP800_108_COUNTER_KDF.run(&short, &k, 255 * 32).is_ok());
        assert_eq!(rv(SP800_108_COUNTER_KDF.run(&short, &k, 255 * 32 + 1)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(SP800_108_FEEDBACK_KDF.run(&ok, &k, 32)), CKR_MECHANISM_PARAM_INVALID);
        // The base key must suit the PRF.
        let aes = counter_params(CKM_AES_CMAC, 32, b"x");
        assert_eq!(rv(SP800_108_COUNTER_KDF.run(&aes, &k, 32)), CKR_KEY_TYPE_INCONSISTENT);
    }

    #[test]
    fn feedback_mode_chains_the_blocks() {
        // K(1) = PRF(iv || [1] || x), K(2) = PRF(K(1) || [2] || x), with HMAC-SHA-256.
        let key = [3u8; 32];
        let k = material(&attrs(CKO_SECRET_KEY, CKK_GENERIC_SECRET, &[(CKA_VALUE, &key)]));
        let c = Counter { little_endian: true, bits: 16 };
        let p = KbkdfParams {
            prf: CKM_SHA256_HMAC,
            data: vec![PrfData::Iteration(None), PrfData::Counter(c), PrfData::Bytes(b"x".to_vec())],
            iv: vec![9; 5],
        };
        let out = SP800_108_FEEDBACK_KDF.run(&p, &k, 48).unwrap();
        let mac = |m: &[u8]| aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key), m);
        let k1 = mac(&[&[9u8; 5][..], &[1, 0], b"x"].concat());
        let k2 = mac(&[k1.as_ref(), &[2, 0], b"x"].concat());
        assert_eq!(*out, [k1.as_ref(), &k2.as_ref()[..16]].concat());
    }
}
