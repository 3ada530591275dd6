//! Helpers shared by the mechanism tests.

use super::{CipherOp, KeyMaterial, Mechanism, Params};
use crate::error::Result;
use crate::object::attr::{Attr, AttrMap};
use cryptoki_sys::*;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

pub fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap()
}

pub fn rv<T>(r: Result<T>) -> CK_RV {
    match r {
        Ok(_) => CKR_OK,
        Err(e) => e.rv(),
    }
}

pub fn attrs(class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE, items: &[(CK_ATTRIBUTE_TYPE, &[u8])]) -> AttrMap {
    let mut m = AttrMap::new();
    m.set(CKA_CLASS, Attr::Ulong(class));
    m.set(CKA_KEY_TYPE, Attr::Ulong(kt));
    for (t, v) in items {
        m.set(*t, Attr::bytes(v.to_vec()));
    }
    m
}

/// `attrs` with class and key type added.
pub fn with_class(mut m: AttrMap, class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE) -> AttrMap {
    m.set(CKA_CLASS, Attr::Ulong(class));
    m.set(CKA_KEY_TYPE, Attr::Ulong(kt));
    m
}

pub fn material(m: &AttrMap) -> KeyMaterial {
    KeyMaterial::from_attrs(m).unwrap()
}

/// Single-part sign.
pub fn sign(m: &dyn Mechanism, p: &Params, k: &KeyMaterial, data: &[u8]) -> Result<Vec<u8>> {
    let mut op = m.sign(p, k)?;
    op.update(data)?;
    let mut out = vec![0u8; op.sig_len()];
    let n = op.sign_final(&mut out)?;
    assert_eq!(n, out.len(), "sig_len must be exact");
    Ok(out)
}

/// Multi-part sign in `chunk`-byte pieces.
pub fn sign_parts(m: &dyn Mechanism, p: &Params, k: &KeyMaterial, data: &[u8], chunk: usize) -> Result<Vec<u8>> {
    let mut op = m.sign(p, k)?;
    for c in data.chunks(chunk.max(1)) {
        op.update(c)?;
    }
    let mut out = vec![0u8; op.sig_len()];
    let n = op.sign_final(&mut out)?;
    out.truncate(n);
    Ok(out)
}

pub fn verify(m: &dyn Mechanism, p: &Params, k: &KeyMaterial, data: &[u8], sig: &[u8]) -> Result<()> {
    let mut op = m.verify(p, k)?;
    let (a, b) = data.split_at(data.len() / 2);
    op.update(a)?;
    op.update(b)?;
    op.verify_final(sig)
}

pub fn encrypt(m: &dyn Mechanism, p: &Params, k: &KeyMaterial, data: &[u8]) -> Result<Vec<u8>> {
    single(&mut *m.encrypt(p, k)?, data)
}

pub fn decrypt(m: &dyn Mechanism, p: &Params, k: &KeyMaterial, data: &[u8]) -> Result<Vec<u8>> {
    single(&mut *m.decrypt(p, k)?, data)
}

/// Decrypt through update + finalize.
pub fn decrypt_parts(m: &dyn Mechanism, p: &Params, k: &KeyMaterial, data: &[u8]) -> Result<Vec<u8>> {
    let mut op = m.decrypt(p, k)?;
    let mut out = vec![0u8; op.update_len(data.len()) + op.final_len()];
    let mut n = 0;
    for c in data.chunks(7) {
        n += op.update(c, &mut out[n..])?;
    }
    n += op.finalize(&mut out[n..])?;
    out.truncate(n);
    Ok(out)
}

/// A secret key of type `kt` with value `v`.
pub fn secret(kt: CK_KEY_TYPE, v: &[u8]) -> KeyMaterial {
    KeyMaterial::Secret(super::key::SecretKey::new(kt, v))
}

/// A single-part run of a cipher operation.
pub fn single(op: &mut dyn CipherOp, input: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; op.single_len(input.len())];
    let n = op.single(input, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// A multi-part run with the given chunk sizes (cycled), sizing every output from the bounds.
pub fn multi(op: &mut dyn CipherOp, input: &[u8], chunks: &[usize]) -> Result<Vec<u8>> {
    let mut res = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let c = chunks[i % chunks.len()].min(rest.len());
        i += 1;
        let mut out = vec![0u8; op.update_len(c)];
        let n = op.update(&rest[..c], &mut out)?;
        assert_eq!(n, out.len(), "update writes exactly update_len");
        res.extend_from_slice(&out[..n]);
        rest = &rest[c..];
    }
    let mut out = vec![0u8; op.final_len()];
    let n = op.finalize(&mut out)?;
    res.extend_from_slice(&out[..n]);
    Ok(res)
}

/// Generated key pairs, one per (mechanism, size/curve), shared by the tests of a run:
/// (public attributes, private attributes) with class and key type set.
pub fn generated(mech: CK_MECHANISM_TYPE, public_template: AttrMap) -> (AttrMap, AttrMap) {
    type Pairs = HashMap<(CK_MECHANISM_TYPE, Vec<u8>), (AttrMap, AttrMap)>;
    static CACHE: OnceLock<Mutex<Pairs>> = OnceLock::new();
    let key = (mech, public_template.encode().to_vec());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return v.clone();
    }
    let e = super::lookup(mech).unwrap();
    let (p, s) = e.imp.generate_pair(&public_template, &AttrMap::new()).unwrap();
    let kt = super::pair_key_type(mech).unwrap();
    let pair = (with_class(p, CKO_PUBLIC_KEY, kt), with_class(s, CKO_PRIVATE_KEY, kt));
    cache.lock().unwrap().insert(key, pair.clone());
    pair
}

pub fn rsa_pair(bits: usize) -> (AttrMap, AttrMap) {
    let mut t = AttrMap::new();
    t.set(CKA_MODULUS_BITS, Attr::Ulong(bits as CK_ULONG));
    generated(CKM_RSA_PKCS_KEY_PAIR_GEN, t)
}

pub fn ec_pair(params: &[u8]) -> (AttrMap, AttrMap) {
    let mut t = AttrMap::new();
    t.set(CKA_EC_PARAMS, Attr::bytes(params.to_vec()));
    generated(CKM_EC_KEY_PAIR_GEN, t)
}

pub fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, label: &[u8]) -> Params {
    Params::Oaep { hash, mgf, label: label.to_vec() }
}

pub fn pss(hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, salt_len: usize) -> Params {
    Params::Pss { hash, mgf, salt_len }
}

/// (hash mechanism, MGF1 generator, hashed PKCS#1 mechanism, hashed PSS mechanism, length).
pub const HASHES: [(CK_MECHANISM_TYPE, CK_ULONG, CK_MECHANISM_TYPE, CK_MECHANISM_TYPE, usize); 5] = [
    (CKM_SHA_1, CKG_MGF1_SHA1, CKM_SHA1_RSA_PKCS, CKM_SHA1_RSA_PKCS_PSS, 20),
    (CKM_SHA224, CKG_MGF1_SHA224, CKM_SHA224_RSA_PKCS, CKM_SHA224_RSA_PKCS_PSS, 28),
    (CKM_SHA256, CKG_MGF1_SHA256, CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, 32),
    (CKM_SHA384, CKG_MGF1_SHA384, CKM_SHA384_RSA_PKCS, CKM_SHA384_RSA_PKCS_PSS, 48),
    (CKM_SHA512, CKG_MGF1_SHA512, CKM_SHA512_RSA_PKCS, CKM_SHA512_RSA_PKCS_PSS, 64),
];

pub fn imp(ty: CK_MECHANISM_TYPE) -> &'static dyn Mechanism {
    super::lookup(ty).unwrap().imp
}

pub fn digest(mech: CK_MECHANISM_TYPE, data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(super::digest::algorithm_for(mech).unwrap(), data).as_ref().to_vec()
}

/// The Azure BYOK CKM_RSA_AES_KEY_WRAP known-answer test (`testdata/azure_byok_kat.json`, a
/// copy of the values in tests/data/byok/kat.json).
pub fn kat() -> &'static serde_json::Value {
    static KAT: OnceLock<serde_json::Value> = OnceLock::new();
    KAT.get_or_init(|| serde_json::from_str(include_str!("testdata/azure_byok_kat.json")).unwrap())
}

pub fn kat_hex(v: &serde_json::Value) -> Vec<u8> {
    h(v.as_str().unwrap())
}

/// The DER inside a PEM block.
pub fn pem(s: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = s.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

/// The KAT's KEK: (private key attributes, public key attributes).
pub fn kat_kek() -> (AttrMap, AttrMap) {
    let private = super::pkcs8_to_attrs(&pem(kat()["kek_private_key_pkcs8_pem"].as_str().unwrap())).unwrap();
    let public = super::spki_to_attrs(&pem(kat()["kek_public_key_spki_pem"].as_str().unwrap())).unwrap();
    (private, public)
}
