//! What protects a key: the module (KM), a softcard (its passphrase) or an Operator Card Set
//! (its cards), found by name or hash and loaded for `generatekey` and for opening keys.

use super::super::acl::BlobProtector;
use super::super::admin::{fail, AdminError, AdminResult, Interaction};
use super::super::cardset::{self, CardSetFile};
use super::super::softcard::{self, SoftcardFile, Who};
use super::super::store::Store;
use super::super::world::Operational;
use super::params::Protect;
use crate::object::envelope::SecretKey32;
use crate::object::stored::Protection;
use cryptoki_sys::*;

/// Resolved protection: owner hash, token key, how to describe it.
pub(super) struct Protector {
    pub prot: Protection,
    pub owner: String,
    pub key: SecretKey32,
    pub desc: String,
    pub blob: BlobProtector,
    pub token_name: Option<String>,
    /// Prefix of a derived pkcs11 ident.
    pub pkcs11_prefix: String,
}

impl Protector {
    /// A token's protection: a softcard's or card set's (`kind`) logical token `lt`; derived
    /// pkcs11 idents start with `prefix` and the first 8 digits of the token's hash.
    fn token(kind: &str, prefix: &str, hash: &str, name: &str, lt: SecretKey32) -> Protector {
        Protector {
            prot: Protection::Token,
            owner: hash.to_string(),
            key: lt,
            desc: format!("{kind}:{hash}"),
            blob: BlobProtector::Lt(hash.to_string()),
            token_name: Some(name.to_string()),
            pkcs11_prefix: format!("{prefix}{}-", hash.get(..8).unwrap_or(hash)),
        }
    }
}

/// The softcard named (by name, hash or a unique hash prefix of 6 or more digits) or, with
/// `None`, the only one there is.
pub fn find_softcard(store: &Store, want: Option<&str>) -> AdminResult<SoftcardFile> {
    let all = softcard::list(store)?;
    let hits: Vec<&SoftcardFile> = match want {
        None => all.iter().collect(),
        Some(w) => {
            let exact: Vec<&SoftcardFile> = all.iter().filter(|c| c.name == w || c.hash == w).collect();
            if exact.is_empty() && w.len() >= 6 {
                all.iter().filter(|c| c.hash.starts_with(w)).collect()
            } else {
                exact
            }
        }
    };
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => fail(
            match want {
                Some(w) => format!("there is no softcard named {w:?}"),
                None => "there is no softcard".to_string(),
            },
            "create one with `ppmk --new <name>` (see `nfkminfo -s`)",
        ),
        many => fail(
            format!(
                "{} softcards match ({})",
                many.len(),
                many.iter().map(|c| format!("{} {}", c.hash, c.name)).collect::<Vec<_>>().join(", ")
            ),
            "name the softcard with softcard=<name> or by its hash",
        ),
    }
}

fn find_cardset(store: &Store, want: Option<&str>) -> AdminResult<CardSetFile> {
    match want {
        Some(w) => cardset::find_ocs(store, w),
        None => {
            let all = cardset::list_ocs(store)?;
            match all.as_slice() {
                [one] => Ok(one.clone()),
                [] => fail("there is no Operator Card Set", "create one with `createocs -m1 -Q K/N -N <name>`"),
                _ => fail(
                    format!("{} Operator Card Sets exist", all.len()),
                    "choose one with cardset=<name> (see `nfkminfo -c`)",
                ),
            }
        }
    }
}

fn softcard_error(e: crate::error::Error, name: &str) -> AdminError {
    match e.rv() {
        CKR_PIN_INCORRECT => {
            AdminError::new(format!("wrong passphrase for softcard {name:?}"), "retry with the right passphrase")
        }
        CKR_PIN_LOCKED => AdminError::new(
            format!("softcard {name:?} is locked after too many wrong passphrases"),
            "unlock it through PKCS#11 (SO login, C_InitPIN)",
        ),
        CKR_USER_PIN_NOT_INITIALIZED => AdminError::new(
            format!("softcard {name:?} has no user passphrase yet"),
            "set one through PKCS#11 (SO login, C_InitPIN)",
        ),
        _ => AdminError::from(e),
    }
}

/// Loads the protector of a key: KM for module keys; the LT of a softcard (its passphrase) or
/// card set (K cards) otherwise.
pub(super) fn load_protector(
    store: &Store,
    op: &Operational,
    protect: &Protect,
    card_dir: Option<&std::path::Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<Protector> {
    match protect {
        Protect::Module => Ok(Protector {
            prot: Protection::Module,
            owner: op.world.hkm.clone(),
            key: op.km.clone(),
            desc: "module".into(),
            blob: BlobProtector::Km,
            token_name: None,
            pkcs11_prefix: "ua".into(),
        }),
        Protect::Softcard(want) => {
            let sc = find_softcard(store, want.as_deref())?;
            let pass = ui.passphrase(&format!("softcard {:?} ({})", sc.name, sc.hash))?;
            let (_, lt) = SoftcardFile::verify(store, &sc.file_name(), Who::User, pass.as_bytes())
                .map_err(|e| softcard_error(e, &sc.name))?;
            Ok(Protector::token("softcard", "us", &sc.hash, &sc.name, lt))
        }
        Protect::Token(want) => {
            let cs = find_cardset(store, want.as_deref())?;
            if cs.world_hkm != op.world.hkm {
                return fail(
                    format!("card set {:?} belongs to another Security World", cs.name),
                    "use a card set of this world",
                );
            }
            let lt = cardset::load_lt(store, &cs.set_ref(), card_dir, Some(&op.km), ui)?;
            Ok(Protector::token("cardset", "uc", &cs.hash, &cs.name, lt))
        }
    }
}
