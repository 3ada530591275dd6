//! Replacing lost card sets from the Security World's own authority, as nShield's `racs` and
//! `rocs` do.
//!
//! * `racs`: K cards of the current Administrator Card Set make a new ACS (any K/N); the world's
//!   secrets (KM, KNSO, KRE, KRA) are sealed again under the new set's logical token, so the old
//!   cards no longer open anything.
//! * `rocs`: the ACS quorum opens KRE, which opens the recovery blob of every recoverable key of a
//!   lost Operator Card Set; each key is sealed again under a new OCS (same file, ACL moved to the
//!   new token, a new recovery blob). Keys made with `recovery=no` stay with the lost set.

use super::acl::Acl;
use super::admin::{fail, AdminError, AdminResult, Interaction, Txn};
use super::cardset::{self, CardSetFile, SetKind};
use super::keygen::{self, open_recovery_blob, recovery_blob, PUB_SUFFIX};
use super::store::Store;
use super::tokens::{self, NewOcsParams};
use super::world::{self, load_acs, WorldFile};
use crate::object::attr::{Attr, AttrMap, CKA_SHSM_ACL, CKA_SHSM_PROTECTION};
use crate::object::envelope::{open, seal, SecretKey32};
use crate::object::policy::public_view;
use crate::object::stored::{self, Protection};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cryptoki_sys::{CKA_PUBLIC_KEY_INFO, CKA_UNIQUE_ID};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

fn damaged() -> AdminError {
    AdminError::new("the world file's sealed keys do not open", "restore local/world from your backup")
}

/// One of the world's secrets sealed under the ACS logical token `lt` (`None` if the world has
/// none, as KRE and KRA without recovery).
fn unseal(w: &WorldFile, lt: &SecretKey32, what: &str, sealed: &str) -> AdminResult<Option<Zeroizing<Vec<u8>>>> {
    if sealed.is_empty() {
        return Ok(None);
    }
    let raw = B64.decode(sealed).map_err(|_| damaged())?;
    Ok(Some(open(lt, &w.seal_aad(what), &raw).map_err(|_| damaged())?))
}

fn new_passphrases(ui: &mut dyn Interaction, n: u32, what: &str) -> AdminResult<Vec<Zeroizing<String>>> {
    (1..=n).map(|i| ui.new_passphrase(&format!("card {i} of {n} of {what}"))).collect()
}

/// `racs`: a new K-of-N ACS from K cards of the current one. Returns the new world file and where
/// the new cards went.
pub fn replace_acs(
    store: &Store,
    (k, n): (u32, u32),
    old_cards: Option<&Path>,
    new_cards: Option<&Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<(WorldFile, PathBuf)> {
    cardset::check_quorum(k, n, "the new Administrator Card Set")?;
    let Some(w) = WorldFile::read(store)? else {
        return fail("there is no Security World", "create one with `new-world --initialize`");
    };
    if let Some(d) = new_cards {
        cardset::check_new_card_dir(d, n)?;
    }
    ui.info("Loading the current Administrator Card Set (its quorum authorises the replacement)");
    let auth = load_acs(store, &w, old_cards, ui)?;
    let kre = unseal(&w, &auth.lt, "kre", &w.kre_sealed)?;
    let kra = unseal(&w, &auth.lt, "kra", &w.kra_sealed)?;
    let pp = new_passphrases(ui, n, "the new Administrator Card Set")?;
    let acs = cardset::make_set(SetKind::Acs, "administrator", k, n, &w.hkm, None, &pp)?;
    let mut nw = w.clone();
    (nw.acs_k, nw.acs_n, nw.acs_hash) = (k, n, acs.set.hash.clone());
    nw.km_sealed = B64.encode(seal(&acs.lt, &nw.seal_aad("km"), &auth.km[..])?);
    nw.knso_sealed = B64.encode(seal(&acs.lt, &nw.seal_aad("knso"), &auth.knso_pkcs8)?);
    if let Some(kre) = &kre {
        nw.kre_sealed = B64.encode(seal(&acs.lt, &nw.seal_aad("kre"), kre)?);
    }
    if let Some(kra) = &kra {
        nw.kra_sealed = B64.encode(seal(&acs.lt, &nw.seal_aad("kra"), kra)?);
    }
    let lock = store.lock()?;
    if WorldFile::read(store)?.map(|c| c.acs_hash) != Some(w.acs_hash.clone()) {
        return fail("the Administrator Card Set changed meanwhile", "run racs again");
    }
    let mut txn = Txn::new(&lock);
    let dir = cardset::write_cards(&mut txn, store, &acs, new_cards)?;
    nw.write(&mut txn, &auth.km)?;
    txn.commit();
    lock.bump();
    Ok((nw, dir))
}

/// A recovery blob is sealed to KRE's public key, which anyone can use: what it holds must be the
/// key whose file it recovers, as far as the module key shows it (the file's public view, its
/// public half). A substituted key is refused.
fn check_same_key(store: &Store, km: &SecretKey32, file: &str, recovered: &AttrMap) -> AdminResult<()> {
    let substituted = || {
        AdminError::new(
            format!("the recovery blob of {file} holds another key than the file"),
            "restore emu/recovery from your backup; the key cannot be recovered from this blob",
        )
    };
    if let Ok(view) = stored::open_view(file, &store.read(file)?, km) {
        if view.bytes(CKA_UNIQUE_ID) != recovered.bytes(CKA_UNIQUE_ID) || view.class() != recovered.class() {
            return Err(substituted());
        }
    }
    let pub_file = format!("{file}{PUB_SUFFIX}");
    if store.exists(&pub_file) {
        let public = stored::open_file(&pub_file, &store.read(&pub_file)?, km)
            .map_err(|_| AdminError::new(format!("local/{pub_file} does not open"), "restore it from backup"))?;
        if public.bytes(CKA_PUBLIC_KEY_INFO).is_none()
            || public.bytes(CKA_PUBLIC_KEY_INFO) != recovered.bytes(CKA_PUBLIC_KEY_INFO)
        {
            return Err(substituted());
        }
    }
    Ok(())
}

/// What `rocs` did.
pub struct ReplacedOcs {
    pub set: CardSetFile,
    pub card_dir: PathBuf,
    /// Key files now protected by the new set.
    pub recovered: Vec<String>,
    /// Key files of the lost set without a recovery blob (they stay with it).
    pub left: Vec<String>,
}

/// `rocs`: the recoverable keys of the Operator Card Set `lost` (name or hash) re-protected by a
/// new set made as `p` says, authorised by the ACS quorum (cards in `acs_cards`).
pub fn replace_ocs(
    store: &Store,
    lost: &str,
    p: &NewOcsParams,
    acs_cards: Option<&Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<ReplacedOcs> {
    tokens::check_token_name(&p.name, "card set")?;
    cardset::check_quorum(p.k, p.n, "the new Operator Card Set")?;
    let op = world::operational(store, p.module, "rocs")?;
    let old = cardset::find_ocs(store, lost)?;
    if cardset::list_ocs(store)?.iter().any(|c| c.name == p.name) {
        return fail(format!("an Operator Card Set named {:?} already exists", p.name), "choose another name with -N");
    }
    if let Some(d) = &p.card_dir {
        cardset::check_new_card_dir(d, p.n)?;
    }
    let keys: Vec<String> = keygen::list_keys(store, None)?
        .into_iter()
        .filter(|e| !e.public_half && e.protection == Protection::Token && e.owner == old.hash)
        .map(|e| e.file)
        .collect();
    let blob_of = |f: &str| format!("recovery/{f}.json");
    let (recoverable, left): (Vec<String>, Vec<String>) =
        keys.into_iter().partition(|f| store.emu().join(blob_of(f)).exists());
    if recoverable.is_empty() {
        return fail(
            format!("card set {:?} protects no recoverable key ({} without recovery)", old.name, left.len()),
            "only keys made with recovery=yes in a world with recovery keys can be recovered",
        );
    }
    ui.info("Loading the Administrator Card Set (its quorum authorises the recovery)");
    let auth = load_acs(store, &op.world, acs_cards, ui)?;
    let kre = unseal(&op.world, &auth.lt, "kre", &op.world.kre_sealed)?
        .ok_or_else(|| AdminError::new("this Security World has no recovery key KRE", "keys cannot be recovered"))?;
    let pp = new_passphrases(ui, p.n, &format!("Operator Card Set \"{}\"", p.name))?;
    let new = cardset::make_set(SetKind::Ocs, &p.name, p.k, p.n, &op.world.hkm, Some(&op.km), &pp)?;
    let desc = format!("cardset:{}", new.set.hash);

    // Every key again, sealed under the new set (nothing written yet).
    let mut writes: Vec<(String, Vec<u8>)> = Vec::new();
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    for file in &recoverable {
        let raw = std::fs::read(store.emu().join(blob_of(file)))?;
        let mut attrs: AttrMap = open_recovery_blob(&kre, &op.world, file, &raw)?;
        check_same_key(store, &op.km, file, &attrs)?;
        attrs.set(CKA_SHSM_PROTECTION, Attr::bytes(desc.as_bytes().to_vec()));
        if let Some(acl) = attrs.bytes(CKA_SHSM_ACL).and_then(Acl::from_json) {
            attrs.set(CKA_SHSM_ACL, Attr::bytes(acl.with_token_replaced(&old.hash, &new.set.hash).to_json()));
        }
        let sealed = stored::seal_file_with_view(file, &new.set.hash, &new.lt, &op.km, &attrs, &public_view(&attrs))?;
        writes.push((file.clone(), sealed));
        blobs.push((blob_of(file), recovery_blob(&op.world, file, &attrs)?));
        let pub_file = format!("{file}{PUB_SUFFIX}");
        if store.exists(&pub_file) {
            let public = stored::open_file(&pub_file, &store.read(&pub_file)?, &op.km)
                .map_err(|_| AdminError::new(format!("local/{pub_file} does not open"), "restore it from backup"))?;
            writes.push((
                pub_file.clone(),
                stored::seal_file(&pub_file, Protection::Module, &new.set.hash, &op.km, &public)?,
            ));
        }
    }
    let lock = store.lock()?;
    if cardset::list_ocs(store)?.iter().any(|c| c.name == p.name) {
        return fail(format!("an Operator Card Set named {:?} already exists", p.name), "choose another name with -N");
    }
    let mut txn = Txn::new(&lock);
    let (set, card_dir) = tokens::write_ocs(&mut txn, store, &new, p, &op.km)?;
    for (name, data) in &writes {
        txn.write_local(name, data)?;
    }
    for (rel, data) in &blobs {
        txn.write_emu(rel, data)?;
    }
    txn.commit();
    lock.bump();
    Ok(ReplacedOcs { set, card_dir, recovered: recoverable, left })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::envelope::random_key;
    use cryptoki_sys::{CKA_CLASS, CKA_TOKEN, CKA_VALUE, CKO_SECRET_KEY};

    #[test]
    fn a_blob_holding_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let (lt, km) = (random_key().unwrap(), random_key().unwrap());
        let key = |id: &[u8], v: u8| -> AttrMap {
            [
                (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
                (CKA_TOKEN, Attr::Bool(true)),
                (CKA_UNIQUE_ID, Attr::bytes(id.to_vec())),
                (CKA_VALUE, Attr::bytes(vec![v; 32])),
            ]
            .into_iter()
            .collect()
        };
        let file = "key_simple_k";
        let real = key(b"id-1", 1);
        let raw = stored::seal_file_with_view(file, "hash", &lt, &km, &real, &public_view(&real)).unwrap();
        {
            let lock = st.lock().unwrap();
            let mut txn = Txn::new(&lock);
            txn.write_local(file, &raw).unwrap();
            txn.commit();
        }
        assert!(check_same_key(&st, &km, file, &real).is_ok());
        let e = check_same_key(&st, &km, file, &key(b"id-2", 2)).unwrap_err();
        assert!(e.what.contains("holds another key"), "{}", e.what);
    }
}
