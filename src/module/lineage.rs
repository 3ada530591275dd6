//! Key lineage: what the caller of the C ABI may know of a key, and which keys may protect
//! others. The wrap, unwrap, copy, set and digest rules of `token::keys` and `token::manage` rest
//! on it; [`super::new_object`] records it at birth and `byok` applies ACLs with it. It lives in
//! `module` (not `token`) because it reads nShield ACLs ([`super::acl`]) and the module's own
//! key making needs it too.
//!
//! A key is *protected* when its value has never been known to the caller: generated here and
//! never readable, or unwrapped by a key that only wraps protected keys. Every other key is
//! *known* (`CKA_SHSM_VALUE_KNOWN`): made with `C_CreateObject`, ever readable, derived (the
//! peer of an ECDH derivation knows the secret), or unwrapped by a key whose blobs the caller
//! can forge. Marking a key protected when the caller might know it is harmless, because only
//! two kinds of key may *protect* others:
//! - a key-encryption key born here (`CKA_SHSM_KEK`): a secret key generated sensitive, with
//!   `CKA_WRAP` and without `CKA_DECRYPT`, which can never decrypt and is never wrapped itself,
//!   so no twin of its value that could decrypt its blobs ever exists;
//! - a public key the SO marked `CKA_TRUSTED`, or the KEK a key's nShield ACL names.
//!
//! Marking a key known when it is protected is what would leak, so every doubt resolves to
//! "protected".

use super::acl::{self, Acl, Op, Permission};
use crate::object::attr::{Attr, AttrMap, CKA_SHSM_ACL, CKA_SHSM_KEK, CKA_SHSM_VALUE_KNOWN};
use crate::object::policy::Origin;
use cryptoki_sys::*;

fn holds_secret(a: &AttrMap) -> bool {
    matches!(a.class(), Some(CKO_SECRET_KEY | CKO_PRIVATE_KEY))
}

/// Whether the key's secret components may be read with `C_GetAttributeValue` now.
pub fn readable(a: &AttrMap) -> bool {
    // The same reading as the attribute policy's: an absent CKA_SENSITIVE counts as true.
    !a.bool(CKA_SENSITIVE).unwrap_or(true) && a.bool(CKA_EXTRACTABLE).unwrap_or(false)
}

/// Whether the caller may know the key's value. Files written before lineage was kept carry no
/// mark: a key that was always sensitive counts as protected, any other as known.
pub fn value_known(a: &AttrMap) -> bool {
    a.bool(CKA_SHSM_VALUE_KNOWN).unwrap_or(!a.flag(CKA_ALWAYS_SENSITIVE)) || readable(a)
}

/// A secret or private key whose value the caller has never known.
pub fn protected(a: &AttrMap) -> bool {
    holds_secret(a) && !value_known(a)
}

/// A key-encryption key born in the token (see the module comment).
pub fn is_kek(a: &AttrMap) -> bool {
    a.class() == Some(CKO_SECRET_KEY) && a.flag(CKA_SHSM_KEK) && protected(a) && !a.flag(CKA_DECRYPT)
}

/// Records a new key's lineage (`complete_new`). Unwrap starts as known; `C_UnwrapKey` marks
/// the result protected when its source allows. A generated key its mechanism already marked
/// known (`CKA_SHSM_VALUE_KNOWN` true: see `mech::dh`) stays known.
pub fn at_birth(a: &mut AttrMap, origin: Origin) {
    if !holds_secret(a) {
        return;
    }
    let known = origin != Origin::Generate || readable(a) || a.flag(CKA_SHSM_VALUE_KNOWN);
    a.set(CKA_SHSM_VALUE_KNOWN, Attr::Bool(known));
    let kek = a.class() == Some(CKO_SECRET_KEY) && !known && a.flag(CKA_WRAP) && !a.flag(CKA_DECRYPT);
    a.set(CKA_SHSM_KEK, Attr::Bool(kek));
}

/// `C_SetAttributeValue`/`C_CopyObject` may not turn `CKA_DECRYPT` on for a KEK: its blobs
/// would then decrypt in the clear.
pub fn forbidden_change(old: &AttrMap, t: CK_ATTRIBUTE_TYPE, new: &Attr) -> bool {
    t == CKA_DECRYPT && new.as_bool() == Some(true) && old.flag(CKA_SHSM_KEK)
}

fn acl_of(a: &AttrMap) -> Option<Option<Acl>> {
    a.bytes(CKA_SHSM_ACL).map(Acl::from_json)
}

/// Whether a key's nShield ACL lets any holder export it (in the clear or wrapped).
pub fn acl_exportable(acl: &Acl) -> bool {
    acl.groups.iter().any(|g| {
        g.actions.iter().any(|act| match act {
            acl::Action::ExportWrapped { .. } => true,
            acl::Action::OpPermissions(p) => p.has(Op::ExportAsPlain),
            _ => false,
        })
    })
}

/// Keys with an nShield ACL (read from an authenticated key file): what PKCS#11 may do with
/// the object follows the ACL, and the attributes say so truthfully. Managing the key
/// (`C_SetAttributeValue`, `C_DestroyObject`) needs `SetAppData` without a certifier; copying
/// needs `DuplicateHandle`; a key any group may export was never "never extractable".
pub fn apply_acl(a: &mut AttrMap) {
    let Some(acl) = acl_of(a) else { return };
    let grants = |op| acl.as_ref().is_some_and(|acl| acl::permits(acl, &Permission::Op(op)));
    let manage = grants(Op::SetAppData);
    let copy = grants(Op::DuplicateHandle);
    a.set(CKA_MODIFIABLE, Attr::Bool(manage));
    a.set(CKA_DESTROYABLE, Attr::Bool(manage));
    a.set(CKA_COPYABLE, Attr::Bool(copy));
    if holds_secret(a) && acl.as_ref().is_none_or(acl_exportable) {
        a.set(CKA_NEVER_EXTRACTABLE, Attr::Bool(false));
    }
}

/// Whether the ACL (if any) of a key forbids every export: `C_DigestKey` refuses such keys.
pub fn acl_forbids_export(a: &AttrMap) -> bool {
    match acl_of(a) {
        None => false,
        Some(None) => true,
        Some(Some(acl)) => !acl_exportable(&acl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(sensitive: bool, extractable: bool, wrap: bool, decrypt: bool) -> AttrMap {
        [
            (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
            (CKA_SENSITIVE, Attr::Bool(sensitive)),
            (CKA_EXTRACTABLE, Attr::Bool(extractable)),
            (CKA_WRAP, Attr::Bool(wrap)),
            (CKA_DECRYPT, Attr::Bool(decrypt)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn only_generated_never_readable_keys_are_protected() {
        let mut g = secret(true, true, true, true);
        at_birth(&mut g, Origin::Generate);
        assert!(protected(&g) && !is_kek(&g));
        let mut readable_at_birth = secret(false, true, true, false);
        at_birth(&mut readable_at_birth, Origin::Generate);
        assert!(!protected(&readable_at_birth) && !is_kek(&readable_at_birth));
        let mut marked = secret(true, false, false, true);
        marked.set(CKA_SHSM_VALUE_KNOWN, Attr::Bool(true));
        at_birth(&mut marked, Origin::Generate);
        assert!(!protected(&marked), "a mechanism's known mark stands");
        for o in [Origin::Create, Origin::Derive, Origin::Unwrap] {
            let mut k = secret(true, false, true, false);
            at_birth(&mut k, o);
            assert!(!protected(&k) && !is_kek(&k), "{o:?}");
        }
    }

    #[test]
    fn a_kek_is_born_wrap_only_and_never_decrypts() {
        let mut k = secret(true, true, true, false);
        at_birth(&mut k, Origin::Generate);
        assert!(is_kek(&k));
        assert!(forbidden_change(&k, CKA_DECRYPT, &Attr::Bool(true)));
        assert!(!forbidden_change(&k, CKA_DECRYPT, &Attr::Bool(false)));
        k.set(CKA_DECRYPT, Attr::Bool(true));
        assert!(!is_kek(&k));
    }

    #[test]
    fn unmarked_files_fall_back_to_always_sensitive() {
        let mut k = secret(true, false, false, true);
        assert!(!protected(&k));
        k.set(CKA_ALWAYS_SENSITIVE, Attr::Bool(true));
        assert!(protected(&k));
    }

    #[test]
    fn transfer_acl_is_neither_manageable_nor_never_extractable() {
        let mut k = secret(true, true, false, false);
        k.set(CKA_NEVER_EXTRACTABLE, Attr::Bool(true));
        k.set(CKA_SHSM_ACL, Attr::bytes(Acl::transfer_only("ab").to_json()));
        apply_acl(&mut k);
        assert_eq!(k.bool(CKA_MODIFIABLE), Some(false));
        assert_eq!(k.bool(CKA_DESTROYABLE), Some(false));
        assert_eq!(k.bool(CKA_COPYABLE), Some(false));
        assert_eq!(k.bool(CKA_NEVER_EXTRACTABLE), Some(false));
        assert!(!acl_forbids_export(&k));
        k.set(CKA_SHSM_ACL, Attr::bytes(b"not json".to_vec()));
        assert!(acl_forbids_export(&k));
    }
}
