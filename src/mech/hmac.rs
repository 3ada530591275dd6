//! HMAC (RFC 2104) with SHA-1 and SHA-2: CKM_SHAxxx_HMAC (full-length MAC) and
//! CKM_SHAxxx_HMAC_GENERAL (`CK_MAC_GENERAL_PARAMS`: MAC truncated to 1..=digest length bytes).

use super::{KeyMaterial, Mechanism, Params, SignOp};
use crate::error::{err, Result};
use aws_lc_rs::hmac;
use cryptoki_sys::*;

/// One HMAC mechanism.
pub struct Hmac {
    alg: hmac::Algorithm,
    /// The HMAC key type bound to this digest (besides CKK_GENERIC_SECRET).
    key_type: CK_KEY_TYPE,
    /// `_GENERAL` variant: the MAC length comes from `Params::MacLen`.
    general: bool,
}

macro_rules! hmac_mech {
    ($full:ident, $general:ident, $alg:expr, $kt:expr) => {
        pub static $full: Hmac = Hmac { alg: $alg, key_type: $kt, general: false };
        pub static $general: Hmac = Hmac { alg: $alg, key_type: $kt, general: true };
    };
}

hmac_mech!(SHA1_HMAC, SHA1_HMAC_GENERAL, hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, CKK_SHA_1_HMAC);
hmac_mech!(SHA224_HMAC, SHA224_HMAC_GENERAL, hmac::HMAC_SHA224, CKK_SHA224_HMAC);
hmac_mech!(SHA256_HMAC, SHA256_HMAC_GENERAL, hmac::HMAC_SHA256, CKK_SHA256_HMAC);
hmac_mech!(SHA384_HMAC, SHA384_HMAC_GENERAL, hmac::HMAC_SHA384, CKK_SHA384_HMAC);
hmac_mech!(SHA512_HMAC, SHA512_HMAC_GENERAL, hmac::HMAC_SHA512, CKK_SHA512_HMAC);

impl Hmac {
    fn start(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        let full = self.alg.tag_len();
        let out_len = match (self.general, p) {
            (false, Params::None) => full,
            (true, Params::MacLen(n)) if (1..=full).contains(n) => *n,
            _ => return err(CKR_MECHANISM_PARAM_INVALID),
        };
        let sk = key.secret(&[CKK_GENERIC_SECRET, self.key_type])?;
        // The engine key (ipad/opad state) is built once per key object and cloned per
        // operation; a key used with a second digest gets a one-off engine key.
        let (cached_alg, cached) = &**sk.hmac.get_or_init(|| Box::new((self.alg, hmac::Key::new(self.alg, &sk.value))));
        let ctx = if *cached_alg == self.alg {
            hmac::Context::with_key(cached)
        } else {
            hmac::Context::with_key(&hmac::Key::new(self.alg, &sk.value))
        };
        Ok(Box::new(HmacOp { ctx: Some(ctx), out_len }))
    }
}

impl Mechanism for Hmac {
    fn sign(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start(p, key)
    }
    fn verify(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn SignOp>> {
        self.start(p, key)
    }
}

struct HmacOp {
    /// `None` once finalized.
    ctx: Option<hmac::Context>,
    out_len: usize,
}

impl HmacOp {
    fn tag(&mut self) -> Result<hmac::Tag> {
        Ok(self.ctx.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?.sign())
    }
}

impl SignOp for HmacOp {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.ctx.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?.update(data);
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
    use crate::mech::key::SecretKey;

    fn key(kt: CK_KEY_TYPE, v: &[u8]) -> KeyMaterial {
        KeyMaterial::Secret(SecretKey::new(kt, v))
    }

    fn mac(m: &Hmac, p: &Params, k: &KeyMaterial, data: &[u8]) -> Vec<u8> {
        let mut op = m.sign(p, k).unwrap();
        op.update(data).unwrap();
        let mut out = vec![0u8; op.sig_len()];
        let n = op.sign_final(&mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    fn verify(m: &Hmac, p: &Params, k: &KeyMaterial, data: &[u8], sig: &[u8]) -> Result<()> {
        let mut op = m.verify(p, k)?;
        // Fed in two pieces to exercise multi-part.
        let (a, b) = data.split_at(data.len() / 2);
        op.update(a)?;
        op.update(b)?;
        op.verify_final(sig)
    }

    const HI: &[u8] = b"Hi There";
    const JEFE_DATA: &[u8] = b"what do ya want for nothing?";
    const TC5_DATA: &[u8] = b"Test With Truncation";
    const TC6_DATA: &[u8] = b"Test Using Larger Than Block-Size Key - Hash Key First";
    const TC7_DATA: &[u8] = b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.";

    /// (mechanism, key type, RFC 4231 TC1, TC2, TC6, TC7 full outputs, TC5 128-bit output)
    #[allow(clippy::type_complexity)]
    fn rfc4231() -> Vec<(&'static Hmac, &'static Hmac, CK_KEY_TYPE, [&'static str; 5])> {
        vec![
            (
                &SHA224_HMAC,
                &SHA224_HMAC_GENERAL,
                CKK_SHA224_HMAC,
                [
                    "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
                    "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
                    "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
                    "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
                    "0e2aea68a90c8d37c988bcdb9fca6fa8",
                ],
            ),
            (
                &SHA256_HMAC,
                &SHA256_HMAC_GENERAL,
                CKK_SHA256_HMAC,
                [
                    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                    "a3b6167473100ee06e0c796c2955552b",
                ],
            ),
            (
                &SHA384_HMAC,
                &SHA384_HMAC_GENERAL,
                CKK_SHA384_HMAC,
                [
                    "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                    "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                    "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
                    "3abf34c3503b2a23a46efc619baef897",
                ],
            ),
            (
                &SHA512_HMAC,
                &SHA512_HMAC_GENERAL,
                CKK_SHA512_HMAC,
                [
                    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
                    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
                    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
                    "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
                    "415fad6271580a531d4179bc891d87a6",
                ],
            ),
        ]
    }

    #[test]
    fn rfc4231_vectors() {
        let k1 = [0x0bu8; 20];
        let k5 = [0x0cu8; 20];
        let k6 = [0xaau8; 131];
        for (full, general, kt, exp) in rfc4231() {
            // Both the generic-secret type and the digest-specific HMAC key type are accepted.
            for t in [CKK_GENERIC_SECRET, kt] {
                let cases: [(&[u8], &[u8], &str); 4] =
                    [(&k1, HI, exp[0]), (b"Jefe", JEFE_DATA, exp[1]), (&k6, TC6_DATA, exp[2]), (&k6, TC7_DATA, exp[3])];
                for (kv, data, e) in cases {
                    let k = key(t, kv);
                    assert_eq!(hex::encode(mac(full, &Params::None, &k, data)), e);
                    let expect = hex::decode(e).unwrap();
                    verify(full, &Params::None, &k, data, &expect).unwrap();
                    // _GENERAL with the full length gives the same MAC.
                    let p = Params::MacLen(expect.len());
                    assert_eq!(hex::encode(mac(general, &p, &k, data)), e);
                }
            }
            // Test case 5: output truncated to 128 bits (CKM_..._HMAC_GENERAL, ulMacLength 16).
            let k = key(kt, &k5);
            let p = Params::MacLen(16);
            assert_eq!(hex::encode(mac(general, &p, &k, TC5_DATA)), exp[4]);
            verify(general, &p, &k, TC5_DATA, &hex::decode(exp[4]).unwrap()).unwrap();
        }
    }

    #[test]
    fn rfc2202_sha1() {
        let cases: [(&[u8], &[u8], &str); 4] = [
            (&[0x0b; 20], HI, "b617318655057264e28bc0b6fb378c8ef146be00"),
            (b"Jefe", JEFE_DATA, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
            (&[0xaa; 20], &[0xdd; 50], "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
            (&[0xaa; 80], TC6_DATA, "aa4ae5e15272d00e95705637ce8a3b55ed402112"),
        ];
        for (kv, data, e) in cases {
            for t in [CKK_GENERIC_SECRET, CKK_SHA_1_HMAC] {
                let k = key(t, kv);
                assert_eq!(hex::encode(mac(&SHA1_HMAC, &Params::None, &k, data)), e);
                verify(&SHA1_HMAC, &Params::None, &k, data, &hex::decode(e).unwrap()).unwrap();
            }
        }
        // RFC 2202 test case 5: HMAC-SHA-1-96.
        let k = key(CKK_SHA_1_HMAC, &[0x0c; 20]);
        let p = Params::MacLen(12);
        assert_eq!(hex::encode(mac(&SHA1_HMAC_GENERAL, &p, &k, TC5_DATA)), "4c1a03424b55e07fe7f27be1");
        assert_eq!(
            hex::encode(mac(&SHA1_HMAC, &Params::None, &k, TC5_DATA)),
            "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"
        );
    }

    #[test]
    fn verify_failures() {
        let k = key(CKK_SHA256_HMAC, &[0x0b; 20]);
        let good = hex::decode("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7").unwrap();
        verify(&SHA256_HMAC, &Params::None, &k, HI, &good).unwrap();
        for i in [0, 15, 31] {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert_eq!(verify(&SHA256_HMAC, &Params::None, &k, HI, &bad).unwrap_err().rv(), CKR_SIGNATURE_INVALID);
        }
        assert_eq!(
            verify(&SHA256_HMAC, &Params::None, &k, b"Hi Therf", &good).unwrap_err().rv(),
            CKR_SIGNATURE_INVALID
        );
        assert_eq!(verify(&SHA256_HMAC, &Params::None, &k, HI, &good[..31]).unwrap_err().rv(), CKR_SIGNATURE_LEN_RANGE);
        let mut long = good.clone();
        long.push(0);
        assert_eq!(verify(&SHA256_HMAC, &Params::None, &k, HI, &long).unwrap_err().rv(), CKR_SIGNATURE_LEN_RANGE);
        // _GENERAL: the signature must have exactly the requested length.
        let p = Params::MacLen(10);
        verify(&SHA256_HMAC_GENERAL, &p, &k, HI, &good[..10]).unwrap();
        assert_eq!(verify(&SHA256_HMAC_GENERAL, &p, &k, HI, &good[..11]).unwrap_err().rv(), CKR_SIGNATURE_LEN_RANGE);
        assert_eq!(verify(&SHA256_HMAC_GENERAL, &p, &k, HI, &good[..9]).unwrap_err().rv(), CKR_SIGNATURE_LEN_RANGE);
        let mut bad = good[..10].to_vec();
        bad[9] ^= 0x80;
        assert_eq!(verify(&SHA256_HMAC_GENERAL, &p, &k, HI, &bad).unwrap_err().rv(), CKR_SIGNATURE_INVALID);
    }

    #[test]
    fn params_and_key_types() {
        let k = key(CKK_SHA256_HMAC, &[0x0b; 20]);
        let rv = |r: Result<Box<dyn SignOp>>| r.err().map(|e| e.rv());
        for n in [0usize, 33, 1000] {
            assert_eq!(rv(SHA256_HMAC_GENERAL.sign(&Params::MacLen(n), &k)), Some(CKR_MECHANISM_PARAM_INVALID));
        }
        assert_eq!(rv(SHA256_HMAC_GENERAL.sign(&Params::None, &k)), Some(CKR_MECHANISM_PARAM_INVALID));
        assert_eq!(rv(SHA256_HMAC.sign(&Params::MacLen(16), &k)), Some(CKR_MECHANISM_PARAM_INVALID));
        assert!(SHA256_HMAC_GENERAL.sign(&Params::MacLen(1), &k).is_ok());
        assert!(SHA256_HMAC_GENERAL.sign(&Params::MacLen(32), &k).is_ok());
        assert!(SHA512_HMAC_GENERAL.sign(&Params::MacLen(64), &key(CKK_GENERIC_SECRET, b"k")).is_ok());
        // A SHA-256 HMAC key with the SHA-384 mechanism, an AES key, an asymmetric key.
        assert_eq!(rv(SHA384_HMAC.sign(&Params::None, &k)), Some(CKR_KEY_TYPE_INCONSISTENT));
        assert_eq!(rv(SHA256_HMAC.verify(&Params::None, &key(CKK_AES, &[0; 16]))), Some(CKR_KEY_TYPE_INCONSISTENT));
        assert_eq!(rv(SHA256_HMAC.sign(&Params::None, &KeyMaterial::Unparsed)), Some(CKR_KEY_TYPE_INCONSISTENT));
    }

    #[test]
    fn generic_key_with_two_digests_and_buffers() {
        // The cache holds the first digest's engine key; a second digest must still be right.
        let k = key(CKK_GENERIC_SECRET, b"Jefe");
        let e256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let e1 = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";
        for _ in 0..2 {
            assert_eq!(hex::encode(mac(&SHA256_HMAC, &Params::None, &k, JEFE_DATA)), e256);
            assert_eq!(hex::encode(mac(&SHA1_HMAC, &Params::None, &k, JEFE_DATA)), e1);
        }
        // A short output buffer is refused without ending the operation.
        let mut op = SHA1_HMAC.sign(&Params::None, &k).unwrap();
        op.update(JEFE_DATA).unwrap();
        let mut small = [0u8; 19];
        assert_eq!(op.sign_final(&mut small).unwrap_err().rv(), CKR_BUFFER_TOO_SMALL);
        let mut out = [0u8; 20];
        assert_eq!(op.sign_final(&mut out).unwrap(), 20);
        assert_eq!(hex::encode(out), e1);
        // Finished operations refuse further use.
        assert_eq!(op.update(b"x").unwrap_err().rv(), CKR_OPERATION_NOT_INITIALIZED);
    }
}
