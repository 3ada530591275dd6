//! Timings of the mechanism layer against aws-lc-rs alone: what the token adds on the hot paths
//! (an operation object per call, the key cache, the two-call output convention). No
//! assertions on speed; correctness is the unit tests' business. The side-by-side comparison with
//! SoftHSMv2 through the C ABI is the team's separate benchmark (see README.md, "Speed").
//!
//! `cargo bench --bench mech` runs every case; `cargo bench --bench mech -- rsa_keygen p256`
//! runs the cases whose names contain one of the words.

use cryptoki_sys::*;
use shieldhsm::mech::key::SecretKey;
use shieldhsm::mech::{self, KeyMaterial, Mechanism, Params};
use shieldhsm::object::attr::{Attr, AttrMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// DER DigestInfo prefix of SHA-256 (RFC 8017 §9.2 note 1): what CKM_RSA_PKCS signs over.
const SHA256_DIGEST_INFO: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

const NONE: Params = Params::None;

/// Runs `f` `n` times after a warm-up of a tenth of that, and prints the time per call.
fn time(name: &str, n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n.div_ceil(10) {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let per = t.elapsed() / n;
    println!("{name:<48} {:>10.2} us/op {:>10.0} ops/s", per.as_secs_f64() * 1e6, 1.0 / per.as_secs_f64());
    per
}

/// A key pair from the registry's generator, class and key type set: (public, private).
fn pair(mech_type: CK_MECHANISM_TYPE, template: AttrMap) -> (AttrMap, AttrMap) {
    let entry = mech::lookup(mech_type).expect("registered");
    let (mut public, mut private) = entry.imp.generate_pair(&template, &AttrMap::new()).expect("generates");
    let kt = mech::pair_key_type(mech_type).expect("a key-pair mechanism");
    for (m, class) in [(&mut public, CKO_PUBLIC_KEY), (&mut private, CKO_PRIVATE_KEY)] {
        m.set(CKA_CLASS, Attr::Ulong(class));
        m.set(CKA_KEY_TYPE, Attr::Ulong(kt));
    }
    (public, private)
}

/// One single-part signature through the mechanism's `SignOp`, as C_SignInit + C_Sign do.
fn sign_once(m: &dyn Mechanism, key: &KeyMaterial, data: &[u8], sig: &mut [u8]) {
    let mut op = m.sign(&NONE, key).expect("sign init");
    op.update(data).expect("update");
    black_box(op.sign_final(sig).expect("sign"));
}

fn rsa2048_sign() {
    let mut t = AttrMap::new();
    t.set(CKA_MODULUS_BITS, Attr::Ulong(2048));
    let (_, private) = pair(CKM_RSA_PKCS_KEY_PAIR_GEN, t);
    let key = KeyMaterial::from_attrs(&private).expect("key");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"bench");
    let di = [&SHA256_DIGEST_INFO[..], digest.as_ref()].concat();
    let mut sig = vec![0u8; 256];
    time("RSA-2048 CKM_RSA_PKCS (DigestInfo)", 2000, || sign_once(&mech::rsa::RSA_PKCS, &key, &di, &mut sig));
    time("RSA-2048 CKM_SHA256_RSA_PKCS", 2000, || sign_once(&mech::rsa::SHA256_RSA_PKCS, &key, b"bench", &mut sig));
    let der = mech::private_to_pkcs8(&private).expect("pkcs8");
    let kp = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).expect("aws-lc-rs key");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    time("RSA-2048 aws-lc-rs RsaKeyPair::sign", 2000, || {
        kp.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, b"bench", &mut sig).expect("sign")
    });
}

fn p256_sign() {
    let mut t = AttrMap::new();
    t.set(CKA_EC_PARAMS, Attr::bytes(mech::ec::P256.params.to_vec()));
    let (_, private) = pair(CKM_EC_KEY_PAIR_GEN, t);
    let key = KeyMaterial::from_attrs(&private).expect("key");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"bench");
    let mut sig = [0u8; 64];
    time("P-256 CKM_ECDSA (digest)", 40_000, || sign_once(&mech::ec::ECDSA, &key, digest.as_ref(), &mut sig));
    time("P-256 CKM_ECDSA_SHA256", 40_000, || sign_once(&mech::ec::ECDSA_SHA256, &key, b"bench", &mut sig));
    let der = mech::private_to_pkcs8(&private).expect("pkcs8");
    let kp =
        aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .expect("aws-lc-rs key");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    time("P-256 aws-lc-rs EcdsaKeyPair::sign", 40_000, || {
        black_box(kp.sign(&rng, b"bench").expect("sign"));
    });
}

/// DSA-2048 (N = 256) sign and verify through the mechanism layer. aws-lc-rs has no DSA API to
/// set beside it; `openssl speed dsa2048` is the nearest ceiling.
fn dsa2048() {
    let params = mech::dsa::generate_params(2048, None).expect("parameters");
    let mut t = AttrMap::new();
    for a in [CKA_PRIME, CKA_SUBPRIME, CKA_BASE] {
        t.set(a, params.get(a).expect("generated").clone());
    }
    let (public, private) = pair(CKM_DSA_KEY_PAIR_GEN, t);
    let (key, pubkey) =
        (KeyMaterial::from_attrs(&private).expect("key"), KeyMaterial::from_attrs(&public).expect("key"));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"bench");
    let mut sig = [0u8; 64];
    time("DSA-2048 CKM_DSA (digest) sign", 4000, || sign_once(&mech::dsa::DSA, &key, digest.as_ref(), &mut sig));
    time("DSA-2048 CKM_DSA_SHA256 sign", 4000, || sign_once(&mech::dsa::DSA_SHA256, &key, b"bench", &mut sig));
    sign_once(&mech::dsa::DSA_SHA256, &key, b"bench", &mut sig);
    time("DSA-2048 CKM_DSA_SHA256 verify", 2000, || {
        let mut op = mech::dsa::DSA_SHA256.verify(&NONE, &pubkey).expect("verify init");
        op.update(b"bench").expect("update");
        op.verify_final(&sig).expect("verifies");
    });
}

fn gcm_single_part() {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let value = [7u8; 32];
    let key = KeyMaterial::Secret(SecretKey::new(CKK_AES, &value));
    let iv = [0xca; 12];
    let p = Params::Gcm { iv: iv.to_vec(), aad: Vec::new(), tag_bits: 128 };
    let msg = [0x42u8; 64];
    let mut out = [0u8; 80];
    time("AES-256-GCM init + single-part encrypt, 64 B", 200_000, || {
        let mut op = mech::aes::AES_GCM.encrypt(&p, &key).expect("init");
        black_box(op.single(&msg, &mut out).expect("encrypt"));
    });
    let ct = out;
    let mut plain = [0u8; 64];
    time("AES-256-GCM init + single-part decrypt, 64 B", 200_000, || {
        let mut op = mech::aes::AES_GCM.decrypt(&p, &key).expect("init");
        black_box(op.single(&ct, &mut plain).expect("decrypt"));
    });
    // The engine alone: copy, seal in place, copy the tag.
    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &value).expect("key"));
    time("AES-256-GCM aws-lc-rs seal, 64 B", 200_000, || {
        out[..64].copy_from_slice(&msg);
        let tag = raw
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut out[..64])
            .expect("seal");
        out[64..].copy_from_slice(tag.as_ref());
    });
    println!("size_of::<KeyMaterial>() = {} bytes", std::mem::size_of::<KeyMaterial>());
}

/// RSA generation time per size, on both engine paths (multiples of 128 bits, and the others).
fn rsa_keygen() {
    for bits in [2048usize, 2049, 3072, 3092, 4096, 4097] {
        let runs = 6;
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                black_box(mech::rsa::generate(bits, &[1, 0, 1]).expect("generates"));
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let mean = times.iter().sum::<f64>() / runs as f64;
        println!(
            "RSA-{bits} keygen: mean {mean:.0} ms, median {:.0} ms, min {:.0} ms, max {:.0} ms ({runs} runs)",
            times[runs / 2],
            times[0],
            times[runs - 1]
        );
    }
}

fn main() {
    let cases: [(&str, fn()); 5] = [
        ("rsa2048_sign", rsa2048_sign),
        ("p256_sign", p256_sign),
        ("dsa2048", dsa2048),
        ("gcm_single_part", gcm_single_part),
        ("rsa_keygen", rsa_keygen),
    ];
    // `cargo bench` passes `--bench`; other words select cases.
    let words: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    for (name, run) in cases {
        if words.is_empty() || words.iter().any(|w| name.contains(w.as_str())) {
            println!("== {name}");
            run();
        }
    }
}
