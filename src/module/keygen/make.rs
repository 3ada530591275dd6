//! What `generatekey` makes: the key material (from the token's own generators in `mech`, as
//! C_GenerateKey and C_GenerateKeyPair use), the complete PKCS#11 objects, and the recovery blob.

use super::super::acl::Acl;
use super::super::admin::{AdminError, AdminResult};
use super::super::hash::key_hash;
use super::super::new_object::complete_new;
use super::super::world::WorldFile;
use super::params::{Curve, KeyParams, KeyType};
use crate::mech::{self, des3, ec, rsa as rsa_gen};
use crate::object::attr::{
    Attr, AttrMap, CKA_NFKM_APPNAME, CKA_NFKM_HASH, CKA_NFKM_ID, CKA_SHSM_ACL, CKA_SHSM_PROTECTION,
};
use crate::object::envelope::{self, seal};
use crate::object::policy::{self, Origin};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};

/// A generated key's parts, as PKCS#11 attributes.
pub(super) struct Material {
    /// The key's components in the private/secret object.
    private: AttrMap,
    /// Same for the public object (asymmetric keys).
    public: Option<AttrMap>,
    mech: CK_MECHANISM_TYPE,
}

fn keygen_failed() -> AdminError {
    AdminError::new("key generation failed", "retry; if it persists, report it")
}

/// New key material of the type, size, curve and exponent `p` asks for.
pub(super) fn make(p: &KeyParams) -> AdminResult<Material> {
    match p.ktype {
        KeyType::Rsa => make_rsa(p.size, p.pubexp),
        KeyType::Ec => make_ec(p.curve.unwrap_or(Curve::P256)),
        _ => make_secret(p.ktype, p.size),
    }
}

/// A key pair from its private components as the mechanism gives them: the public half is the
/// attributes `public_types` of them, and both get the SubjectPublicKeyInfo.
pub(super) fn pair(
    mut private: AttrMap,
    kt: CK_KEY_TYPE,
    public_types: &[CK_ATTRIBUTE_TYPE],
    mech: CK_MECHANISM_TYPE,
) -> AdminResult<Material> {
    let mut public = private.subset(public_types);
    let mut typed = public.clone();
    typed.set(CKA_CLASS, Attr::Ulong(CKO_PUBLIC_KEY));
    typed.set(CKA_KEY_TYPE, Attr::Ulong(kt));
    let spki = mech::public_key_info(&typed).ok_or_else(keygen_failed)?;
    private.set(CKA_PUBLIC_KEY_INFO, Attr::bytes(spki.clone()));
    public.set(CKA_PUBLIC_KEY_INFO, Attr::bytes(spki));
    Ok(Material { private, public: Some(public), mech })
}

/// An RSA key pair from the token's one generator, [`rsa_gen::generate`] (what C_GenerateKeyPair
/// and SHSM_GenerateKey use too): a modulus of exactly `bits` bits, public exponent `e`.
fn make_rsa(bits: u32, e: u64) -> AdminResult<Material> {
    let key = rsa_gen::generate(bits as usize, &e.to_be_bytes()).map_err(|_| keygen_failed())?;
    let private = rsa_gen::key_attrs(&key).map_err(|_| keygen_failed())?;
    pair(private, CKK_RSA, &[CKA_MODULUS, CKA_PUBLIC_EXPONENT], CKM_RSA_PKCS_KEY_PAIR_GEN)
}

/// An EC key pair from the token's generator, [`ec::generate`] (as C_GenerateKeyPair).
fn make_ec(curve: Curve) -> AdminResult<Material> {
    let key = ec::generate(curve.mech()).map_err(|_| keygen_failed())?;
    let private = ec::key_attrs(&key).map_err(|_| keygen_failed())?;
    pair(private, CKK_EC, &[CKA_EC_PARAMS, CKA_EC_POINT], CKM_EC_KEY_PAIR_GEN)
}

/// A random secret key of `bits` bits (DES3: 24 bytes with DES parity, as C_GenerateKey).
fn make_secret(ktype: KeyType, bits: u32) -> AdminResult<Material> {
    let len = match ktype {
        KeyType::Des3 => 24,
        _ => (bits / 8) as usize,
    };
    let mut value = mech::rng::random_vec(len).map_err(|_| keygen_failed())?;
    let mech = match ktype {
        KeyType::Aes => CKM_AES_KEY_GEN,
        KeyType::Des3 => {
            des3::set_odd_parity(&mut value);
            CKM_DES3_KEY_GEN
        }
        KeyType::Hmac(h) => h.keygen(),
        _ => return Err(keygen_failed()),
    };
    let mut private = AttrMap::new();
    private.set(CKA_VALUE, Attr::Bytes(value));
    Ok(Material { private, public: None, mech })
}

fn set_flags(m: &mut AttrMap, flags: &[(CK_ATTRIBUTE_TYPE, bool)]) {
    for (t, v) in flags {
        m.set(*t, Attr::Bool(*v));
    }
}

/// How a new key's objects are named and labelled.
pub(super) struct Naming<'a> {
    pub app: &'a str,
    /// The private/secret object's file; the public one's adds [`super::PUB_SUFFIX`].
    pub file: &'a str,
    pub ident: &'a str,
    pub label: &'a str,
    /// CKA_PRIVATE of the private/secret object.
    pub private_obj: bool,
    /// CKA_SHSM_PROTECTION.
    pub protection: &'a str,
    /// `Generate` for keys made here, `Create` for imported ones (not local, not
    /// always-sensitive, not never-extractable).
    pub origin: Origin,
}

impl Naming<'_> {
    /// One complete object of the key, stored in `file`: the template `t` with this label and
    /// id, under the implied class and key type, then the key's `components`; completed as a
    /// generated object and tagged with the nShield attributes and `acl`.
    fn object(
        &self,
        (class, kt): (CK_OBJECT_CLASS, CK_KEY_TYPE),
        mut t: AttrMap,
        components: &AttrMap,
        mech: CK_MECHANISM_TYPE,
        file: &str,
        acl: &Acl,
    ) -> AdminResult<AttrMap> {
        let internal = |e: crate::error::Error| {
            AdminError::new(format!("internal error building the key object ({e})"), "report this")
        };
        let implied: AttrMap = [(CKA_CLASS, Attr::Ulong(class)), (CKA_KEY_TYPE, Attr::Ulong(kt))].into_iter().collect();
        t.set(CKA_LABEL, Attr::bytes(self.label.as_bytes().to_vec()));
        t.set(CKA_ID, Attr::bytes(self.ident.as_bytes().to_vec()));
        if self.origin == Origin::Create {
            // A created object's template carries its material (and nothing computed: the
            // public key info, a private EC key's point, the modulus size are set after).
            t.remove(CKA_MODULUS_BITS);
            let computed =
                |k: CK_ATTRIBUTE_TYPE| k == CKA_PUBLIC_KEY_INFO || (k == CKA_EC_POINT && class == CKO_PRIVATE_KEY);
            for (k, v) in components.iter().filter(|(k, _)| !computed(*k)) {
                t.set(k, v.clone());
            }
        }
        let mut m = policy::apply(&t, &implied, self.origin).map_err(internal)?;
        for (k, v) in components.iter() {
            m.set(k, v.clone());
        }
        complete_new(&mut m, self.origin, Some(mech)).map_err(internal)?;
        m.set(CKA_NFKM_APPNAME, Attr::bytes(self.app.as_bytes().to_vec()));
        m.set(CKA_NFKM_ID, Attr::bytes(self.ident.as_bytes().to_vec()));
        m.set(CKA_NFKM_HASH, Attr::bytes(key_hash(file)));
        m.set(CKA_SHSM_PROTECTION, Attr::bytes(self.protection.as_bytes().to_vec()));
        m.set(CKA_SHSM_ACL, Attr::bytes(acl.to_json()));
        Ok(m)
    }
}

/// Builds the complete PKCS#11 objects of a key: the private or secret object, and for a key
/// pair the public one (stored in `pub_file`).
pub(super) fn build_objects(
    p: &KeyParams,
    mat: Material,
    n: &Naming<'_>,
    pub_file: &str,
    acl: &Acl,
    public_acl: &Acl,
) -> AdminResult<(AttrMap, Option<AttrMap>)> {
    let (class, kt) = match p.ktype {
        KeyType::Rsa => (CKO_PRIVATE_KEY, CKK_RSA),
        KeyType::Ec => (CKO_PRIVATE_KEY, CKK_EC),
        KeyType::Aes => (CKO_SECRET_KEY, CKK_AES),
        KeyType::Des3 => (CKO_SECRET_KEY, CKK_DES3),
        KeyType::Hmac(h) => (CKO_SECRET_KEY, h.key_type()),
    };
    let mut t = AttrMap::new();
    set_flags(
        &mut t,
        &[(CKA_TOKEN, true), (CKA_PRIVATE, n.private_obj), (CKA_SENSITIVE, true), (CKA_EXTRACTABLE, false)],
    );
    match p.ktype {
        KeyType::Rsa => set_flags(
            &mut t,
            &[(CKA_SIGN, true), (CKA_DECRYPT, true), (CKA_UNWRAP, true), (CKA_SIGN_RECOVER, true), (CKA_DERIVE, false)],
        ),
        KeyType::Ec => set_flags(
            &mut t,
            &[
                (CKA_SIGN, true),
                (CKA_DERIVE, true),
                (CKA_DECRYPT, false),
                (CKA_UNWRAP, false),
                (CKA_SIGN_RECOVER, false),
            ],
        ),
        KeyType::Aes | KeyType::Des3 => set_flags(
            &mut t,
            &[
                (CKA_ENCRYPT, true),
                (CKA_DECRYPT, true),
                (CKA_WRAP, true),
                (CKA_UNWRAP, true),
                (CKA_SIGN, true),
                (CKA_VERIFY, true),
                (CKA_DERIVE, false),
            ],
        ),
        KeyType::Hmac(_) => set_flags(
            &mut t,
            &[
                (CKA_SIGN, true),
                (CKA_VERIFY, true),
                (CKA_ENCRYPT, false),
                (CKA_DECRYPT, false),
                (CKA_WRAP, false),
                (CKA_UNWRAP, false),
                (CKA_DERIVE, false),
            ],
        ),
    }
    if matches!(p.ktype, KeyType::Aes | KeyType::Hmac(_)) {
        t.set(CKA_VALUE_LEN, Attr::Ulong((p.size / 8) as CK_ULONG));
    }
    let private = n.object((class, kt), t, &mat.private, mat.mech, n.file, acl)?;
    let Some(components) = &mat.public else { return Ok((private, None)) };
    let mut t = AttrMap::new();
    set_flags(&mut t, &[(CKA_TOKEN, true), (CKA_PRIVATE, false)]);
    match p.ktype {
        KeyType::Rsa => {
            t.set(CKA_MODULUS_BITS, Attr::Ulong(p.size as CK_ULONG));
            set_flags(&mut t, &[(CKA_VERIFY, true), (CKA_ENCRYPT, true), (CKA_WRAP, true), (CKA_VERIFY_RECOVER, true)]);
        }
        _ => {
            t.set(CKA_EC_PARAMS, Attr::bytes(p.curve.unwrap_or(Curve::P256).ec_params().to_vec()));
            set_flags(
                &mut t,
                &[
                    (CKA_VERIFY, true),
                    (CKA_ENCRYPT, false),
                    (CKA_WRAP, false),
                    (CKA_VERIFY_RECOVER, false),
                    (CKA_DERIVE, false),
                ],
            );
        }
    }
    let public = n.object((CKO_PUBLIC_KEY, kt), t, components, mat.mech, pub_file, public_acl)?;
    Ok((private, Some(public)))
}

/// A recovery blob: the private object under a fresh AES key, that key RSA-OAEP(SHA-256)
/// encrypted to KRE.
#[derive(Serialize, Deserialize)]
pub struct RecoveryBlob {
    pub format: String,
    pub file: String,
    pub hkre: String,
    pub wrapped_key: String,
    pub blob: String,
}

pub fn recovery_blob(w: &WorldFile, file: &str, obj: &AttrMap) -> AdminResult<Vec<u8>> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
    let bad = || AdminError::new("the world's recovery key KRE is damaged", "restore local/world or use recovery=no");
    let spki = B64.decode(&w.kre_pub).map_err(|_| bad())?;
    let kre =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).map_err(|_| bad())?).map_err(|_| bad())?;
    let k = envelope::random_key()?;
    let mut wrapped = vec![0u8; kre.ciphertext_size()];
    let n = kre.encrypt(&OAEP_SHA256_MGF1SHA256, &k[..], &mut wrapped, None).map_err(|_| bad())?.len();
    wrapped.truncate(n);
    let aad = format!("shieldhsm/recovery-blob/1|{file}|{}", w.hkre);
    let blob = seal(&k, aad.as_bytes(), &obj.encode())?;
    let r = RecoveryBlob {
        format: "shieldhsm/recovery-blob/1".into(),
        file: file.to_string(),
        hkre: w.hkre.clone(),
        wrapped_key: B64.encode(wrapped),
        blob: B64.encode(blob),
    };
    Ok(serde_json::to_vec_pretty(&r).unwrap_or_default())
}

/// Opens the recovery blob `raw` of key file `file` with KRE's private key (PKCS#8): the key's
/// complete private object. What `rocs` uses to re-protect a key under a new card set.
pub fn open_recovery_blob(kre_pkcs8: &[u8], w: &WorldFile, file: &str, raw: &[u8]) -> AdminResult<AttrMap> {
    use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256};
    let bad = || AdminError::new(format!("the recovery blob of {file} does not open"), "restore it from backup");
    let r: RecoveryBlob = serde_json::from_slice(raw).map_err(|_| bad())?;
    if r.format != "shieldhsm/recovery-blob/1" || r.file != file || r.hkre != w.hkre {
        return Err(bad());
    }
    let kre = OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(kre_pkcs8).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    let wrapped = B64.decode(&r.wrapped_key).map_err(|_| bad())?;
    let mut k = zeroize::Zeroizing::new(vec![0u8; kre.min_output_size()]);
    let n = kre.decrypt(&OAEP_SHA256_MGF1SHA256, &wrapped, &mut k, None).map_err(|_| bad())?.len();
    let key: [u8; 32] = k.get(..n).and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
    let key = zeroize::Zeroizing::new(key);
    let aad = format!("shieldhsm/recovery-blob/1|{file}|{}", w.hkre);
    let plain = envelope::open(&key, aad.as_bytes(), &B64.decode(&r.blob).map_err(|_| bad())?).map_err(|_| bad())?;
    AttrMap::decode(&plain).map_err(|_| bad())
}
