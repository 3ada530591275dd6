//! Independent oracles: what the token computes through the real PKCS#11 ABI (the built
//! `libshieldhsm.so`, whose engine is aws-lc) is cross-checked with RustCrypto implementations
//! (`p256`, `aes-gcm`, `sha2`, `rsa`), which share no code with aws-lc, in both directions where
//! the operation has two sides: the token's output is checked by the oracle, and the oracle's
//! output is checked by the token.

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha2::{Digest, Sha256};

/// DER OID of prime256v1 (secp256r1), as CKA_EC_PARAMS.
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn session() -> (Module, Session) {
    logged_in_session("oracles")
}

/// Deterministic, non-trivial test bytes.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8 ^ seed).collect()
}

/// A 12-byte GCM nonce for aes-gcm.
fn nonce(iv: &[u8]) -> aes_gcm::Nonce<aes_gcm::aes::cipher::consts::U12> {
    <[u8; 12]>::try_from(iv).unwrap().into()
}

fn attr_bytes(s: &Session, key: ObjectHandle, t: AttributeType) -> Vec<u8> {
    let a = s.get_attributes(key, &[t]).unwrap();
    match a.into_iter().next() {
        Some(Attribute::EcPoint(v)) | Some(Attribute::Modulus(v)) | Some(Attribute::PublicExponent(v)) => v,
        other => panic!("attribute {t:?} missing or unexpected: {other:?}"),
    }
}

#[test]
fn ecdsa_p256_token_signatures_verify_in_p256() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};
    let (_m, s) = session();
    let (pubk, privk) =
        s.generate_key_pair(&Mechanism::EccKeyPairGen, &[Attribute::EcParams(P256_OID.to_vec())], &[]).unwrap();
    // CKA_EC_POINT is DER: OCTET STRING (0x04, length 65) wrapping the uncompressed SEC1 point.
    let der = attr_bytes(&s, pubk, AttributeType::EcPoint);
    assert_eq!(&der[..2], &[0x04, 65], "CKA_EC_POINT is a DER OCTET STRING of 65 bytes");
    assert_eq!(der.len(), 67);
    assert_eq!(der[2], 0x04, "uncompressed point");
    let vk = VerifyingKey::from_sec1_bytes(&der[2..]).expect("the token's point is on P-256");

    for i in 0..8u8 {
        let msg = [b"token-signed message #".as_slice(), &[i]].concat();
        // CKM_ECDSA over a SHA-256 digest computed here.
        let digest = Sha256::digest(&msg);
        let raw = s.sign(&Mechanism::Ecdsa, privk, &digest).unwrap();
        assert_eq!(raw.len(), 64, "CKM_ECDSA signature is r||s");
        let sig = Signature::from_slice(&raw).expect("r and s in range");
        vk.verify_prehash(&digest, &sig).expect("p256 accepts the token's CKM_ECDSA signature");
        // CKM_ECDSA_SHA256 over the message.
        let full = s.sign(&Mechanism::EcdsaSha256, privk, &msg).unwrap();
        assert_eq!(full.len(), 64);
        let sig2 = Signature::from_slice(&full).unwrap();
        vk.verify(&msg, &sig2).expect("p256 accepts the token's CKM_ECDSA_SHA256 signature");
        // Negative controls: one flipped message bit, one flipped digest bit.
        let mut flipped = msg.clone();
        flipped[3] ^= 0x10;
        assert!(vk.verify(&flipped, &sig2).is_err(), "a flipped message bit must fail");
        let mut d2 = digest;
        d2[0] ^= 1;
        assert!(vk.verify_prehash(&d2, &sig).is_err(), "a flipped digest bit must fail");
    }
}

#[test]
fn ecdsa_p256_signatures_verify_in_the_token() {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    let (_m, s) = session();
    let sk = SigningKey::from_slice(&Sha256::digest(b"fixed oracle key bytes")).unwrap();
    let point = sk.verifying_key().to_encoded_point(false);
    let mut der_point = vec![0x04, 65];
    der_point.extend_from_slice(point.as_bytes());
    let pubk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_OID.to_vec()),
            Attribute::EcPoint(der_point.clone()),
            Attribute::Verify(true),
        ])
        .unwrap();
    assert_eq!(attr_bytes(&s, pubk, AttributeType::EcPoint), der_point);

    let msg = b"signed by RustCrypto p256, verified by the token";
    let sig: Signature = sk.sign(msg);
    let rs = sig.to_bytes().to_vec();
    s.verify(&Mechanism::EcdsaSha256, pubk, msg, &rs).expect("token accepts p256's ECDSA-SHA256 signature");
    let digest = Sha256::digest(msg);
    let pre: Signature = sk.sign_prehash(&digest).unwrap();
    s.verify(&Mechanism::Ecdsa, pubk, &digest, &pre.to_bytes()).expect("token accepts p256's prehash signature");

    // Tampered signature, tampered message: CKR_SIGNATURE_INVALID.
    let mut bad = rs.clone();
    bad[40] ^= 0x01;
    assert_eq!(rv(s.verify(&Mechanism::EcdsaSha256, pubk, msg, &bad).unwrap_err()), RvError::SignatureInvalid);
    let mut bad_msg = msg.to_vec();
    bad_msg[0] ^= 0x80;
    assert_eq!(rv(s.verify(&Mechanism::EcdsaSha256, pubk, &bad_msg, &rs).unwrap_err()), RvError::SignatureInvalid);
}

#[test]
fn aes_256_gcm_agrees_with_aes_gcm_crate() {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::Aes256Gcm;
    let (_m, s) = session();
    let key = bytes(32, 0xa5);
    let k = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(key.clone()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ])
        .unwrap();
    let oracle = Aes256Gcm::new_from_slice(&key).unwrap();
    let aad = b"associated data, authenticated only".to_vec();
    for (n, len) in [0usize, 1, 15, 16, 17, 100, 4096].into_iter().enumerate() {
        let mut iv = bytes(12, n as u8);
        let pt = bytes(len, 0x3c ^ n as u8);
        // Token encrypts; aes-gcm decrypts (ciphertext || 16-byte tag).
        let ct = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, &aad, 128.into()).unwrap()), k, &pt).unwrap();
        assert_eq!(ct.len(), len + 16);
        let back = oracle.decrypt(&nonce(&iv), Payload { msg: &ct, aad: &aad }).expect("aes-gcm decrypts");
        assert_eq!(back, pt);
        // aes-gcm encrypts; same bytes, and the token decrypts.
        let ct2 = oracle.encrypt(&nonce(&iv), Payload { msg: &pt, aad: &aad }).unwrap();
        assert_eq!(ct2, ct, "both implementations produce the same ciphertext and tag");
        let mut iv2 = bytes(12, 0x77 ^ n as u8);
        let ct3 = oracle.encrypt(&nonce(&iv2), Payload { msg: &pt, aad: &aad }).unwrap();
        let dec = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv2, &aad, 128.into()).unwrap()), k, &ct3).unwrap();
        assert_eq!(dec, pt);
        // A tampered tag, and tampered AAD, are refused by the token.
        let mut bad = ct3.clone();
        *bad.last_mut().unwrap() ^= 0x01;
        let e = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv2, &aad, 128.into()).unwrap()), k, &bad);
        let e = rv(e.expect_err("tampered tag must fail"));
        assert_eq!(e, RvError::EncryptedDataInvalid);
        let bad_aad = b"associated data, authenticated onlY".to_vec();
        let e = s.decrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv2, &bad_aad, 128.into()).unwrap()), k, &ct3);
        assert!(e.is_err(), "tampered AAD must fail");
    }
}

#[test]
fn sha256_agrees_with_sha2_crate() {
    let (_m, s) = session();
    for len in [0usize, 1, 55, 56, 63, 64, 65, 1000, 1 << 20] {
        let data = bytes(len, 0x5a);
        let want = Sha256::digest(&data).to_vec();
        assert_eq!(s.digest(&Mechanism::Sha256, &data).unwrap(), want, "C_Digest of {len} bytes");
    }
    // Multi-part in uneven chunks (including empty updates), over 1 MiB + 3.
    let data = bytes((1 << 20) + 3, 0xc3);
    let want = Sha256::digest(&data).to_vec();
    s.digest_init(&Mechanism::Sha256).unwrap();
    let sizes = [1usize, 0, 63, 64, 65, 7, 1000, 55, 4097];
    let (mut off, mut i) = (0, 0);
    while off < data.len() {
        let end = (off + sizes[i % sizes.len()]).min(data.len());
        s.digest_update(&data[off..end]).unwrap();
        off = end;
        i += 1;
    }
    assert_eq!(s.digest_final().unwrap(), want, "multi-part C_DigestUpdate");
}

#[test]
fn rsa_2048_agrees_with_rsa_crate() {
    use rsa::{BigUint, Oaep, Pkcs1v15Sign, Pss, RsaPublicKey};
    let (_m, s) = session();
    let (pubk, privk) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(2048.into()), Attribute::PublicExponent(vec![1, 0, 1]), Attribute::Verify(true)],
            &[Attribute::Sign(true), Attribute::Decrypt(true)],
        )
        .unwrap();
    let n = attr_bytes(&s, pubk, AttributeType::Modulus);
    let e = attr_bytes(&s, pubk, AttributeType::PublicExponent);
    let pk = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)).unwrap();
    assert_eq!(rsa::traits::PublicKeyParts::size(&pk), 256, "2048-bit modulus");

    let msg = b"signed by the token, verified by RustCrypto rsa";
    let digest = Sha256::digest(msg);
    // PSS, SHA-256, MGF1-SHA256, salt 32: checked with the salt length enforced.
    let pss = PkcsPssParams { hash_alg: MechanismType::SHA256, mgf: PkcsMgfType::MGF1_SHA256, s_len: 32.into() };
    let psig = s.sign(&Mechanism::Sha256RsaPkcsPss(pss), privk, msg).unwrap();
    assert_eq!(psig.len(), 256);
    pk.verify(Pss::new_with_salt::<Sha256>(32), &digest, &psig).expect("rsa accepts the token's PSS signature");
    {
        use rsa::signature::Verifier;
        let vk = rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(pk.clone(), 32);
        vk.verify(msg, &rsa::pss::Signature::try_from(psig.as_slice()).unwrap()).unwrap();
        let mut bad = psig.clone();
        bad[100] ^= 4;
        assert!(vk.verify(msg, &rsa::pss::Signature::try_from(bad.as_slice()).unwrap()).is_err());
    }
    // PKCS#1 v1.5 with SHA-256. rsa's sha2 "oid" feature is off here, so the DigestInfo prefix
    // (RFC 8017 §9.2 note 1) is spelled out.
    let prefix = hex::decode("3031300d060960864801650304020105000420").unwrap();
    let pkcs1 = || Pkcs1v15Sign { hash_len: Some(32), prefix: prefix.clone().into_boxed_slice() };
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, privk, msg).unwrap();
    pk.verify(pkcs1(), &digest, &sig).expect("rsa accepts the token's PKCS#1 v1.5 signature");
    let other = Sha256::digest(b"another message");
    assert!(pk.verify(pkcs1(), &other, &sig).is_err(), "wrong digest must fail");

    // OAEP: rsa encrypts (SHA-256, MGF1-SHA256, empty label); the token decrypts.
    let oaep = PkcsOaepParams::new(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, PkcsOaepSource::empty());
    for len in [0usize, 1, 32, 190] {
        let pt = bytes(len, 0x11);
        let ct = pk.encrypt(&mut rsa::rand_core::OsRng, Oaep::new::<Sha256>(), &pt).unwrap();
        assert_eq!(s.decrypt(&Mechanism::RsaPkcsOaep(oaep), privk, &ct).unwrap(), pt, "OAEP of {len} bytes");
    }
    let ct = pk.encrypt(&mut rsa::rand_core::OsRng, Oaep::new::<Sha256>(), b"x").unwrap();
    let mut bad = ct.clone();
    bad[128] ^= 1;
    assert!(s.decrypt(&Mechanism::RsaPkcsOaep(oaep), privk, &bad).is_err(), "tampered OAEP must fail");
}
