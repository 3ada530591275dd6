//! CKM_RSA_AES_KEY_WRAP (PKCS#11 v2.40 §2.1.21), as Azure Key Vault BYOK uses it
//! (docs/nshield-emulation.md §1.4): a fresh AES key of `ulAESKeyBits`, RSA-OAEP-encrypted to the
//! wrapping key with `pOAEPParams`, followed by the RFC 5649 (KWP) wrap of the plaintext under that
//! AES key; the AES key is wiped. Unwrap splits at the modulus length.
//!
//! [`rsa_aes_wrap_with`] is the deterministic core (caller-chosen AES key and, for known-answer
//! tests only, an injected OAEP seed, which needs our own EME-OAEP encoding followed by a raw
//! RSA public operation: aws-lc takes no seed).

#![forbid(unsafe_code)]

use super::ffi::{Md, Pad};
use super::rsa::{self, RsaKey};
use super::{kw, rng, KeyMaterial, Mechanism, Params};
use crate::error::{err, Error, Result};
use aws_lc_rs::digest;
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// The AES key length in bytes and the OAEP parameters of a `CK_RSA_AES_KEY_WRAP_PARAMS`.
fn params(p: &Params) -> Result<(usize, &Params)> {
    match p {
        Params::RsaAesKeyWrap { aes_bits: bits @ (128 | 192 | 256), oaep } => Ok((bits / 8, oaep)),
        _ => err(CKR_MECHANISM_PARAM_INVALID),
    }
}

/// MGF1 (RFC 8017 B.2.1).
fn mgf1(md: Md, seed: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + md.len()));
    let mut counter = 0u32;
    while out.len() < len {
        let mut ctx = digest::Context::new(md.algorithm());
        ctx.update(seed);
        ctx.update(&counter.to_be_bytes());
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// EME-OAEP encoding (RFC 8017 §7.1.1 step 2) of `m` for a k-byte modulus with the given seed:
/// EM = 0x00 || maskedSeed || maskedDB.
fn eme_oaep_encode(k: usize, md: Md, mgf: Md, label: &[u8], m: &[u8], seed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let h = md.len();
    if seed.len() != h {
        return err(CKR_ARGUMENTS_BAD);
    }
    if k < 2 * h + 2 || m.len() > k - 2 * h - 2 {
        return err(CKR_DATA_LEN_RANGE);
    }
    let l_hash = digest::digest(md.algorithm(), label);
    let db_len = k - h - 1;
    let mut db = Zeroizing::new(vec![0u8; db_len]);
    db[..h].copy_from_slice(l_hash.as_ref());
    db[db_len - m.len() - 1] = 0x01;
    db[db_len - m.len()..].copy_from_slice(m);
    for (b, x) in db.iter_mut().zip(mgf1(mgf, seed, db_len).iter()) {
        *b ^= x;
    }
    let mut masked_seed = Zeroizing::new(seed.to_vec());
    for (b, x) in masked_seed.iter_mut().zip(mgf1(mgf, &db, h).iter()) {
        *b ^= x;
    }
    let mut em = Zeroizing::new(Vec::with_capacity(k));
    em.push(0);
    em.extend_from_slice(&masked_seed);
    em.extend_from_slice(&db);
    Ok(em)
}

/// The CKM_RSA_AES_KEY_WRAP output for a given AES key (16, 24 or 32 bytes): RSA-OAEP(`oaep`,
/// a `Params::Oaep`) of `aes_key` under the public key of `kek`, then the RFC 5649 wrap of
/// `plaintext` under `aes_key`.
///
/// `oaep_seed` injects the OAEP seed (hash-length bytes) for known-answer tests — the Azure BYOK
/// KAT in tests/data/byok/kat.json is reproducible this way. Production passes `None` (aws-lc's
/// randomized OAEP); never reuse a seed.
pub fn rsa_aes_wrap_with(
    kek: &KeyMaterial,
    aes_key: &[u8],
    oaep: &Params,
    oaep_seed: Option<&[u8]>,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    kek.rsa_public().map_err(|_| Error::new(CKR_WRAPPING_KEY_TYPE_INCONSISTENT))?;
    let key = rsa::strong_public(kek)?;
    if !matches!(aes_key.len(), 16 | 24 | 32) {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    let (md, mgf, label) = rsa::oaep_params(oaep)?;
    let c1 = match oaep_seed {
        None => rsa::oaep_encrypt(key, md, mgf, label, aes_key)?,
        Some(seed) => seeded_oaep(key, md, mgf, label, aes_key, seed)?,
    };
    let c2 = kw::kwp_wrap(aes_key, plaintext)?;
    let mut out = Vec::with_capacity(c1.len() + c2.len());
    out.extend_from_slice(&c1);
    out.extend_from_slice(&c2);
    Ok(out)
}

fn seeded_oaep(key: &RsaKey, md: Md, mgf: Md, label: &[u8], m: &[u8], seed: &[u8]) -> Result<Vec<u8>> {
    let k = key.len();
    let em = eme_oaep_encode(k, md, mgf, label, m, seed)?;
    let mut out = vec![0u8; k];
    let n = key.engine.encrypt(Pad::None, &em, &mut out).map_err(|_| Error::new(CKR_FUNCTION_FAILED))?;
    out.truncate(n);
    Ok(out)
}

/// CKM_RSA_AES_KEY_WRAP (wrap and unwrap only).
pub struct RsaAesKeyWrap;
pub static RSA_AES_KEY_WRAP: RsaAesKeyWrap = RsaAesKeyWrap;

impl Mechanism for RsaAesKeyWrap {
    fn wrap(&self, p: &Params, key: &KeyMaterial, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (aes_len, oaep) = params(p)?;
        key.rsa_public().map_err(|_| Error::new(CKR_WRAPPING_KEY_TYPE_INCONSISTENT))?;
        rsa::strong_public(key)?;
        rsa::oaep_params(oaep)?;
        if plaintext.is_empty() {
            return err(CKR_KEY_SIZE_RANGE);
        }
        let aes = rng::random_vec(aes_len)?;
        rsa_aes_wrap_with(key, &aes, oaep, None, plaintext)
    }

    fn unwrap(&self, p: &Params, key: &KeyMaterial, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (aes_len, oaep) = params(p)?;
        let key = key.rsa_private().map_err(|_| Error::new(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT))?;
        let (md, mgf, label) = rsa::oaep_params(oaep)?;
        let k = key.len();
        if wrapped.len() < k + 16 || (wrapped.len() - k) % 8 != 0 {
            return err(CKR_WRAPPED_KEY_LEN_RANGE);
        }
        let (c1, c2) = wrapped.split_at(k);
        let aes = rsa::oaep_decrypt(key, md, mgf, label, c1).map_err(|_| Error::new(CKR_WRAPPED_KEY_INVALID))?;
        if aes.len() != aes_len {
            return err(CKR_WRAPPED_KEY_INVALID);
        }
        kw::kwp_unwrap(&aes, c2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::*;

    fn sha1_oaep() -> Params {
        oaep(CKM_SHA_1, CKG_MGF1_SHA1, &[])
    }

    fn azure(bits: usize) -> Params {
        Params::RsaAesKeyWrap { aes_bits: bits, oaep: Box::new(sha1_oaep()) }
    }

    #[test]
    fn azure_byok_kat_unwraps_to_the_targets() {
        let (private, public) = kat_kek();
        let (kp, kpub) = (material(&private), material(&public));
        assert_eq!(kat()["cases"].as_array().unwrap().len(), 4);
        for case in kat()["cases"].as_array().unwrap() {
            let ct = kat_hex(&case["ciphertext_hex"]);
            let target = kat_hex(&case["target_plaintext"]);
            assert_eq!(*RSA_AES_KEY_WRAP.unwrap(&azure(256), &kp, &ct).unwrap(), target, "{}", case["name"]);
            // Our production wrap (random AES key and OAEP seed) unwraps with the KAT private key.
            let mine = RSA_AES_KEY_WRAP.wrap(&azure(256), &kpub, &target).unwrap();
            assert_eq!(mine.len(), ct.len());
            assert_ne!(mine, ct);
            assert_eq!(*RSA_AES_KEY_WRAP.unwrap(&azure(256), &kp, &mine).unwrap(), target);
            // And its AES key decrypts with plain CKM_RSA_PKCS_OAEP (SHA-1).
            let aes = crate::mech::rsa::RSA_PKCS_OAEP.unwrap(&sha1_oaep(), &kp, &mine[..256]).unwrap();
            assert_eq!(aes.len(), 32);
            assert_eq!(*kw::kwp_unwrap(&aes, &mine[256..]).unwrap(), target);
        }
    }

    #[test]
    fn azure_byok_kat_wrap_is_bit_exact_with_the_published_seed() {
        let (_, public) = kat_kek();
        let kek = material(&public);
        let aes = kat_hex(&kat()["ephemeral_aes_256_key"]);
        let seed = kat_hex(&kat()["oaep_seed"]);
        let wrapped_aes_key = kat_hex(&kat()["wrapped_aes_key"]);
        for case in kat()["cases"].as_array().unwrap() {
            let target = kat_hex(&case["target_plaintext"]);
            let out = rsa_aes_wrap_with(&kek, &aes, &sha1_oaep(), Some(&seed), &target).unwrap();
            assert_eq!(out[..256], wrapped_aes_key[..]);
            assert_eq!(out[256..], kat_hex(&case["kwp_wrapped_target"])[..]);
            assert_eq!(out, kat_hex(&case["ciphertext_hex"]));
        }
        // A wrong seed length is refused.
        assert_eq!(rv(rsa_aes_wrap_with(&kek, &aes, &sha1_oaep(), Some(&seed[1..]), b"x")), CKR_ARGUMENTS_BAD);
    }

    #[test]
    fn seeded_oaep_reproduces_rfc8017_example_1_1() {
        use crate::mech::rsa::tests::{private_attrs, OAEP1, OAEP1_1};
        let KeyMaterial::RsaPrivate(key) = material(&private_attrs(&OAEP1, 8)) else { panic!() };
        let [m, seed, c] = OAEP1_1.map(h);
        assert_eq!(seeded_oaep(&key, Md::Sha1, Md::Sha1, &[], &m, &seed).unwrap(), c);
    }

    #[test]
    fn tampering_and_wrong_parameters_fail() {
        let (private, _) = kat_kek();
        let kp = material(&private);
        // One flipped bit in the KWP part (the published negative case) and in the RSA part.
        let tampered = h(kat()["tampered_ciphertext_hex"].as_str().unwrap());
        assert_eq!(rv(RSA_AES_KEY_WRAP.unwrap(&azure(256), &kp, &tampered)), CKR_WRAPPED_KEY_INVALID);
        let ct = kat_hex(&kat()["cases"][2]["ciphertext_hex"]);
        for i in [0usize, 100, 255, 256, 270, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[i] ^= 0x08;
            assert_eq!(rv(RSA_AES_KEY_WRAP.unwrap(&azure(256), &kp, &bad)), CKR_WRAPPED_KEY_INVALID, "byte {i}");
        }
        // OAEP-SHA256 (what smallstep/pem-key-wrap uses) does not decrypt the SHA-1 blob.
        let sha256 = Params::RsaAesKeyWrap { aes_bits: 256, oaep: Box::new(oaep(CKM_SHA256, CKG_MGF1_SHA256, &[])) };
        assert_eq!(rv(RSA_AES_KEY_WRAP.unwrap(&sha256, &kp, &ct)), CKR_WRAPPED_KEY_INVALID);
        // Nor does a label, nor a different AES key size.
        let labelled = Params::RsaAesKeyWrap { aes_bits: 256, oaep: Box::new(oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"l")) };
        assert_eq!(rv(RSA_AES_KEY_WRAP.unwrap(&labelled, &kp, &ct)), CKR_WRAPPED_KEY_INVALID);
        assert_eq!(rv(RSA_AES_KEY_WRAP.unwrap(&azure(128), &kp, &ct)), CKR_WRAPPED_KEY_INVALID);
        // Lengths.
        for n in [0usize, 255, 256, 256 + 8, 256 + 17] {
            assert_eq!(
                rv(RSA_AES_KEY_WRAP.unwrap(&azure(256), &kp, &ct[..n.min(ct.len())])),
                CKR_WRAPPED_KEY_LEN_RANGE,
                "{n}"
            );
        }
        // Parameters.
        for p in [
            azure(64),
            azure(512),
            Params::RsaAesKeyWrap { aes_bits: 256, oaep: Box::new(oaep(CKM_SHA256, CKG_MGF1_SHA1, &[])) },
            Params::RsaAesKeyWrap { aes_bits: 256, oaep: Box::new(Params::None) },
            sha1_oaep(),
            Params::None,
        ] {
            assert_eq!(rv(RSA_AES_KEY_WRAP.wrap(&p, &kp, b"0123456789abcdef")), CKR_MECHANISM_PARAM_INVALID, "{p:?}");
            assert_eq!(rv(RSA_AES_KEY_WRAP.unwrap(&p, &kp, &ct)), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(rv(RSA_AES_KEY_WRAP.wrap(&azure(256), &kp, &[])), CKR_KEY_SIZE_RANGE);
        // Key types.
        let (ec_pub, ec_priv) = ec_pair(crate::mech::ec::P256.params);
        assert_eq!(
            rv(RSA_AES_KEY_WRAP.wrap(&azure(256), &material(&ec_pub), b"k")),
            CKR_WRAPPING_KEY_TYPE_INCONSISTENT
        );
        assert_eq!(
            rv(RSA_AES_KEY_WRAP.unwrap(&azure(256), &material(&ec_priv), &ct)),
            CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT
        );
        let (_, public) = kat_kek();
        assert_eq!(
            rv(RSA_AES_KEY_WRAP.unwrap(&azure(256), &material(&public), &ct)),
            CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT
        );
        // Wrap/unwrap only.
        assert_eq!(rv(RSA_AES_KEY_WRAP.encrypt(&azure(256), &kp)), CKR_MECHANISM_INVALID);
    }

    #[test]
    fn every_aes_size_hash_and_kek_size_round_trips() {
        for bits in [2048usize, 3072, 4096] {
            let (public, private) = rsa_pair(bits);
            let (kpub, kp) = (material(&public), material(&private));
            for aes_bits in [128usize, 192, 256] {
                for (hash, mgf, _, _, _) in HASHES {
                    for label in [&b""[..], b"azure"] {
                        let p = Params::RsaAesKeyWrap { aes_bits, oaep: Box::new(oaep(hash, mgf, label)) };
                        for len in [1usize, 16, 32, 1217] {
                            let pt: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x3c).collect();
                            let w = RSA_AES_KEY_WRAP.wrap(&p, &kpub, &pt).unwrap();
                            assert_eq!(w.len(), bits / 8 + len.div_ceil(8) * 8 + 8);
                            assert_eq!(*RSA_AES_KEY_WRAP.unwrap(&p, &kp, &w).unwrap(), pt);
                        }
                    }
                }
            }
        }
    }
}
