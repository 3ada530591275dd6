//! Block-cipher MACs: CKM_AES_CMAC / CKM_AES_CMAC_GENERAL and CKM_DES3_CMAC /
//! CKM_DES3_CMAC_GENERAL (NIST SP 800-38B, RFC 4493), and CKM_AES_MAC / CKM_AES_MAC_GENERAL and
//! CKM_DES3_MAC / CKM_DES3_MAC_GENERAL (CBC-MAC).
//!
//! CMAC runs on aws-lc's CMAC (`aws_lc_rs::cmac`); its full output is one cipher block (16
//! bytes for AES, 8 for DES3). CBC-MAC follows PKCS#11 (v2.40, "general-length AES-MAC" and
//! "general-length DES-MAC"): CBC encryption under a zero IV of the data padded with zero bytes
//! to a whole number of blocks (ISO/IEC 9797-1 padding method 1, so empty data is one zero
//! block), the MAC being the leading bytes of the last ciphertext block; the plain mechanisms
//! output half the block (8 bytes for AES, 4 for DES3). `_GENERAL` variants take
//! `CK_MAC_GENERAL_PARAMS`, 1..=block bytes. Truncated MACs are prefixes of the full one.
//!
//! DES3 keys are checked as the DES3 ciphers check them ([`super::des3`]): degenerate keys are
//! `CKR_KEY_TYPE_INCONSISTENT`; no assurance gate applies (as for CKM_DES3_CBC), except that
//! two-key CKK_DES2 keys need `weak_des`, as there.
//!
//! Both stream: CMAC keeps aws-lc's context (one block of state), CBC-MAC the running chaining
//! value and at most one partial block. Verification compares in constant time.
#![allow(deprecated)] // aws-lc-rs marks every DES item deprecated (legacy algorithm).

use super::aes::{aes_key, engine, Chain, Engine, AES_BLOCK};
use super::{des3, KeyMaterial, Mechanism, Params, SignOp};
use crate::error::{err, Result};
use aws_lc_rs::cipher::{self, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::cmac;
use aws_lc_rs::iv::FixedLength;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Which MAC construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cmac,
    CbcMac,
}

/// Which block cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cipher {
    Aes,
    Des3,
}

impl Cipher {
    fn block(self) -> usize {
        match self {
            Cipher::Aes => AES_BLOCK,
            Cipher::Des3 => des3::DES_BLOCK,
        }
    }
}

/// One block-cipher MAC mechanism.
pub struct BlockMac {
    cipher: Cipher,
    kind: Kind,
    /// `_GENERAL` variant: the MAC length comes from `Params::MacLen`.
    general: bool,
}

macro_rules! mac_mech {
    ($name:ident, $cipher:ident, $kind:ident, $general:expr) => {
        pub static $name: BlockMac = BlockMac { cipher: Cipher::$cipher, kind: Kind::$kind, general: $general };
    };
}

mac_mech!(AES_CMAC, Aes, Cmac, false);
mac_mech!(AES_CMAC_GENERAL, Aes, Cmac, true);
mac_mech!(AES_MAC, Aes, CbcMac, false);
mac_mech!(AES_MAC_GENERAL, Aes, CbcMac, true);
mac_mech!(DES3_CMAC, Des3, Cmac, false);
mac_mech!(DES3_CMAC_GENERAL, Des3, Cmac, true);
mac_mech!(DES3_MAC, Des3, CbcMac, false);
mac_mech!(DES3_MAC_GENERAL, Des3, CbcMac, true);

fn make_aes(v: &[u8]) -> Result<UnboundCipherKey> {
    let alg = match v.len() {
        16 => &cipher::AES_128,
        24 => &cipher::AES_192,
        32 => &cipher::AES_256,
        _ => return err(CKR_KEY_SIZE_RANGE),
    };
    Ok(UnboundCipherKey::new(alg, v)?)
}

impl BlockMac {
    /// Length of the MAC without `CK_MAC_GENERAL_PARAMS`.
    fn default_len(&self) -> usize {
        match self.kind {
            Kind::Cmac => self.cipher.block(),
            Kind::CbcMac => self.cipher.block() / 2,
        }
    }

    fn start(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        let bs = self.cipher.block();
        let out_len = match (self.general, p) {
            (false, Params::None) => self.default_len(),
            (true, Params::MacLen(n)) if (1..=bs).contains(n) => *n,
            _ => return err(CKR_MECHANISM_PARAM_INVALID),
        };
        // The CBC engine key (cached on the key object, shared with CKM_xxx_CBC) also vets the
        // key: DES3 keys the cipher refuses are refused here too.
        let (sk, cbc) = match self.cipher {
            Cipher::Aes => {
                let sk = aes_key(key)?;
                (sk, engine(sk, Chain::Cbc, false, make_aes, CKR_FUNCTION_FAILED)?)
            }
            Cipher::Des3 => {
                let sk = des3::des3_key(key)?;
                (sk, engine(sk, Chain::Cbc, false, des3::make_des3, CKR_KEY_TYPE_INCONSISTENT)?)
            }
        };
        let Engine::Enc(cbc) = cbc else {
            return err(CKR_GENERAL_ERROR);
        };
        let state = match self.kind {
            Kind::Cmac => {
                let alg = match (self.cipher, sk.value.len()) {
                    (Cipher::Des3, _) => cmac::TDES_FOR_LEGACY_USE_ONLY,
                    (Cipher::Aes, 16) => cmac::AES_128,
                    (Cipher::Aes, 24) => cmac::AES_192,
                    (Cipher::Aes, _) => cmac::AES_256,
                };
                // A two-key (CKK_DES2) value K1 K2 is the engine's 3-key K1 K2 K1.
                let expanded;
                let value: &[u8] = match (self.cipher, sk.value.len()) {
                    (Cipher::Des3, 16) => {
                        expanded = zeroize::Zeroizing::new([&sk.value[..], &sk.value[..8]].concat());
                        &expanded
                    }
                    _ => &sk.value,
                };
                let k = cmac::Key::new(alg, value).map_err(|_| crate::error::Error::new(CKR_KEY_TYPE_INCONSISTENT))?;
                State::Cmac(Some(cmac::Context::with_key(&k)))
            }
            Kind::CbcMac => State::CbcMac(Box::new(CbcMac::new(cbc, bs))),
        };
        Ok(Box::new(MacOp { state, bs, out_len, done: false }))
    }
}

impl Mechanism for BlockMac {
    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start(p, key)
    }
    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start(p, key)
    }
}

/// Bytes of whole blocks CBC-MAC encrypts per engine call (bounds its scratch buffer).
const CBC_CHUNK: usize = 4096;

/// Streaming CBC-MAC with zero padding.
struct CbcMac {
    key: Arc<EncryptingKey>,
    /// Block size: 16 (AES) or 8 (DES3).
    bs: usize,
    /// The running chaining value (the last ciphertext block; the zero IV at first), in the
    /// first `bs` bytes.
    chain: [u8; AES_BLOCK],
    /// A partial block not yet encrypted.
    pending: Zeroizing<Vec<u8>>,
    /// Whether any data was seen (empty data is MACed as one zero block).
    any: bool,
}

impl CbcMac {
    fn new(key: Arc<EncryptingKey>, bs: usize) -> CbcMac {
        CbcMac { key, bs, chain: [0; AES_BLOCK], pending: Zeroizing::new(Vec::with_capacity(bs)), any: false }
    }

    /// The chaining value as the engine's IV.
    fn iv(&self) -> EncryptionContext {
        if self.bs == AES_BLOCK {
            EncryptionContext::Iv128(FixedLength::from(self.chain))
        } else {
            let mut a = [0u8; 8];
            a.copy_from_slice(&self.chain[..8]);
            EncryptionContext::Iv64(FixedLength::from(a))
        }
    }

    /// CBC-encrypts whole blocks under the running chaining value, keeping the last block.
    fn blocks(&mut self, data: &[u8]) -> Result<()> {
        let bs = self.bs;
        debug_assert_eq!(data.len() % bs, 0);
        let mut scratch = Zeroizing::new(vec![0u8; data.len().min(CBC_CHUNK)]);
        for c in data.chunks(CBC_CHUNK) {
            let buf = &mut scratch[..c.len()];
            buf.copy_from_slice(c);
            self.key.less_safe_encrypt(buf, self.iv())?;
            self.chain[..bs].copy_from_slice(&buf[buf.len() - bs..]);
        }
        Ok(())
    }

    fn update(&mut self, mut data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.any = true;
        let bs = self.bs;
        if !self.pending.is_empty() {
            let take = (bs - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < bs {
                return Ok(());
            }
            let block: Zeroizing<Vec<u8>> = std::mem::take(&mut self.pending);
            self.blocks(&block)?;
            self.pending = Zeroizing::new(Vec::with_capacity(bs));
        }
        let whole = data.len() - data.len() % bs;
        if whole > 0 {
            self.blocks(&data[..whole])?;
        }
        self.pending.extend_from_slice(&data[whole..]);
        Ok(())
    }

    fn finish(&mut self) -> Result<[u8; AES_BLOCK]> {
        if !self.pending.is_empty() || !self.any {
            let mut last = Zeroizing::new([0u8; AES_BLOCK]);
            last[..self.pending.len()].copy_from_slice(&self.pending);
            self.pending.clear();
            self.blocks(&last[..self.bs])?;
        }
        Ok(self.chain)
    }
}

enum State {
    /// `None` once finalized.
    Cmac(Option<cmac::Context>),
    CbcMac(Box<CbcMac>),
}

struct MacOp {
    state: State,
    /// Cipher block size (the full MAC length).
    bs: usize,
    out_len: usize,
    done: bool,
}

impl MacOp {
    /// The full-block MAC (in the first `bs` bytes); ends the operation.
    fn tag(&mut self) -> Result<Zeroizing<[u8; AES_BLOCK]>> {
        if self.done {
            return err(CKR_OPERATION_NOT_INITIALIZED);
        }
        self.done = true;
        let mut out = Zeroizing::new([0u8; AES_BLOCK]);
        match &mut self.state {
            State::Cmac(ctx) => {
                let t = ctx.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?.sign()?;
                out[..self.bs].copy_from_slice(t.as_ref());
            }
            State::CbcMac(m) => *out = m.finish()?,
        }
        Ok(out)
    }
}

impl SignOp for MacOp {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.done {
            return err(CKR_OPERATION_NOT_INITIALIZED);
        }
        match &mut self.state {
            State::Cmac(ctx) => ctx.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?.update(data)?,
            State::CbcMac(m) => m.update(data)?,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::{h, rv, secret, sign, sign_parts};

    type Vector = (Vec<u8>, Vec<u8>, Vec<u8>);

    /// The AES vectors of tests/data/cmac.json: (key, message, full MAC).
    fn vectors() -> Vec<Vector> {
        section("vectors")
    }

    /// A section of tests/data/cmac.json ("vectors": AES, "tdes_vectors": DES3).
    fn section(name: &str) -> Vec<Vector> {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/cmac.json")).expect("cmac.json");
        doc[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let s = |k: &str| h(v[k].as_str().unwrap());
                (s("key"), s("message"), s("mac"))
            })
            .collect()
    }

    fn verify(m: &BlockMac, p: &Params, k: &KeyMaterial, data: &[u8], sig: &[u8]) -> Result<()> {
        let mut op = m.verify(p, k)?;
        let (a, b) = data.split_at(data.len() / 3);
        op.update(a)?;
        op.update(b)?;
        op.verify_final(sig)
    }

    #[test]
    fn cmac_sp800_38b_and_rfc4493() {
        let vs = vectors();
        assert!(vs.len() >= 12);
        for (kv, msg, mac) in vs {
            let k = secret(CKK_AES, &kv);
            assert_eq!(sign(&AES_CMAC, &Params::None, &k, &msg).unwrap(), mac);
            for chunk in [1, 7, 16, 17, 33] {
                assert_eq!(sign_parts(&AES_CMAC, &Params::None, &k, &msg, chunk).unwrap(), mac);
            }
            verify(&AES_CMAC, &Params::None, &k, &msg, &mac).unwrap();
            for n in [1usize, 4, 8, 15, 16] {
                let p = Params::MacLen(n);
                assert_eq!(sign(&AES_CMAC_GENERAL, &p, &k, &msg).unwrap(), &mac[..n]);
                verify(&AES_CMAC_GENERAL, &p, &k, &msg, &mac[..n]).unwrap();
            }
        }
    }

    /// CBC-MAC from single AES block encryptions (ECB), independent of the CBC engine path.
    fn cbc_mac_by_ecb(kv: &[u8], msg: &[u8]) -> [u8; 16] {
        let k = EncryptingKey::ecb(make_aes(kv).unwrap()).unwrap();
        let mut padded = msg.to_vec();
        if padded.is_empty() || padded.len() % 16 != 0 {
            padded.resize(padded.len().div_ceil(16).max(1) * 16, 0);
        }
        let mut c = [0u8; 16];
        for b in padded.chunks(16) {
            for i in 0..16 {
                c[i] ^= b[i];
            }
            k.less_safe_encrypt(&mut c, EncryptionContext::None).unwrap();
        }
        c
    }

    #[test]
    fn cbc_mac_matches_block_by_block() {
        // SP 800-38A F.2.1: CBC-AES128 with a zero IV is not given there, but the last block of
        // CBC with IV 0 over one block is ECB of that block: check against F.1.1 ECB-AES128.
        let kv = h("2b7e151628aed2a6abf7158809cf4f3c");
        let k = secret(CKK_AES, &kv);
        let p = Params::MacLen(16);
        let one = h("6bc1bee22e409f96e93d7e117393172a");
        assert_eq!(sign(&AES_MAC_GENERAL, &p, &k, &one).unwrap(), h("3ad77bb40d7a3660a89ecaf32466ef97"));
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for kv in [vec![0x11u8; 16], vec![0x22; 24], vec![0x33; 32]] {
            let k = secret(CKK_AES, &kv);
            for len in [0usize, 1, 15, 16, 17, 32, 40, 64, 255, 300] {
                let msg = &data[..len];
                let full = cbc_mac_by_ecb(&kv, msg);
                assert_eq!(sign(&AES_MAC, &Params::None, &k, msg).unwrap(), &full[..8], "len {len}");
                assert_eq!(sign(&AES_MAC_GENERAL, &p, &k, msg).unwrap(), full, "len {len}");
                for chunk in [1, 5, 16, 31] {
                    assert_eq!(sign_parts(&AES_MAC, &Params::None, &k, msg, chunk).unwrap(), &full[..8]);
                }
                verify(&AES_MAC, &Params::None, &k, msg, &full[..8]).unwrap();
                verify(&AES_MAC_GENERAL, &Params::MacLen(3), &k, msg, &full[..3]).unwrap();
            }
        }
        // Longer than one engine chunk, fed unevenly.
        let big: Vec<u8> = (0..3 * CBC_CHUNK + 5).map(|i| i as u8).collect();
        let full = cbc_mac_by_ecb(&[0x44; 16], &big);
        let k = secret(CKK_AES, &[0x44; 16]);
        assert_eq!(sign_parts(&AES_MAC_GENERAL, &p, &k, &big, 1000).unwrap(), full);
        assert_eq!(sign(&AES_MAC_GENERAL, &p, &k, &big).unwrap(), full);
    }

    #[test]
    fn verify_failures_params_and_keys() {
        let (kv, msg, mac) = vectors().into_iter().nth(2).unwrap();
        let k = secret(CKK_AES, &kv);
        for i in [0, 7, 15] {
            let mut bad = mac.clone();
            bad[i] ^= 1;
            assert_eq!(rv(verify(&AES_CMAC, &Params::None, &k, &msg, &bad)), CKR_SIGNATURE_INVALID);
        }
        assert_eq!(rv(verify(&AES_CMAC, &Params::None, &k, &msg, &mac[..15])), CKR_SIGNATURE_LEN_RANGE);
        let mut long = mac.clone();
        long.push(0);
        assert_eq!(rv(verify(&AES_CMAC, &Params::None, &k, &msg, &long)), CKR_SIGNATURE_LEN_RANGE);
        let p = Params::MacLen(10);
        assert_eq!(rv(verify(&AES_CMAC_GENERAL, &p, &k, &msg, &mac)), CKR_SIGNATURE_LEN_RANGE);
        let m8 = sign(&AES_MAC, &Params::None, &k, &msg).unwrap();
        assert_eq!(m8.len(), 8);
        let mut bad = m8.clone();
        bad[7] ^= 0x80;
        assert_eq!(rv(verify(&AES_MAC, &Params::None, &k, &msg, &bad)), CKR_SIGNATURE_INVALID);
        assert_eq!(rv(verify(&AES_MAC, &Params::None, &k, &msg, &mac)), CKR_SIGNATURE_LEN_RANGE);

        for m in [&AES_CMAC_GENERAL, &AES_MAC_GENERAL] {
            for n in [0usize, 17, 1000] {
                assert_eq!(rv(m.sign(&Params::MacLen(n), &k)), CKR_MECHANISM_PARAM_INVALID);
            }
            assert_eq!(rv(m.sign(&Params::None, &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        for m in [&AES_CMAC, &AES_MAC] {
            assert_eq!(rv(m.sign(&Params::MacLen(8), &k)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(m.sign(&Params::None, &secret(CKK_GENERIC_SECRET, &[0; 16]))), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(m.verify(&Params::None, &secret(CKK_DES3, &[1; 24]))), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(m.sign(&Params::None, &secret(CKK_AES, &[0; 20]))), CKR_KEY_SIZE_RANGE);
        }
    }

    #[test]
    fn buffer_too_small_is_retryable_and_finished_ops_refuse() {
        let k = secret(CKK_AES, &[7; 16]);
        for m in [&AES_CMAC, &AES_MAC] {
            let mut op = m.sign(&Params::None, &k).unwrap();
            op.update(b"abc").unwrap();
            let mut small = vec![0u8; op.sig_len() - 1];
            assert_eq!(rv(op.sign_final(&mut small)), CKR_BUFFER_TOO_SMALL);
            let mut out = vec![0u8; op.sig_len()];
            assert_eq!(op.sign_final(&mut out).unwrap(), out.len());
            assert_eq!(out, sign(m, &Params::None, &k, b"abc").unwrap());
            assert_eq!(rv(op.update(b"x")), CKR_OPERATION_NOT_INITIALIZED);
        }
    }

    #[test]
    fn des3_cmac_sp800_38b() {
        let vs = section("tdes_vectors");
        assert_eq!(vs.len(), 8);
        for (kv, msg, mac) in vs {
            let k = secret(CKK_DES3, &kv);
            assert_eq!(sign(&DES3_CMAC, &Params::None, &k, &msg).unwrap(), mac);
            for chunk in [1, 3, 8, 9] {
                assert_eq!(sign_parts(&DES3_CMAC, &Params::None, &k, &msg, chunk).unwrap(), mac);
            }
            verify(&DES3_CMAC, &Params::None, &k, &msg, &mac).unwrap();
            let mut bad = mac.clone();
            bad[7] ^= 1;
            assert_eq!(rv(verify(&DES3_CMAC, &Params::None, &k, &msg, &bad)), CKR_SIGNATURE_INVALID);
            assert_eq!(rv(verify(&DES3_CMAC, &Params::None, &k, &msg, &mac[..7])), CKR_SIGNATURE_LEN_RANGE);
            for n in [1usize, 4, 8] {
                let p = Params::MacLen(n);
                assert_eq!(sign(&DES3_CMAC_GENERAL, &p, &k, &msg).unwrap(), &mac[..n]);
            }
            assert_eq!(rv(DES3_CMAC_GENERAL.sign(&Params::MacLen(9), &k)), CKR_MECHANISM_PARAM_INVALID);
        }
    }

    /// DES3 CBC-MAC from single-block DES3 ECB encryptions.
    fn des3_cbc_mac_by_ecb(kv: &[u8], msg: &[u8]) -> [u8; 8] {
        let k = EncryptingKey::ecb(des3::make_des3(kv).unwrap()).unwrap();
        let mut padded = msg.to_vec();
        padded.resize(msg.len().div_ceil(8).max(1) * 8, 0);
        let mut c = [0u8; 8];
        for b in padded.chunks(8) {
            for i in 0..8 {
                c[i] ^= b[i];
            }
            k.less_safe_encrypt(&mut c, EncryptionContext::None).unwrap();
        }
        c
    }

    #[test]
    fn des3_mac_and_key_rules() {
        let data: Vec<u8> = (0..100u32).map(|i| (i * 13 + 1) as u8).collect();
        let keys = [
            h("8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5"),
            h("4cf15134a2850dd58a3d10ba80570d384cf15134a2850dd5"),
        ];
        for kv in &keys {
            let k = secret(CKK_DES3, kv);
            for len in [0usize, 1, 7, 8, 9, 16, 20, 100] {
                let msg = &data[..len];
                let full = des3_cbc_mac_by_ecb(kv, msg);
                assert_eq!(sign(&DES3_MAC, &Params::None, &k, msg).unwrap(), &full[..4], "len {len}");
                assert_eq!(sign_parts(&DES3_MAC, &Params::None, &k, msg, 3).unwrap(), &full[..4]);
                assert_eq!(sign(&DES3_MAC_GENERAL, &Params::MacLen(8), &k, msg).unwrap(), full);
                verify(&DES3_MAC, &Params::None, &k, msg, &full[..4]).unwrap();
                assert_eq!(rv(verify(&DES3_MAC, &Params::None, &k, msg, &full)), CKR_SIGNATURE_LEN_RANGE);
            }
            assert_eq!(rv(DES3_MAC_GENERAL.sign(&Params::MacLen(9), &k)), CKR_MECHANISM_PARAM_INVALID);
        }
        // Degenerate (single-DES) keys and wrong types or sizes are refused as DES3_CBC refuses them.
        let single = [h("0123456789abcdef0123456789abcdef"), h("fedcba9876543210")].concat();
        for m in [&DES3_MAC, &DES3_CMAC] {
            assert_eq!(rv(m.sign(&Params::None, &secret(CKK_DES3, &single))), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(m.sign(&Params::None, &secret(CKK_AES, &[1; 24]))), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(m.sign(&Params::None, &secret(CKK_DES3, &[1; 16]))), CKR_KEY_SIZE_RANGE);
        }
        assert_eq!(rv(AES_CMAC.sign(&Params::None, &secret(CKK_DES3, &keys[0]))), CKR_KEY_TYPE_INCONSISTENT);
    }
}
