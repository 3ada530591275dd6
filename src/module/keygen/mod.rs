//! `generatekey --generate`: parameters, key material, and the key files.
//!
//! A key is written as complete PKCS#11 objects in the library's object-file format
//! (`object::stored::seal_file`), so the PKCS#11 library picks it up as a token object:
//!
//! * `local/key_<app>_<ident>`: the private (RSA/EC) or secret key. Module keys are sealed under
//!   the world key KM with owner = hkm; softcard and card-set keys under that token's logical
//!   token LT with owner = the token's hash (the library opens them after login).
//! * `local/key_<app>_<ident>_pub`: for RSA/EC, the public half (`CKO_PUBLIC_KEY`, same CKA_ID
//!   and CKA_LABEL), always sealed under KM with the same owner, so it is readable without the
//!   token, as nShield keeps public keys under the well-known module key.
//!
//! Both carry `CKA_NFKM_APPNAME/ID/HASH`, `CKA_SHSM_PROTECTION` and the nCore-style ACL as JSON
//! in `CKA_SHSM_ACL`. A recoverable key also gets a recovery blob (docs/nshield-emulation.md §2.1)
//! in `emu/recovery/key_<app>_<ident>.json`: the private object encrypted under a fresh AES key
//! that is itself RSA-OAEP(SHA-256)-encrypted to the world's KRE.
//!
//! `params` checks the parameters, `make` makes the key material and its objects, `protector`
//! loads what protects the key, and `files` names, lists and opens key files.

mod files;
mod import;
mod make;
mod params;
mod protector;
mod retarget;

pub use files::{key_file_name, list_keys, open_key, public_key_info, split_key_file, KeyEntry, PUB_SUFFIX};
pub use import::MAX_PEM_BYTES;
pub use make::{open_recovery_blob, recovery_blob, RecoveryBlob};
pub use params::{
    check_app, check_ident, parse_params, Curve, HmacHash, KeyParams, KeyType, Protect, MAX_IDENT, PARAM_NAMES,
};
pub use protector::find_softcard;
pub use retarget::{retarget, Retarget, Retargeted};

use super::acl::Acl;
use super::admin::{fail, AdminResult, Interaction, Txn};
use super::store::Store;
use super::world;
use crate::object::policy::Origin;
use crate::object::stored::{self, Protection};
use make::{build_objects, Naming};
use protector::load_protector;

/// What a generated key turned into.
#[derive(Clone, Debug)]
pub struct GeneratedKey {
    pub app: String,
    pub ident: String,
    pub plainname: String,
    pub ktype: KeyType,
    pub size: u32,
    /// `module`, `cardset:<hash>` or `softcard:<hash>`.
    pub protection: String,
    /// The token's name, for card-set and softcard keys.
    pub token_name: Option<String>,
    pub files: Vec<String>,
    pub recovery: bool,
    pub curve: Option<Curve>,
    /// Made from outside key material (`--import`), not generated in the module.
    pub imported: bool,
}

/// `generatekey --generate`: checks, loads the protector (asking for cards or a softcard
/// passphrase), generates, and writes the key files. Nothing is written on any failure.
pub fn generate(store: &Store, p: &KeyParams, ui: &mut dyn Interaction) -> AdminResult<GeneratedKey> {
    let target = prepare(store, p, ui)?;
    let slow = p.ktype == KeyType::Rsa && p.size >= 3072;
    if slow {
        ui.busy_start(&format!("generating an RSA-{} key", p.size));
    }
    let mat = make::make(p);
    if slow {
        ui.busy_end();
    }
    write_key(store, p, target, mat?, Origin::Generate)
}

/// `generatekey --import ... pemreadfile=FILE`: as [`generate`], with the material of the PEM
/// key `pem` (checked before any passphrase is asked). The key is recorded as imported:
/// CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE are FALSE.
pub fn import(store: &Store, p: &KeyParams, pem: &[u8], ui: &mut dyn Interaction) -> AdminResult<GeneratedKey> {
    if !crate::assurance::relaxed(crate::assurance::Assurance::Import) {
        return fail(
            "importing a key from a file is a security assurance (`import`): its value is known outside the module",
            "accept it with CKNFAST_OVERRIDE_SECURITY_ASSURANCES=import (environment or cknfastrc)",
        );
    }
    let (mat, p) = import::material(p, pem)?;
    let target = prepare(store, &p, ui)?;
    write_key(store, &p, target, mat, Origin::Create)
}

/// Where a new key goes: the world, its protector, ident and whether it is recoverable.
struct Target {
    op: world::Operational,
    prot: protector::Protector,
    ident: String,
    recovery: bool,
}

/// Checks a new key's name and recovery against the world and loads its protector.
fn prepare(store: &Store, p: &KeyParams, ui: &mut dyn Interaction) -> AdminResult<Target> {
    let op = world::operational(store, p.module, "generatekey")?;
    if let Some(id) = &p.ident {
        let name = key_file_name(&p.app, id);
        if store.exists(&name) {
            return fail(
                format!("key {} {} already exists (local/{name})", p.app, id),
                "choose another ident=, or move the old key file away first",
            );
        }
    }
    let recovery = match p.recovery {
        Some(true) if !op.world.recovery => {
            return fail(
                "recovery=yes, but this Security World has no recovery keys (made with --no-recovery)",
                "use recovery=no",
            )
        }
        Some(r) => r,
        None => op.world.recovery,
    };
    let prot = load_protector(store, &op, &p.protect, p.card_dir.as_deref(), ui)?;
    let ident = match &p.ident {
        Some(i) => i.clone(),
        None => {
            let mut r = [0u8; 8];
            aws_lc_rs::rand::fill(&mut r).map_err(crate::error::Error::from)?;
            format!("{}{}", prot.pkcs11_prefix, hex::encode(r))
        }
    };
    Ok(Target { op, prot, ident, recovery })
}

/// Builds a key's objects from `mat` and writes its files (and recovery blob) in one
/// transaction.
fn write_key(
    store: &Store,
    p: &KeyParams,
    t: Target,
    mat: make::Material,
    origin: Origin,
) -> AdminResult<GeneratedKey> {
    let Target { op, prot, ident, recovery } = t;
    let file = key_file_name(&p.app, &ident);
    let pub_file = format!("{file}{PUB_SUFFIX}");
    let label = p.plainname.clone().unwrap_or_else(|| ident.clone());
    let hkre = recovery.then(|| op.world.hkre.clone());
    let acl = Acl::default_private(p.ktype.family(), prot.blob.clone(), hkre.as_deref());
    let public_acl = Acl::default_public(p.ktype.family());
    // Module keys live in the module slot, which has no login: they cannot be private objects.
    let private_obj = prot.prot == Protection::Token;
    let naming =
        Naming { app: &p.app, file: &file, ident: &ident, label: &label, private_obj, protection: &prot.desc, origin };
    let (private, public) = build_objects(p, mat, &naming, &pub_file, &acl, &public_acl)?;
    let private_blob = seal_private(&file, &prot, &op.km, &private)?;
    let public_blob = match &public {
        Some(pubm) => Some(stored::seal_file(&pub_file, Protection::Module, &prot.owner, &op.km, pubm)?),
        None => None,
    };
    let rec = if recovery { Some(recovery_blob(&op.world, &file, &private)?) } else { None };

    let lock = store.lock()?;
    if store.exists(&file) || store.exists(&pub_file) {
        return fail(format!("key {} {ident} already exists (local/{file})", p.app), "choose another ident=");
    }
    let mut txn = Txn::new(&lock);
    let mut files = vec![file.clone()];
    txn.write_local(&file, &private_blob)?;
    if let Some(b) = &public_blob {
        txn.write_local(&pub_file, b)?;
        files.push(pub_file.clone());
    }
    if let Some(r) = &rec {
        txn.write_emu(&format!("recovery/{file}.json"), r)?;
    }
    txn.commit();
    lock.bump();
    Ok(GeneratedKey {
        app: p.app.clone(),
        ident,
        plainname: label,
        ktype: p.ktype,
        size: p.size,
        curve: p.curve,
        protection: prot.desc,
        token_name: prot.token_name,
        files,
        recovery,
        imported: origin == Origin::Create,
    })
}

/// Seals a key's private/secret object. A token key also carries its public view (label, id,
/// type; no key material) under KM, as nShield keeps a key's name readable in its key blob, so
/// `nfkminfo -l` names it without the token; the token layer hides it from sessions that are not
/// logged in (CKA_PRIVATE).
fn seal_private(
    file: &str,
    prot: &protector::Protector,
    km: &crate::object::envelope::SecretKey32,
    private: &crate::object::attr::AttrMap,
) -> AdminResult<Vec<u8>> {
    Ok(match prot.prot {
        Protection::Module => stored::seal_file(file, prot.prot, &prot.owner, &prot.key, private)?,
        Protection::Token => stored::seal_file_with_view(
            file,
            &prot.owner,
            &prot.key,
            km,
            private,
            &crate::object::policy::public_view(private),
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::acl;
    use super::super::admin::Scripted;
    use super::super::hsm::{self, Mode};
    use super::super::world::{new_world, NewWorldParams, World};
    use super::params::tests::pairs;
    use super::*;
    use crate::object::attr::{CKA_NFKM_APPNAME, CKA_SHSM_ACL, CKA_SHSM_PROTECTION};
    use cryptoki_sys::*;

    fn world(recovery: bool) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        hsm::set_mode(&st, 1, Mode::PreInit).unwrap();
        let p = NewWorldParams { k: 1, n: 1, recovery, ..NewWorldParams::default() };
        new_world(&st, &p, &mut Scripted::new(&["acs"])).unwrap();
        hsm::set_mode(&st, 1, Mode::Operational).unwrap();
        (dir, st)
    }

    #[test]
    fn module_rsa_key_is_a_complete_pkcs11_object() {
        let (_d, st) = world(true);
        let (p, _) = parse_params(
            "simple",
            &pairs("type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp="),
        )
        .unwrap();
        let g = generate(&st, &p, &mut Scripted::new(&[])).unwrap();
        assert_eq!(g.files, vec!["key_simple_contosokey".to_string(), "key_simple_contosokey_pub".to_string()]);
        assert!(g.recovery);
        assert!(st.emu().join("recovery/key_simple_contosokey.json").exists());
        let w = World::load(&st).unwrap().unwrap();
        let raw = st.read("key_simple_contosokey").unwrap();
        let (prot, owner) = stored::peek_file(&raw).unwrap();
        assert_eq!((prot, owner.as_str()), (Protection::Module, w.file.hkm.as_str()));
        let a = stored::open_file("key_simple_contosokey", &raw, &w.km).unwrap();
        assert_eq!(a.class(), Some(CKO_PRIVATE_KEY));
        assert_eq!(a.bytes(CKA_LABEL), Some(&b"contosokey"[..]));
        assert_eq!(a.bytes(CKA_ID), Some(&b"contosokey"[..]));
        assert_eq!(a.bool(CKA_PRIVATE), Some(false));
        assert_eq!(a.bool(CKA_SENSITIVE), Some(true));
        assert_eq!(a.bool(CKA_EXTRACTABLE), Some(false));
        assert_eq!(a.bool(CKA_NEVER_EXTRACTABLE), Some(true));
        assert_eq!(a.bool(CKA_LOCAL), Some(true));
        assert_eq!(a.ulong(CKA_KEY_GEN_MECHANISM), Some(CKM_RSA_PKCS_KEY_PAIR_GEN));
        assert_eq!(a.bytes(CKA_MODULUS).unwrap().len(), 256);
        assert_eq!(a.bytes(CKA_PUBLIC_EXPONENT), Some(&[1u8, 0, 1][..]));
        for t in [CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT] {
            assert!(a.bytes(t).is_some_and(|b| !b.is_empty()), "attribute {t:#x}");
        }
        assert_eq!(a.bytes(CKA_NFKM_APPNAME), Some(&b"simple"[..]));
        assert_eq!(a.bytes(CKA_SHSM_PROTECTION), Some(&b"module"[..]));
        let acl = Acl::from_json(a.bytes(CKA_SHSM_ACL).unwrap()).unwrap();
        assert!(acl::permits(&acl, &acl::Permission::Op(acl::Op::Sign)));
        // The RSA components are consistent: the key parses.
        let n = rsa::BigUint::from_bytes_be(a.bytes(CKA_MODULUS).unwrap());
        let p1 = rsa::BigUint::from_bytes_be(a.bytes(CKA_PRIME_1).unwrap());
        let p2 = rsa::BigUint::from_bytes_be(a.bytes(CKA_PRIME_2).unwrap());
        assert_eq!(n, p1 * p2);
        let pubraw = st.read("key_simple_contosokey_pub").unwrap();
        let pa = stored::open_file("key_simple_contosokey_pub", &pubraw, &w.km).unwrap();
        assert_eq!(pa.class(), Some(CKO_PUBLIC_KEY));
        assert_eq!(pa.ulong(CKA_MODULUS_BITS), Some(2048));
        assert_eq!(pa.bytes(CKA_MODULUS), a.bytes(CKA_MODULUS));
        // Again: refused, nothing changes.
        assert!(generate(&st, &p, &mut Scripted::new(&[])).unwrap_err().what.contains("already exists"));
        let keys = list_keys(&st, Some(&w.km)).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].label.as_deref(), Some("contosokey"));
    }

    #[test]
    fn ec_secret_and_pkcs11_keys() {
        let (_d, st) = world(false);
        let w = World::load(&st).unwrap().unwrap();
        let (p, _) = parse_params("simple", &pairs("type=EC curve=NISTP521 ident=e1")).unwrap();
        let g = generate(&st, &p, &mut Scripted::new(&[])).unwrap();
        assert!(!g.recovery);
        let a = stored::open_file("key_simple_e1", &st.read("key_simple_e1").unwrap(), &w.km).unwrap();
        assert_eq!(a.bytes(CKA_VALUE).unwrap().len(), 66);
        assert_eq!(a.bytes(CKA_EC_PARAMS), Some(Curve::P521.ec_params()));
        let pt = a.bytes(CKA_EC_POINT).unwrap();
        assert_eq!(&pt[..3], &[0x04, 0x81, 133]);
        assert_eq!(pt[3], 0x04);
        for (ty, len) in [("AES size=128", 16), ("DES3", 24), ("HMACSHA256", 32)] {
            let (p, _) = parse_params("pkcs11", &pairs(&format!("type={ty} plainname=lbl"))).unwrap();
            let g = generate(&st, &p, &mut Scripted::new(&[])).unwrap();
            assert!(g.ident.starts_with("ua"), "{}", g.ident);
            assert_eq!(g.files.len(), 1);
            let a = stored::open_file(&g.files[0], &st.read(&g.files[0]).unwrap(), &w.km).unwrap();
            assert_eq!(a.bytes(CKA_VALUE).unwrap().len(), len);
            assert_eq!(a.ulong(CKA_VALUE_LEN), Some(len as CK_ULONG));
            assert_eq!(a.bytes(CKA_LABEL), Some(&b"lbl"[..]));
        }
        let (p, _) = parse_params("simple", &pairs("type=AES ident=r recovery=yes")).unwrap();
        assert!(generate(&st, &p, &mut Scripted::new(&[])).unwrap_err().what.contains("no recovery keys"));
    }
}
