//! Operator tokens: Operator Card Sets (`createocs`) and softcards (`ppmk --new`).
//!
//! A softcard made here is the same `softcard_<HASH>` file the PKCS#11 library uses as a token:
//! its passphrase is both its SO PIN and its user PIN, so `C_Login(CKU_USER, passphrase)` opens
//! it; its slot number is the next free one.

use super::admin::{fail, AdminError, AdminResult, Interaction, Txn};
use super::cardset::{self, CardInfoFile, CardSetFile, SetKind, CARDINFO_FORMAT, CARDSET_FORMAT};
use super::softcard::{self, SoftcardFile, Who};
use super::store::Store;
use super::time::now;
use super::world;
use crate::object::envelope::SecretKey32;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::path::{Path, PathBuf};

/// Checks a card set or softcard name.
pub fn check_token_name(name: &str, what: &str) -> AdminResult<()> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control() || c == '/') {
        return fail(
            format!("{what} name {name:?} is not valid"),
            "use 1 to 64 printable characters without '/' (e.g. -N operators)",
        );
    }
    Ok(())
}

/// What `createocs` is asked for.
#[derive(Clone, Debug)]
pub struct NewOcsParams {
    pub name: String,
    pub k: u32,
    pub n: u32,
    pub persistent: bool,
    pub timeout: Option<u64>,
    pub module: u32,
    pub card_dir: Option<PathBuf>,
}

/// `createocs`: a K-of-N Operator Card Set of this world.
pub fn create_ocs(store: &Store, p: &NewOcsParams, ui: &mut dyn Interaction) -> AdminResult<(CardSetFile, PathBuf)> {
    check_token_name(&p.name, "card set")?;
    cardset::check_quorum(p.k, p.n, "the Operator Card Set")?;
    let op = world::operational(store, p.module, "createocs")?;
    let dup = |store: &Store| -> AdminResult<()> {
        if let Some(c) = cardset::list_ocs(store)?.into_iter().find(|c| c.name == p.name) {
            return fail(
                format!("an Operator Card Set named {:?} already exists ({})", p.name, c.hash),
                "choose another name with -N",
            );
        }
        Ok(())
    };
    dup(store)?;
    if let Some(d) = &p.card_dir {
        cardset::check_new_card_dir(d, p.n)?;
    }
    let mut passphrases = Vec::with_capacity(p.n as usize);
    for i in 1..=p.n {
        passphrases.push(ui.new_passphrase(&format!("card {i} of {} of Operator Card Set \"{}\"", p.n, p.name))?);
    }
    let new = cardset::make_set(SetKind::Ocs, &p.name, p.k, p.n, &op.world.hkm, Some(&op.km), &passphrases)?;
    let lock = store.lock()?;
    dup(store)?;
    let mut txn = Txn::new(&lock);
    let (meta, dir) = write_ocs(&mut txn, store, &new, p, &op.km)?;
    txn.commit();
    lock.bump();
    Ok((meta, dir))
}

/// Writes a new Operator Card Set made by `make_set`: its cards, card infos and `card_<hash>`
/// (in `txn`, not committed). Returns the set file and where the cards went.
pub fn write_ocs(
    txn: &mut Txn<'_>,
    store: &Store,
    new: &cardset::NewSet,
    p: &NewOcsParams,
    km: &SecretKey32,
) -> AdminResult<(CardSetFile, PathBuf)> {
    let meta = CardSetFile {
        format: CARDSET_FORMAT.into(),
        name: p.name.clone(),
        hash: new.set.hash.clone(),
        k: p.k,
        n: p.n,
        persistent: p.persistent,
        timeout: p.timeout,
        createtime: now(),
        world_hkm: new.set.world_hkm.clone(),
        tag: None,
    };
    let dir = cardset::write_cards(txn, store, new, p.card_dir.as_deref())?;
    for c in &new.cards {
        let info = CardInfoFile {
            format: CARDINFO_FORMAT.into(),
            cardset: new.set.hash.clone(),
            index: c.index,
            label: format!("{} {}", p.name, c.index),
            createtime: meta.createtime,
        };
        txn.write_local(
            &format!("cards_{}_{}", new.set.hash, c.index),
            &serde_json::to_vec_pretty(&info).unwrap_or_default(),
        )?;
    }
    txn.write_local(&meta.file_name(), &cardset::sealed_set_file(&meta, km))?;
    Ok((meta, dir))
}

/// The slot a new softcard gets: one past the highest in use (slot 0 is the module's).
pub fn next_softcard_slot(store: &Store) -> AdminResult<u64> {
    let served = softcard::list(store)?.iter().map(|c| c.slot).max().unwrap_or(0);
    Ok(served.max(softcard::highest_claimed_slot(store)) + 1)
}

/// `ppmk --new`: a softcard usable as a PKCS#11 token.
pub fn create_softcard(
    store: &Store,
    module: u32,
    name: &str,
    recoverable: bool,
    ui: &mut dyn Interaction,
) -> AdminResult<SoftcardFile> {
    check_token_name(name, "softcard")?;
    let op = world::operational(store, module, "ppmk")?;
    if recoverable && !op.world.recovery {
        return fail(
            "--recoverable needs a Security World with recovery keys, and this one was made with --no-recovery",
            "leave out --recoverable",
        );
    }
    let pass = ui.new_passphrase(&format!("new softcard \"{name}\""))?;
    if softcard::check_pin_len(pass.as_bytes()).is_err() {
        return fail(
            format!("the softcard passphrase must be {} to {} bytes long", softcard::MIN_PIN, softcard::MAX_PIN),
            "choose a longer passphrase (it is also the PKCS#11 user PIN)",
        );
    }
    let lock = store.lock()?;
    let slot = next_softcard_slot(store)?;
    let (file, lt) = SoftcardFile::create(&lock, name, pass.as_bytes(), slot)?;
    drop(lock);
    let undo = |store: &Store| {
        if let Ok(l) = store.lock() {
            let _ = l.remove(&file.file_name());
            let _ = std::fs::remove_file(store.emu().join(format!("recovery/{}.json", file.file_name())));
            l.bump();
        }
    };
    // The same passphrase is the user PIN (nShield softcards have one passphrase).
    let file = match SoftcardFile::set_pin(store, &file.file_name(), Who::User, pass.as_bytes(), &lt) {
        Ok(f) => f,
        Err(e) => {
            undo(store);
            return Err(e.into());
        }
    };
    if recoverable {
        let res = (|| -> AdminResult<()> {
            use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
            let bad = || AdminError::new("the world's recovery key KRE is damaged", "restore local/world");
            let spki = B64.decode(&op.world.kre_pub).map_err(|_| bad())?;
            let kre = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).map_err(|_| bad())?)
                .map_err(|_| bad())?;
            let mut out = vec![0u8; kre.ciphertext_size()];
            let n = kre.encrypt(&OAEP_SHA256_MGF1SHA256, &lt[..], &mut out, None).map_err(|_| bad())?.len();
            out.truncate(n);
            let rec = serde_json::json!({
                "format": "shieldhsm/softcard-recovery/1",
                "softcard": file.hash,
                "hkre": op.world.hkre,
                "wrapped_lt": B64.encode(out),
            });
            let lock = store.lock()?;
            lock.write_emu(
                &format!("recovery/{}.json", file.file_name()),
                &serde_json::to_vec_pretty(&rec).unwrap_or_default(),
            )?;
            Ok(())
        })();
        if let Err(e) = res {
            undo(store);
            return Err(e);
        }
    }
    Ok(file)
}

/// Where a card set's cards are by default (for messages).
pub fn card_dir_of(store: &Store, hash: &str, given: Option<&Path>) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| cardset::default_card_dir(store, hash))
}

#[cfg(test)]
mod tests {
    use super::super::admin::Scripted;
    use super::super::hsm::{self, Mode};
    use super::super::keygen::{self, parse_params};
    use super::super::world::{new_world, NewWorldParams, World};
    use super::*;
    use crate::object::stored::{self, Protection};

    fn world() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        hsm::set_mode(&st, 1, Mode::PreInit).unwrap();
        new_world(&st, &NewWorldParams { recovery: true, ..NewWorldParams::default() }, &mut Scripted::new(&["acs"]))
            .unwrap();
        hsm::set_mode(&st, 1, Mode::Operational).unwrap();
        (dir, st)
    }

    fn kv(s: &str) -> Vec<(String, String)> {
        s.split_whitespace().map(|p| p.split_once('=').map(|(a, b)| (a.into(), b.into())).unwrap()).collect()
    }

    #[test]
    fn softcard_keys_open_with_the_passphrase() {
        let (_d, st) = world();
        let sc = create_softcard(&st, 1, "webapp", true, &mut Scripted::new(&["soft-pass"])).unwrap();
        assert_eq!(sc.slot, 1);
        assert!(st.emu().join(format!("recovery/{}.json", sc.file_name())).exists());
        let (_, lt) = SoftcardFile::verify(&st, &sc.file_name(), Who::User, b"soft-pass").unwrap();
        assert!(create_softcard(&st, 1, "x", false, &mut Scripted::new(&["abc"])).is_err(), "too short");
        let sc2 = create_softcard(&st, 1, "second", false, &mut Scripted::new(&["pass2"])).unwrap();
        assert_eq!(sc2.slot, 2);
        let (p, _) = parse_params("pkcs11", &kv("type=EC protect=softcard softcard=webapp plainname=web")).unwrap();
        let e = keygen::generate(&st, &p, &mut Scripted::new(&["wrong-pass"])).unwrap_err();
        assert!(e.what.contains("wrong passphrase"), "{e}");
        let g = keygen::generate(&st, &p, &mut Scripted::new(&["soft-pass"])).unwrap();
        assert!(g.ident.starts_with(&format!("us{}-", &sc.hash[..8])), "{}", g.ident);
        let raw = st.read(&g.files[0]).unwrap();
        assert_eq!(stored::peek_file(&raw).unwrap(), (Protection::Token, sc.hash.clone()));
        let a = stored::open_file(&g.files[0], &raw, &lt).unwrap();
        assert_eq!(a.bool(cryptoki_sys::CKA_PRIVATE), Some(true));
        let w = World::load(&st).unwrap().unwrap();
        assert!(stored::open_file(&g.files[0], &raw, &w.km).is_err());
        // The public half opens with KM, owned by the softcard.
        let pubraw = st.read(&g.files[1]).unwrap();
        assert_eq!(stored::peek_file(&pubraw).unwrap(), (Protection::Module, sc.hash.clone()));
    }

    #[test]
    fn ocs_keys_need_k_cards() {
        let (_d, st) = world();
        let p = NewOcsParams {
            name: "operators".into(),
            k: 2,
            n: 3,
            persistent: true,
            timeout: None,
            module: 1,
            card_dir: None,
        };
        let (meta, _) = create_ocs(&st, &p, &mut Scripted::new(&["o1", "o2", "o3"])).unwrap();
        assert!(st.exists(&format!("card_{}", meta.hash)));
        assert!(st.exists(&format!("cards_{}_3", meta.hash)));
        assert!(create_ocs(&st, &p, &mut Scripted::new(&["o1", "o2", "o3"]))
            .unwrap_err()
            .what
            .contains("already exists"));
        let (kp, _) = parse_params("simple", &kv("type=AES protect=token cardset=operators ident=opkey")).unwrap();
        assert!(keygen::generate(&st, &kp, &mut Scripted::new(&["o1"])).is_err(), "one card is not enough");
        assert!(!st.exists("key_simple_opkey"));
        let g = keygen::generate(&st, &kp, &mut Scripted::new(&["o1", "o2"])).unwrap();
        assert_eq!(g.protection, format!("cardset:{}", meta.hash));
        let op = world::operational(&st, 1, "test").unwrap();
        assert!(keygen::open_key(&st, &op, "simple", "opkey", None, &mut Scripted::new(&["o1"])).is_err());
        let (e, a) = keygen::open_key(&st, &op, "simple", "opkey", None, &mut Scripted::new(&["o1", "o2"])).unwrap();
        assert_eq!(e.protection, Protection::Token);
        assert_eq!(a.bytes(cryptoki_sys::CKA_VALUE).unwrap().len(), 32);
    }
}
