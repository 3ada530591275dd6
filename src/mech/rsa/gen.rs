//! RSA key-pair generation: CKM_RSA_PKCS_KEY_PAIR_GEN and [`generate`], the one routine behind
//! every RSA key the token, the CLI and the vendor API make.

use super::{digest_info_prefix, key_attrs, RsaKey, GEN_MAX_BITS, GEN_MIN_BITS, WEAK_GEN_MIN_BITS};
use crate::error::{err, Error, Result};
use crate::mech::ffi::{self, Md, Pad};
use crate::mech::Mechanism;
use crate::object::attr::AttrMap;
use aws_lc_rs::digest;
use cryptoki_sys::*;

/// aws-lc's RSA_generate_key_ex makes only multiples of this size (it rounds others down).
const ENGINE_GEN_STEP: usize = 128;

/// CKM_RSA_PKCS_KEY_PAIR_GEN. CKA_MODULUS_BITS (public template) is required: any size from 2048
/// to 8192 bits (from 1024 where `CKNFAST_OVERRIDE_SECURITY_ASSURANCES` has `weak_rsa`), else
/// `CKR_KEY_SIZE_RANGE`; the modulus has exactly that many bits. CKA_PUBLIC_EXPONENT is optional
/// (65537); any odd value from 3 to 2^32-1 is generated, anything else is
/// `CKR_ATTRIBUTE_VALUE_INVALID`. See [`generate`].
pub struct RsaKeyPairGen;
pub static RSA_PKCS_KEY_PAIR_GEN: RsaKeyPairGen = RsaKeyPairGen;

/// Keys below 2048 bits are weak: generated only where the SAM override `weak_rsa` allows it.
fn allow_weak() -> bool {
    crate::assurance::relaxed(crate::assurance::Assurance::WeakRsa)
}

/// The generation size range in force: 2048..=8192, or 1024..=8192 with `weak_rsa`.
pub fn gen_bits_range() -> std::ops::RangeInclusive<usize> {
    let min = if allow_weak() { WEAK_GEN_MIN_BITS } else { GEN_MIN_BITS };
    min..=GEN_MAX_BITS
}

/// Generates an RSA key pair whose modulus has exactly `bits` bits: the one routine behind
/// `C_GenerateKeyPair`, the CLI's `generatekey` and the vendor `SHSM_GenerateKey`.
///
/// * `bits` outside [`gen_bits_range`]: `CKR_KEY_SIZE_RANGE`.
/// * `e` (big-endian, leading zeros allowed) not odd, 1, or over 32 bits:
///   `CKR_ATTRIBUTE_VALUE_INVALID`.
///
/// Multiples of 128 bits are aws-lc's RSA_generate_key_ex (its FIPS 186 generator, fast and
/// constant-time); it silently rounds every other size down to a multiple of 128, so those go
/// to [`ffi::Rsa::generate_exact`], the same engine's prime generation and constant-time
/// arithmetic assembled to the same rules. Either way the key must have `bits` bits and pass a
/// sign/verify pairwise consistency test before it is returned (else `CKR_FUNCTION_FAILED`).
pub fn generate(bits: usize, e: &[u8]) -> Result<RsaKey> {
    if !gen_bits_range().contains(&bits) {
        return err(CKR_KEY_SIZE_RANGE);
    }
    let e = crate::mech::asn1::trim_be(e);
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    if e.len() > 4 || !odd || e == [1] {
        return err(CKR_ATTRIBUTE_VALUE_INVALID);
    }
    let engine = if bits % ENGINE_GEN_STEP == 0 {
        ffi::Rsa::generate(bits as u32, e)
    } else {
        ffi::Rsa::generate_exact(bits as u32, e)
    };
    let engine = engine.map_err(|_| Error::new(CKR_FUNCTION_FAILED))?;
    if engine.bits() != bits || !pairwise_consistent(&engine) {
        return err(CKR_FUNCTION_FAILED);
    }
    Ok(RsaKey { engine })
}

/// Pairwise consistency test of a new key: a PKCS#1 v1.5 signature over a SHA-256 DigestInfo
/// made with the private key recovers that DigestInfo with the public key.
fn pairwise_consistent(key: &ffi::Rsa) -> bool {
    let d = digest::digest(&digest::SHA256, b"shieldhsm RSA key generation pairwise test");
    let mut m = digest_info_prefix(Md::Sha256).to_vec();
    m.extend_from_slice(d.as_ref());
    let k = key.size();
    let (mut sig, mut rec) = (vec![0u8; k], vec![0u8; k]);
    let Ok(n) = key.sign_raw(Pad::Pkcs1, &m, &mut sig) else { return false };
    match key.verify_raw(Pad::Pkcs1, &sig[..n], &mut rec) {
        Ok(r) => n == k && rec[..r] == m[..],
        Err(_) => false,
    }
}

impl Mechanism for RsaKeyPairGen {
    fn generate_pair(&self, public: &AttrMap, _private: &AttrMap) -> Result<(AttrMap, AttrMap)> {
        let bits = public.ulong(CKA_MODULUS_BITS).ok_or(CKR_TEMPLATE_INCOMPLETE)? as usize;
        let e = public.bytes(CKA_PUBLIC_EXPONENT).unwrap_or(&[0x01, 0x00, 0x01]);
        let key = generate(bits, e)?;
        let private = key_attrs(&key)?;
        let mut public = AttrMap::new();
        for t in [CKA_MODULUS, CKA_PUBLIC_EXPONENT] {
            if let Some(v) = private.get(t) {
                public.set(t, v.clone());
            }
        }
        Ok((public, private))
    }
}

/// [`generate`]: sizes to the bit on both engine paths, exponents, refusals, and the key's
/// components checked with independent arithmetic (`rsa`'s BigUint, not aws-lc).
#[cfg(test)]
mod tests {
    use super::super::key::gcd;
    use super::super::*;
    use super::*;
    use crate::mech::Params;
    use crate::object::attr::Attr;
    use rsa::BigUint;

    const NONE: Params = Params::None;
    use crate::mech::testutil::*;

    fn n(attrs: &AttrMap, t: CK_ATTRIBUTE_TYPE) -> BigUint {
        BigUint::from_bytes_be(attrs.bytes(t).unwrap_or_else(|| panic!("attribute {t:#x}")))
    }

    /// Every component of a generated key, against FIPS 186-5 A.1.1 / A.1.3 and PKCS#1.
    fn check_key(key: &RsaKey, bits: usize, e: u64) -> AttrMap {
        assert_eq!(key.bits(), bits);
        assert_eq!(key.len(), bits.div_ceil(8));
        let a = key_attrs(key).unwrap();
        let modulus = a.bytes(CKA_MODULUS).unwrap();
        assert_eq!(modulus.len(), bits.div_ceil(8), "{bits}: minimal encoding");
        assert_ne!(modulus[0], 0);
        let top = (bits - 1) % 8;
        assert_eq!(modulus[0] >> top, 1, "{bits}: top bit {top} of the first byte is the highest set");
        let [nn, ee, d, p, q, dp, dq, qi] = PRIVATE_COMPONENTS.map(|t| n(&a, t));
        let one = BigUint::from(1u32);
        assert_eq!(nn.bits(), bits);
        assert_eq!(ee, BigUint::from(e));
        assert_eq!(&p * &q, nn);
        // The primes split the length (ceil, floor) and are far apart.
        let mut lens = [p.bits(), q.bits()];
        lens.sort();
        assert_eq!(lens, [bits / 2, bits - bits / 2], "{bits}");
        let diff = if p > q { &p - &q } else { &q - &p };
        assert!(diff.bits() > bits / 2 - 99, "{bits}: |p - q| too small");
        // d = e^-1 mod lcm(p-1, q-1), and not small.
        let (pm1, qm1) = (&p - &one, &q - &one);
        let lambda = &pm1 * &qm1 / gcd(pm1.clone(), qm1.clone());
        assert_eq!(&ee * &d % &lambda, one, "{bits}");
        assert!(d < lambda, "{bits}: d reduced mod lambda");
        assert!(d.bits() > bits.div_ceil(2), "{bits}: d > 2^(nlen/2)");
        assert_eq!(dp, &d % &pm1);
        assert_eq!(dq, &d % &qm1);
        assert_eq!(&qi * &q % &p, one);
        a
    }

    /// The key signs and verifies through the mechanisms, and decrypts what its public half
    /// encrypts.
    fn use_key(a: &AttrMap) {
        let public = attrs(
            CKO_PUBLIC_KEY,
            CKK_RSA,
            &[
                (CKA_MODULUS, a.bytes(CKA_MODULUS).unwrap()),
                (CKA_PUBLIC_EXPONENT, a.bytes(CKA_PUBLIC_EXPONENT).unwrap()),
            ],
        );
        let (private, public) = (material(&with_class(a.clone(), CKO_PRIVATE_KEY, CKK_RSA)), material(&public));
        let sig = sign(&SHA256_RSA_PKCS, &Params::None, &private, b"to the bit").unwrap();
        verify(&SHA256_RSA_PKCS, &Params::None, &public, b"to the bit", &sig).unwrap();
        let p = pss(CKM_SHA256, CKG_MGF1_SHA256, 32);
        let sig = sign(&SHA256_RSA_PKCS_PSS, &p, &private, b"pss").unwrap();
        verify(&SHA256_RSA_PKCS_PSS, &p, &public, b"pss", &sig).unwrap();
        let p = oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
        let c = encrypt(&RSA_PKCS_OAEP, &p, &public, b"secret").unwrap();
        assert_eq!(decrypt(&RSA_PKCS_OAEP, &p, &private, &c).unwrap(), b"secret");
    }

    #[test]
    fn every_size_is_generated_to_the_bit() {
        for bits in [2048usize, 2049, 2056, 2111, 3072, 3092, 4097] {
            let t = std::time::Instant::now();
            let key = generate(bits, &[1, 0, 1]).unwrap();
            let el = t.elapsed();
            use_key(&check_key(&key, bits, 65537));
            eprintln!("RSA-{bits}: generated in {el:?}");
        }
    }

    #[test]
    fn odd_exponents_on_both_paths() {
        for bits in [2048usize, 2051] {
            for e in [3u64, 17, 65537, 0xffff_ffff] {
                let key = generate(bits, &e.to_be_bytes()).unwrap();
                use_key(&check_key(&key, bits, e));
            }
        }
    }

    #[test]
    fn the_exact_path_draws_primes_as_documented() {
        // Sizes below 2048 (what `weak_rsa` allows) and one size with equal prime lengths.
        for bits in [1024u32, 1025, 1500, 2050] {
            let key = RsaKey { engine: ffi::Rsa::generate_exact(bits, &[1, 0, 1]).unwrap() };
            let a = check_key(&key, bits as usize, 65537);
            let (p, q) = (n(&a, CKA_PRIME_1), n(&a, CKA_PRIME_2));
            assert!(p > q);
            let one = BigUint::from(1u32);
            assert_eq!(gcd(&p - &one, &q - &one), BigUint::from(2u32));
            // Top two bits set in each prime.
            for x in [&p, &q] {
                assert!(x >> (x.bits() - 2) == BigUint::from(3u32));
            }
        }
        for bad in [0u32, 1023, 16385] {
            assert!(ffi::Rsa::generate_exact(bad, &[1, 0, 1]).is_err(), "{bad}");
        }
        for e in [&[][..], &[1], &[2], &[1, 0, 0, 0, 1]] {
            assert!(ffi::Rsa::generate_exact(1024, e).is_err(), "{e:?}");
        }
    }

    /// Why there are two paths: RSA_generate_key_ex keeps multiples of 128 and rounds every
    /// other size down (if a new aws-lc stops doing that, this says so).
    #[test]
    fn the_engine_generator_rounds_down_to_128() {
        for bits in [2048u32, 2049, 2111, 2175, 2176, 3092] {
            let k = ffi::Rsa::generate(bits, &[1, 0, 1]).unwrap();
            assert_eq!(k.bits(), (bits & !127) as usize, "{bits}");
        }
    }

    #[test]
    fn refusals() {
        let e = [1u8, 0, 1];
        let mut sizes = vec![0usize, 512, 1023, 2047, 8193, 16384, usize::MAX];
        if !allow_weak() {
            sizes.extend([1024, 1500]);
        }
        for bits in sizes {
            assert_eq!(rv(generate(bits, &e)), CKR_KEY_SIZE_RANGE, "{bits}");
        }
        for e in [&[][..], &[0], &[0, 0], &[1], &[0, 0, 1], &[2], &[1, 0, 0], &[0xff, 0xfe], &[1, 0, 0, 0, 1]] {
            assert_eq!(rv(generate(2048, e)), CKR_ATTRIBUTE_VALUE_INVALID, "{e:?}");
            assert_eq!(rv(generate(2049, e)), CKR_ATTRIBUTE_VALUE_INVALID, "{e:?}");
        }
        // Leading zeros are fine; the exponent is stored minimal.
        let key = generate(2049, &[0, 0, 0, 0, 3]).unwrap();
        assert_eq!(key_attrs(&key).unwrap().bytes(CKA_PUBLIC_EXPONENT), Some(&[3u8][..]));
        // Through the mechanism: CKA_MODULUS_BITS and CKA_PUBLIC_EXPONENT.
        let mut t = AttrMap::new();
        t.set(CKA_MODULUS_BITS, Attr::Ulong(8193));
        assert_eq!(rv(RSA_PKCS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new())), CKR_KEY_SIZE_RANGE);
        t.set(CKA_MODULUS_BITS, Attr::Ulong(3092));
        t.set(CKA_PUBLIC_EXPONENT, Attr::bytes(vec![1, 0, 0]));
        assert_eq!(rv(RSA_PKCS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new())), CKR_ATTRIBUTE_VALUE_INVALID);
        t.set(CKA_PUBLIC_EXPONENT, Attr::bytes(vec![17]));
        let (public, private) = RSA_PKCS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new()).unwrap();
        assert_eq!(public.bytes(CKA_MODULUS).unwrap().len(), 387);
        assert_eq!(public.bytes(CKA_MODULUS), private.bytes(CKA_MODULUS));
        assert_eq!(public.bytes(CKA_PUBLIC_EXPONENT), Some(&[17u8][..]));
    }

    /// The largest sizes, checked as every other size is. `cargo test --release --lib -- --ignored rsa_8k`
    #[test]
    #[ignore = "slow: seconds per key"]
    fn rsa_8k_sizes_to_the_bit() {
        for bits in [8191usize, 8192] {
            let t = std::time::Instant::now();
            let key = generate(bits, &[1, 0, 1]).unwrap();
            eprintln!("RSA-{bits}: generated in {:?}", t.elapsed());
            use_key(&check_key(&key, bits, 65537));
        }
    }

    #[test]
    fn key_pair_generation() {
        let (public, private) = rsa_pair(2048);
        assert_eq!(public.bytes(CKA_PUBLIC_EXPONENT), Some(&[1, 0, 1][..]));
        assert_eq!(public.bytes(CKA_MODULUS), private.bytes(CKA_MODULUS));
        assert_eq!(public.len(), 4); // + class, key type
        assert_eq!(private.len(), 10);
        assert_eq!(public.bytes(CKA_MODULUS).unwrap().len(), 256);
        // Another exponent.
        let mut t = AttrMap::new();
        t.set(CKA_MODULUS_BITS, Attr::Ulong(2048));
        t.set(CKA_PUBLIC_EXPONENT, Attr::bytes(vec![3]));
        let (p, s) = RSA_PKCS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new()).unwrap();
        assert_eq!(p.bytes(CKA_PUBLIC_EXPONENT), Some(&[3][..]));
        let k = material(&with_class(s, CKO_PRIVATE_KEY, CKK_RSA));
        let sig = sign(&SHA256_RSA_PKCS, &NONE, &k, b"e=3").unwrap();
        verify(&SHA256_RSA_PKCS, &NONE, &material(&with_class(p, CKO_PUBLIC_KEY, CKK_RSA)), b"e=3", &sig).unwrap();
        // Sizes and exponents out of range.
        for bits in [0 as CK_ULONG, 512, 1000, 2047, 8193, 16384] {
            let mut t = AttrMap::new();
            t.set(CKA_MODULUS_BITS, Attr::Ulong(bits));
            assert_eq!(rv(RSA_PKCS_KEY_PAIR_GEN.generate_pair(&t, &AttrMap::new())), CKR_KEY_SIZE_RANGE, "{bits}");
        }
        if !allow_weak() {
            assert_eq!(rv(generate(1024, &[1, 0, 1])), CKR_KEY_SIZE_RANGE);
        }
        for e in [&[][..], &[0], &[1], &[2], &[1, 0, 0], &[1, 0, 0, 0, 1]] {
            assert_eq!(rv(generate(2048, e)), CKR_ATTRIBUTE_VALUE_INVALID, "{e:?}");
        }
        assert_eq!(rv(RSA_PKCS_KEY_PAIR_GEN.generate_pair(&AttrMap::new(), &AttrMap::new())), CKR_TEMPLATE_INCOMPLETE);
        // Only key-pair generation.
        assert_eq!(rv(RSA_PKCS_KEY_PAIR_GEN.sign(&NONE, &material(&private))), CKR_MECHANISM_INVALID);
    }
}
