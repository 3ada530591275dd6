//! Softcards: passphrase-protected logical tokens (nShield `ppmk`), which are also the tokens
//! `C_InitToken` creates. The logical token key (LT) encrypts the card's private objects; it is
//! stored sealed under a key derived from the SO PIN and, once set, from the user PIN. Failed
//! attempts are counted in the file itself, so the count survives restarts and is shared by
//! every process.

use super::hash::hash_hex;
use super::integrity::{self, IntegrityKey, Tagged};
use super::store::{derive_key, Store, StoreLock, KDF_ITERATIONS};
use crate::error::{err, err_because, Error, Result};
use crate::object::envelope::{open, random_key, seal, SecretKey32};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub const PREFIX: &str = "softcard_";
pub const MIN_PIN: usize = 4;
pub const MAX_PIN: usize = 256;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct PinRecord {
    salt: String,
    iterations: u32,
    wrapped_lt: String,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SoftcardFile {
    pub format: String,
    pub name: String,
    pub hash: String,
    pub slot: u64,
    pub serial: String,
    pub createtime: u64,
    pub max_tries: u32,
    pub so: PinRecord,
    pub user: Option<PinRecord>,
    pub so_failures: u32,
    pub user_failures: u32,
    /// The file's integrity tag ([`super::integrity`]), binding the module's count of PIN changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl Tagged for SoftcardFile {
    fn tag_field(&mut self) -> &mut Option<String> {
        &mut self.tag
    }
}

/// A softcard's PIN failure counters and limit as the module itself keeps them
/// (`emu/counters/<hash>`): `local/` may be rolled back by whoever administers it, the inside of
/// the HSM may not.
#[derive(Serialize, Deserialize, Default)]
struct Counters {
    so: u32,
    user: u32,
    max_tries: Option<u32>,
    /// PIN records written so far: bound into the file's tag, so an older copy of the file (with
    /// a PIN since changed) is refused.
    #[serde(default)]
    epoch: u64,
}

impl Counters {
    fn rel(hash: &str) -> String {
        format!("counters/{hash}")
    }
    fn read(store: &Store, hash: &str) -> Counters {
        std::fs::read(store.emu().join(Counters::rel(hash)))
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    So,
    User,
}

impl Who {
    fn tag(self) -> &'static str {
        match self {
            Who::So => "so",
            Who::User => "user",
        }
    }
}

/// Maximum failed PIN attempts before a PIN locks: 10, or fewer with `SHIELDHSM_PIN_MAX_TRIES`
/// (the caller's environment never raises it; see [`super::tries::limit`]).
pub fn max_tries() -> u32 {
    super::tries::limit()
}

pub fn check_pin_len(pin: &[u8]) -> Result<()> {
    if pin.len() < MIN_PIN || pin.len() > MAX_PIN {
        return err(CKR_PIN_LEN_RANGE);
    }
    Ok(())
}

impl SoftcardFile {
    pub fn file_name(&self) -> String {
        format!("{PREFIX}{}", self.hash)
    }

    pub fn load(store: &Store, name: &str) -> Result<SoftcardFile> {
        Self::load_keyed(store, name, IntegrityKey::of_store(store).as_ref())
    }

    /// [`SoftcardFile::load`] with the world's integrity key at hand (the token has the module
    /// key in memory: no module state is read for each look at a softcard).
    pub fn load_keyed(store: &Store, name: &str, key: Option<&IntegrityKey>) -> Result<SoftcardFile> {
        let mut f: SoftcardFile = serde_json::from_slice(&store.read(name)?).map_err(|_| {
            Error::with_reason(CKR_DEVICE_ERROR, format!("local/{name} is damaged (not a softcard file)"))
        })?;
        if f.format != "shieldhsm/softcard/1" {
            return err_because(CKR_TOKEN_NOT_RECOGNIZED, format!("local/{name} has format {:?}", f.format));
        }
        // The hash names files and slots: only the 40 hex digits the token writes.
        if f.hash.len() != 40 || !f.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return err_because(CKR_DEVICE_ERROR, format!("local/{name} is damaged (its hash is not 40 hex digits)"));
        }
        let c = Counters::read(store, &f.hash);
        let authentic = f.file_name() == name && key.is_some_and(|k| k.check(name, &f, c.epoch.to_string().as_bytes()));
        if !authentic {
            return err_because(CKR_DEVICE_ERROR, integrity::refusal(name));
        }
        // The module's own counters win: an older copy of this file cannot reset them.
        f.so_failures = f.so_failures.max(c.so);
        f.user_failures = f.user_failures.max(c.user);
        f.max_tries = f.max_tries.min(c.max_tries.unwrap_or_else(max_tries)).clamp(1, super::tries::MAX_TRIES);
        Ok(f)
    }

    /// Writes the module's counters and the tagged file; `new_pins` when a PIN record changed
    /// (the file's older copies stop checking out).
    fn save(&self, lock: &StoreLock<'_>, new_pins: bool) -> Result<()> {
        let store = lock.store();
        let key = IntegrityKey::of_store(store)
            .ok_or_else(|| Error::with_reason(CKR_DEVICE_ERROR, "no module holds a Security World".to_string()))?;
        let epoch = Counters::read(store, &self.hash).epoch + u64::from(new_pins);
        let c = Counters { so: self.so_failures, user: self.user_failures, max_tries: Some(self.max_tries), epoch };
        lock.write_emu(&Counters::rel(&self.hash), &serde_json::to_vec(&c).map_err(|_| CKR_GENERAL_ERROR)?)?;
        lock.write(&self.file_name(), &key.seal(&self.file_name(), self, epoch.to_string().as_bytes()).0)
    }

    /// A new softcard holding a fresh LT, sealed under the SO PIN. Returns the record and the LT.
    pub fn create(lock: &StoreLock<'_>, label: &str, so_pin: &[u8], slot: u64) -> Result<(SoftcardFile, SecretKey32)> {
        check_pin_len(so_pin)?;
        let lt = random_key()?;
        let mut nonce = [0u8; 16];
        aws_lc_rs::rand::fill(&mut nonce)?;
        let hash = hash_hex(&[&lt[..], &nonce, b"emu-softcard"]);
        let mut f = SoftcardFile {
            format: "shieldhsm/softcard/1".into(),
            name: label.to_string(),
            serial: hash[..16].to_string(),
            hash,
            slot,
            createtime: super::time::now(),
            max_tries: max_tries(),
            so: PinRecord { salt: String::new(), iterations: 0, wrapped_lt: String::new() },
            user: None,
            so_failures: 0,
            user_failures: 0,
            tag: None,
        };
        f.so = f.seal_lt(Who::So, so_pin, &lt)?;
        f.save(lock, true)?;
        Ok((f, lt))
    }

    fn aad(&self, who: Who) -> Vec<u8> {
        format!("shieldhsm/softcard/1|{}|{}", self.hash, who.tag()).into_bytes()
    }

    fn seal_lt(&self, who: Who, pin: &[u8], lt: &SecretKey32) -> Result<PinRecord> {
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt)?;
        let k = derive_key(pin, &salt, KDF_ITERATIONS, &self.aad(who));
        Ok(PinRecord {
            salt: B64.encode(salt),
            iterations: KDF_ITERATIONS,
            wrapped_lt: B64.encode(seal(&k, &self.aad(who), &lt[..])?),
        })
    }

    fn try_open(&self, who: Who, pin: &[u8]) -> Result<Option<SecretKey32>> {
        let rec = match who {
            Who::So => &self.so,
            Who::User => self.user.as_ref().ok_or(CKR_USER_PIN_NOT_INITIALIZED)?,
        };
        let damaged = |what: &str| {
            Error::with_reason(CKR_DEVICE_ERROR, format!("softcard {} is damaged ({what})", self.file_name()))
        };
        let salt = B64.decode(&rec.salt).map_err(|_| damaged("its salt is not base64"))?;
        let blob = B64.decode(&rec.wrapped_lt).map_err(|_| damaged("its sealed key is not base64"))?;
        if !crate::module::store::plausible_iterations(rec.iterations) {
            return Err(damaged("implausible iteration count"));
        }
        let k = derive_key(pin, &salt, rec.iterations, &self.aad(who));
        Ok(open(&k, &self.aad(who), &blob).ok().and_then(|v| {
            let mut lt = Zeroizing::new([0u8; 32]);
            (v.len() == 32).then(|| {
                lt.copy_from_slice(&v);
                lt
            })
        }))
    }

    pub fn failures(&self, who: Who) -> u32 {
        match who {
            Who::So => self.so_failures,
            Who::User => self.user_failures,
        }
    }

    pub fn locked(&self, who: Who) -> bool {
        self.failures(who) >= self.max_tries
    }

    /// Checks a PIN and returns the LT. Counts failures in the file (re-read under the lock so
    /// concurrent processes never lose a count); a correct PIN resets the count.
    pub fn verify(store: &Store, name: &str, who: Who, pin: &[u8]) -> Result<(SoftcardFile, SecretKey32)> {
        // Counted as a failure before the KDF runs (in the module's counters), cleared after a
        // right PIN: threads or processes guessing at once get no tries beyond the limit.
        let current = {
            let lock = store.lock()?;
            let mut f = SoftcardFile::load(store, name)?;
            if f.locked(who) {
                return err(CKR_PIN_LOCKED);
            }
            *f.failures_mut(who) += 1;
            f.save_counters(&lock)?;
            f
        };
        // The KDF runs outside the store lock: it is the slow part.
        let opened = current.try_open(who, pin)?;
        let lock = store.lock()?;
        let mut f = SoftcardFile::load(store, name)?;
        match opened {
            Some(lt) if !f.locked(who) || f.failures(who) == current.failures(who) => {
                *f.failures_mut(who) = 0;
                f.save(&lock, false)?;
                Ok((f, lt))
            }
            _ => {
                f.save(&lock, false)?;
                err(if f.locked(who) { CKR_PIN_LOCKED } else { CKR_PIN_INCORRECT })
            }
        }
    }

    /// Writes the module's counters alone (the pre-count of an attempt).
    fn save_counters(&self, lock: &StoreLock<'_>) -> Result<()> {
        let store = lock.store();
        let epoch = Counters::read(store, &self.hash).epoch;
        let c = Counters { so: self.so_failures, user: self.user_failures, max_tries: Some(self.max_tries), epoch };
        lock.write_emu(&Counters::rel(&self.hash), &serde_json::to_vec(&c).map_err(|_| CKR_GENERAL_ERROR)?)
    }

    fn failures_mut(&mut self, who: Who) -> &mut u32 {
        match who {
            Who::So => &mut self.so_failures,
            Who::User => &mut self.user_failures,
        }
    }

    /// Sets (or replaces) a PIN; the caller has proved knowledge of the LT by logging in.
    pub fn set_pin(store: &Store, name: &str, who: Who, new_pin: &[u8], lt: &SecretKey32) -> Result<SoftcardFile> {
        check_pin_len(new_pin)?;
        let snapshot = SoftcardFile::load(store, name)?;
        let rec = snapshot.seal_lt(who, new_pin, lt)?;
        let lock = store.lock()?;
        let mut f = SoftcardFile::load(store, name)?;
        match who {
            Who::So => f.so = rec,
            Who::User => f.user = Some(rec),
        }
        *f.failures_mut(who) = 0;
        f.save(&lock, true)?;
        lock.bump();
        Ok(f)
    }
}

/// Every softcard in the store, ordered by slot.
pub fn list(store: &Store) -> Result<Vec<SoftcardFile>> {
    list_keyed(store, IntegrityKey::of_store(store).as_ref())
}

/// [`list`] with the world's integrity key at hand.
pub fn list_keyed(store: &Store, key: Option<&IntegrityKey>) -> Result<Vec<SoftcardFile>> {
    let mut v: Vec<SoftcardFile> =
        store.list(PREFIX)?.into_iter().filter_map(|(n, _)| SoftcardFile::load_keyed(store, &n, key).ok()).collect();
    // Slot 0 is the module's; a file claiming it, or a slot another card already has, is damaged
    // (or edited) and not served.
    v.retain(|f| f.slot != 0);
    v.sort_by_key(|f| f.slot);
    v.dedup_by_key(|f| f.slot);
    Ok(v)
}

/// The highest slot any softcard file in `local/` claims, served or not (an edited file is not
/// served, but a new softcard must not take its slot: restored, it would meet its double).
/// Claims beyond 2^20 are ignored (slots are counted up from 1).
pub fn highest_claimed_slot(store: &Store) -> u64 {
    #[derive(Deserialize)]
    struct Claim {
        slot: u64,
    }
    let Ok(files) = store.list(PREFIX) else { return 0 };
    files
        .iter()
        .filter_map(|(n, _)| serde_json::from_slice::<Claim>(&store.read(n).ok()?).ok())
        .map(|c| c.slot)
        .filter(|s| *s < 1 << 20)
        .max()
        .unwrap_or(0)
}

/// Every key file softcard `hash` owns: the PKCS#11 objects made on it (`key_pkcs11_us<card>…`,
/// by name) and the keys the CLI made for it (`key_<app>_<ident>` with `protect=softcard`, by the
/// owner sealed into their header). What a re-initialisation of the softcard removes.
pub fn key_files_of(store: &Store, hash: &str) -> Result<Vec<String>> {
    use crate::object::stored;
    let own = format!("{}us{}", stored::FILE_PREFIX, hash.get(..8).unwrap_or(hash));
    let mut out = Vec::new();
    for (n, _) in store.list(stored::KEY_PREFIX)? {
        if n.starts_with(stored::FILE_PREFIX) {
            if n.starts_with(&own) {
                out.push(n);
            }
            continue;
        }
        let Ok(raw) = store.read(&n) else { continue };
        if matches!(stored::peek_file(&raw), Ok((_, owner)) if owner == hash) {
            out.push(n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_counter_locks_and_resets() {
        std::env::set_var("SHIELDHSM_PIN_MAX_TRIES", "3");
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let (f, lt) = {
            let l = st.lock().unwrap();
            crate::module::world::World::create_default(&l).unwrap();
            SoftcardFile::create(&l, "t", b"so-pin", 1).unwrap()
        };
        let name = f.file_name();
        let before_pin = std::fs::read(st.local().join(&name)).unwrap();
        SoftcardFile::set_pin(&st, &name, Who::User, b"1234", &lt).unwrap();
        assert_eq!(SoftcardFile::verify(&st, &name, Who::User, b"9999").unwrap_err().rv(), CKR_PIN_INCORRECT);
        let (_, lt2) = SoftcardFile::verify(&st, &name, Who::User, b"1234").unwrap();
        assert_eq!(&lt2[..], &lt[..]);
        assert_eq!(SoftcardFile::load(&st, &name).unwrap().user_failures, 0);
        for _ in 0..2 {
            assert_eq!(SoftcardFile::verify(&st, &name, Who::User, b"0000").unwrap_err().rv(), CKR_PIN_INCORRECT);
        }
        assert_eq!(SoftcardFile::verify(&st, &name, Who::User, b"0000").unwrap_err().rv(), CKR_PIN_LOCKED);
        // Locked: even the right PIN is refused, and the SO PIN still works.
        assert_eq!(SoftcardFile::verify(&st, &name, Who::User, b"1234").unwrap_err().rv(), CKR_PIN_LOCKED);
        assert!(SoftcardFile::verify(&st, &name, Who::So, b"so-pin").is_ok());
        // The file is authenticated: an edited try limit, or the copy from before the user PIN
        // was set (a rollback), is refused.
        let now = std::fs::read(st.local().join(&name)).unwrap();
        let edited = String::from_utf8(now.clone()).unwrap().replace("\"max_tries\": 3", "\"max_tries\": 2");
        assert_ne!(edited.as_bytes(), &now[..]);
        std::fs::write(st.local().join(&name), edited).unwrap();
        assert!(SoftcardFile::load(&st, &name).unwrap_err().to_string().contains("integrity"));
        std::fs::write(st.local().join(&name), &before_pin).unwrap();
        assert!(SoftcardFile::load(&st, &name).unwrap_err().to_string().contains("integrity"));
        std::fs::write(st.local().join(&name), &now).unwrap();
        assert!(SoftcardFile::load(&st, &name).is_ok());
    }
}
