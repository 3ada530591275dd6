//! The Security World and the emulated module holding its module key (KM).
//!
//! `local/world` is public world metadata (as nShield's is) plus the world's own secrets sealed
//! under the Administrator Card Set's logical token: KM (so `new-world -l` can program another
//! module), KNSO's private half, and KRE/KRA's private halves when recovery is on. The module's
//! copy of KM lives in `emu/modules/<ESN>/state.json` (see `hsm`), which stands for the HSM's
//! internal storage. Formats are ours ("shieldhsm/…/1"), not nCipher's binary ones.
//!
//! A world made by the PKCS#11 library's first `C_InitToken` ([`World::create_default`]) is
//! "implicit": no ACS (0/0), no cards, a random KNSO hash; it works for tokens and module keys but
//! cannot be loaded onto another module.

use super::admin::{fail, AdminError, AdminResult, Interaction, Txn};
use super::cardset::{self, SetKind, SetRef};
use super::hash::hash_hex;
use super::hsm::{self, Mode, ModuleState};
use super::integrity::{self, IntegrityKey, Tagged};
use super::store::{Store, StoreLock};
use super::time::now;
use crate::error::{Context, Error, Result};
use crate::object::envelope::{open, random_key, seal, SecretKey32};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const WORLD_FILE: &str = "world";
pub const WORLD_FORMAT: &str = "shieldhsm/world/1";
pub const DEFAULT_CIPHERSUITE: &str = "DLf3072s256mAEScSP800131Ar1";
/// The cipher suites `new-world` accepts (docs/nshield-emulation.md §2.3). The emulator seals blobs
/// with AES-256-GCM whatever the suite; the name is recorded and reported.
pub const CIPHER_SUITES: [&str; 5] =
    ["DLf1024s160mDES3", "DLf1024s160mRijndael", "DLf3072s256mRijndael", DEFAULT_CIPHERSUITE, "ECp521mAES"];
pub const WORLD_MODES: [&str; 3] = ["unrestricted", "fips-140-level-3", "cc-cmts"];
pub const MODULE_PREFIX: &str = "module_";

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct WorldFile {
    pub format: String,
    pub generation: u32,
    pub ciphersuite: String,
    pub mode: String,
    pub createtime: u64,
    /// ACS quorum K/N; 0/0 for a world made implicitly by the first C_InitToken.
    pub acs_k: u32,
    pub acs_n: u32,
    pub hknso: String,
    pub hkm: String,
    /// ESNs of the modules the world is programmed into, first = the one that created it.
    pub modules: Vec<String>,
    #[serde(default)]
    pub implicit: bool,
    /// Hash of the ACS logical token (names its card files).
    #[serde(default)]
    pub acs_hash: String,
    /// Seconds KNSO authority stays usable once the ACS is loaded; `None`: no limit.
    #[serde(default)]
    pub nso_timeout: Option<u64>,
    #[serde(default)]
    pub recovery: bool,
    #[serde(default)]
    pub hkre: String,
    #[serde(default)]
    pub hkra: String,
    /// KNSO's curve ("P-256", or "P-521" in ECp521mAES worlds) and public key (SPKI DER, base64).
    #[serde(default)]
    pub knso_curve: String,
    #[serde(default)]
    pub knso_pub: String,
    /// Sealed under the ACS logical token (base64 of nonce || ciphertext || tag).
    #[serde(default)]
    pub knso_sealed: String,
    #[serde(default)]
    pub km_sealed: String,
    #[serde(default)]
    pub kre_pub: String,
    #[serde(default)]
    pub kre_sealed: String,
    #[serde(default)]
    pub kra_pub: String,
    #[serde(default)]
    pub kra_sealed: String,
    #[serde(default)]
    pub flags: Vec<String>,
    /// The file's integrity tag ([`super::integrity`]); the module keeps the current one in
    /// `emu/world.tag`, so an older copy of this file is refused too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Whether [`WorldFile::read`] checked the tag (it can when a module holds the world).
    #[serde(skip)]
    pub verified: bool,
}

impl Tagged for WorldFile {
    fn tag_field(&mut self) -> &mut Option<String> {
        &mut self.tag
    }
}

/// The module's record of the current world file's tag (inside the HSM).
const WORLD_TAG: &str = "world.tag";

impl WorldFile {
    pub fn acs(&self) -> Option<SetRef> {
        (!self.implicit && self.acs_n > 0).then(|| SetRef {
            kind: SetKind::Acs,
            name: "administrator".into(),
            hash: self.acs_hash.clone(),
            k: self.acs_k,
            n: self.acs_n,
            world_hkm: self.hkm.clone(),
        })
    }

    pub(super) fn seal_aad(&self, what: &str) -> Vec<u8> {
        format!("{WORLD_FORMAT}|{what}|{}|{}", self.acs_hash, self.hkm).into_bytes()
    }

    /// Writes `local/world`, tagged under the world's module key `km`, and the module's record
    /// of its tag, in `txn`.
    pub(super) fn write(&self, txn: &mut Txn<'_>, km: &SecretKey32) -> AdminResult<()> {
        let (json, tag) = IntegrityKey::from_km(km).seal(WORLD_FILE, self, b"");
        txn.write_local(WORLD_FILE, &json)?;
        txn.write_emu(WORLD_TAG, tag.as_bytes())
    }

    /// Checks the tag under `key` and against the module's record of the current one.
    fn check(&self, store: &Store, key: &IntegrityKey) -> std::result::Result<(), String> {
        let current = std::fs::read(store.emu().join(WORLD_TAG)).unwrap_or_default();
        let current_ok = self.tag.as_deref().is_some_and(|t| t.as_bytes() == current.trim_ascii());
        if key.check(WORLD_FILE, self, b"") && current_ok {
            Ok(())
        } else {
            Err(integrity::refusal(WORLD_FILE))
        }
    }

    /// Checks a world file read before any module held it, once its module key is known (from
    /// the ACS, for `new-world -l`).
    pub fn check_with_km(&self, store: &Store, km: &SecretKey32) -> AdminResult<()> {
        if self.verified {
            return Ok(());
        }
        // A module that never held a world keeps no record of the current tag; one that did must
        // agree with it.
        let key = IntegrityKey::from_km(km);
        let recorded = std::fs::read(store.emu().join(WORLD_TAG)).ok();
        let current_ok = recorded.is_none_or(|r| self.tag.as_deref().is_some_and(|t| t.as_bytes() == r.trim_ascii()));
        if !key.check(WORLD_FILE, self, b"") || !current_ok {
            return fail(integrity::refusal(WORLD_FILE), "restore local/world from your backup");
        }
        Ok(())
    }

    pub fn read(store: &Store) -> AdminResult<Option<WorldFile>> {
        if !store.exists(WORLD_FILE) {
            return Ok(None);
        }
        let raw = store.read(WORLD_FILE)?;
        let mut f = match serde_json::from_slice::<WorldFile>(&raw) {
            Ok(f) if f.format == WORLD_FORMAT => f,
            _ => {
                return fail(
                    format!("the world file {} is damaged", store.local().join(WORLD_FILE).display()),
                    "restore local/world from your backup",
                )
            }
        };
        // A module holding the world has its key; with none, `new-world -l` checks with the KM
        // the ACS unseals.
        if let Some(key) = IntegrityKey::of_world(store, &f.hkm) {
            f.check(store, &key).map_err(|e| AdminError::new(e, "restore local/world from your backup"))?;
            f.verified = true;
        }
        Ok(Some(f))
    }
}

/// `local/module_<ESN>`: the host's record of a module enrolled in the world.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ModuleEnrolment {
    pub format: String,
    pub esn: String,
    pub number: u32,
    pub hkml: String,
    pub world_hkm: String,
    pub firmware: String,
    pub enrolled: u64,
}

fn enrolment(m: &ModuleState, hkm: &str) -> Vec<u8> {
    let e = ModuleEnrolment {
        format: "shieldhsm/module-enrolment/1".into(),
        esn: m.esn.clone(),
        number: m.number,
        hkml: m.hkml.clone(),
        world_hkm: hkm.to_string(),
        firmware: m.firmware.clone(),
        enrolled: now(),
    };
    serde_json::to_vec_pretty(&e).unwrap_or_default()
}

/// A loaded world: its metadata and the module key from the (first) enrolled module.
pub struct World {
    pub file: WorldFile,
    pub esn: String,
    pub km: SecretKey32,
}

impl World {
    /// Loads the world, or `None` when the directory has none yet.
    pub fn load(store: &Store) -> Result<Option<World>> {
        if !store.exists(WORLD_FILE) {
            return Ok(None);
        }
        let damaged = |why: String| Error::with_reason(CKR_DEVICE_ERROR, why);
        let file: WorldFile = serde_json::from_slice(&store.read(WORLD_FILE)?)
            .map_err(|_| damaged("local/world is damaged (not a Security World file)".into()))?;
        let esn =
            file.modules.first().cloned().ok_or_else(|| damaged("local/world names no module holding it".into()))?;
        let state = store.emu().join("modules").join(&esn).join("state.json");
        let raw = std::fs::read(&state).with_context(|| format!("cannot read the state of module {esn}"))?;
        let st: ModuleState = serde_json::from_slice(&raw)
            .map_err(|_| damaged(format!("the state of module {esn} ({}) is damaged", state.display())))?;
        if st.world_hkm != file.hkm {
            return Err(damaged(format!("module {esn} does not hold the world of local/world (another hkm)")));
        }
        let km = st.km().ok_or_else(|| damaged(format!("module {esn} holds no readable module key")))?;
        file.check(store, &IntegrityKey::from_km(&km)).map_err(damaged)?;
        Ok(Some(World { file, esn, km }))
    }

    /// Creates a world with a fresh KM on module 1 (the implicit world of the first
    /// C_InitToken; `new-world` builds the full one with an ACS). The module is left operational.
    pub fn create_default(lock: &StoreLock<'_>) -> Result<World> {
        let store = lock.store();
        let mut module = hsm::list(store)
            .map_err(|e| Error::with_reason(CKR_DEVICE_ERROR, e.what))?
            .into_iter()
            .next()
            .ok_or(CKR_DEVICE_ERROR)?;
        let km = random_key()?;
        let hkm = hash_hex(&[&km[..], b"emu-hkm"]);
        let mut knso = [0u8; 32];
        aws_lc_rs::rand::fill(&mut knso)?;
        let mut file = WorldFile {
            format: WORLD_FORMAT.into(),
            generation: 1,
            ciphersuite: DEFAULT_CIPHERSUITE.into(),
            mode: "unrestricted".into(),
            createtime: now(),
            acs_k: 0,
            acs_n: 0,
            hknso: hash_hex(&[&knso, b"emu-hknso"]),
            hkm: hkm.clone(),
            modules: vec![module.esn.clone()],
            implicit: true,
            flags: vec!["implicit".into()],
            ..WorldFile::default()
        };
        module.program_world(&km, &hkm);
        module.set_mode(Mode::Operational);
        let mut txn = Txn::new(lock);
        txn.write_emu(&module.state_rel(), &module.to_json())
            .map_err(|e| Error::with_reason(CKR_DEVICE_ERROR, e.what))?;
        txn.write_local(&format!("{MODULE_PREFIX}{}", module.esn), &enrolment(&module, &hkm))
            .map_err(|e| Error::with_reason(CKR_DEVICE_ERROR, e.what))?;
        file.write(&mut txn, &km).map_err(|e| Error::with_reason(CKR_DEVICE_ERROR, e.what))?;
        txn.commit();
        file.verified = true;
        Ok(World { esn: module.esn, file, km })
    }
}

/// What `new-world --initialize` is asked for.
#[derive(Clone, Debug)]
pub struct NewWorldParams {
    pub ciphersuite: String,
    pub mode: String,
    pub module: u32,
    pub k: u32,
    pub n: u32,
    pub nso_timeout: Option<u64>,
    pub recovery: bool,
    pub card_dir: Option<PathBuf>,
}

impl Default for NewWorldParams {
    fn default() -> Self {
        NewWorldParams {
            ciphersuite: DEFAULT_CIPHERSUITE.into(),
            mode: "unrestricted".into(),
            module: 1,
            k: 1,
            n: 1,
            nso_timeout: None,
            recovery: true,
            card_dir: None,
        }
    }
}

/// The accepted spelling of a cipher suite (case-insensitive), or an error listing them.
pub fn canonical_ciphersuite(s: &str) -> AdminResult<&'static str> {
    CIPHER_SUITES.iter().copied().find(|c| c.eq_ignore_ascii_case(s)).ok_or_else(|| {
        AdminError::new(
            format!("unknown cipher suite {s:?}"),
            format!("use one of: {} (default {DEFAULT_CIPHERSUITE})", CIPHER_SUITES.join(", ")),
        )
    })
}

pub fn canonical_world_mode(s: &str) -> AdminResult<&'static str> {
    let l = s.to_ascii_lowercase().replace('_', "-");
    let m = match l.as_str() {
        "unrestricted" | "none" => "unrestricted",
        "fips-140-level-3" | "fips-140-3" | "fips-140-2-level-3" | "fips" => "fips-140-level-3",
        "cc-cmts" | "common-criteria-cmts" => "cc-cmts",
        _ => {
            return fail(
                format!("unknown Security World mode {s:?}"),
                format!("use one of: {}", WORLD_MODES.join(", ")),
            )
        }
    };
    Ok(m)
}

/// What `new-world` made.
pub struct NewWorldOutcome {
    pub world: WorldFile,
    pub module: ModuleState,
    pub card_dir: PathBuf,
    /// The module was operational with no world, and `new-world` changed its mode itself.
    pub mode_changed: bool,
}

fn no_world_hint() -> String {
    "create one: `new-world --initialize --acs-quorum=K/N`".into()
}

fn existing_world_error(store: &Store, w: &WorldFile) -> AdminError {
    AdminError::new(
        format!(
            "a Security World already exists in {} (hknso {}{})",
            store.root().display(),
            w.hknso,
            if w.implicit { ", made implicitly by C_InitToken" } else { "" }
        ),
        "load it onto a module with `new-world -l --module=N`, or use an empty data directory (SHIELDHSM_KMDATA) for a new world",
    )
}

/// SHA-1 of a public key's SPKI DER, as nShield prints key hashes (hknso, hkre, hkra).
pub fn spki_hash(spki: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, spki).as_ref())
}

/// An RSA key pair as (PKCS#8 private, SPKI public).
pub fn rsa_pair(bits: aws_lc_rs::rsa::KeySize) -> AdminResult<(Zeroizing<Vec<u8>>, Vec<u8>)> {
    let kp =
        aws_lc_rs::rsa::KeyPair::generate(bits).map_err(|_| AdminError::new("RSA key generation failed", "retry"))?;
    let der = kp.as_der().map_err(|_| AdminError::new("RSA key encoding failed", "retry"))?;
    let spki = kp.public_key().as_der().map_err(|_| AdminError::new("RSA key encoding failed", "retry"))?;
    Ok((Zeroizing::new(der.as_ref().to_vec()), spki.as_ref().to_vec()))
}

/// `new-world --initialize`: a world with a fresh KM, KNSO, optional KRE/KRA and a K-of-N ACS,
/// programmed into one module, which is then operational at once. Everything is checked and every
/// passphrase collected before the first write; on any failure nothing on disk changes.
pub fn new_world(store: &Store, p: &NewWorldParams, ui: &mut dyn Interaction) -> AdminResult<NewWorldOutcome> {
    let suite = canonical_ciphersuite(&p.ciphersuite)?;
    let mode = canonical_world_mode(&p.mode)?;
    cardset::check_quorum(p.k, p.n, "the Administrator Card Set")?;
    let module = hsm::get(store, p.module)?;
    hsm::ready_for_new_world(&module)?;
    if let Some(w) = WorldFile::read(store)? {
        return Err(existing_world_error(store, &w));
    }
    if let Some(d) = &p.card_dir {
        cardset::check_new_card_dir(d, p.n)?;
    }
    let mut passphrases = Vec::with_capacity(p.n as usize);
    for i in 1..=p.n {
        passphrases.push(ui.new_passphrase(&format!("card {i} of {} of the Administrator Card Set", p.n))?);
    }

    // Keys.
    let km = random_key()?;
    let hkm = hash_hex(&[&km[..], b"emu-hkm"]);
    let acs = cardset::make_set(SetKind::Acs, "administrator", p.k, p.n, &hkm, None, &passphrases)?;
    let (knso_alg, curve) = if suite == "ECp521mAES" {
        (&aws_lc_rs::signature::ECDSA_P521_SHA512_ASN1_SIGNING, "P-521")
    } else {
        (&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING, "P-256")
    };
    let knso_doc = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(knso_alg, &aws_lc_rs::rand::SystemRandom::new())
        .map_err(|_| AdminError::new("KNSO generation failed", "retry"))?;
    let knso_pkcs8 = Zeroizing::new(knso_doc.as_ref().to_vec());
    let knso = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(knso_alg, &knso_pkcs8)
        .map_err(|_| AdminError::new("KNSO generation failed", "retry"))?;
    let knso_spki =
        knso.public_key().as_der().map_err(|_| AdminError::new("KNSO encoding failed", "retry"))?.as_ref().to_vec();
    let recovery = if p.recovery {
        ui.busy_start("generating the recovery keys KRE and KRA (RSA-3072)");
        let kre = rsa_pair(aws_lc_rs::rsa::KeySize::Rsa3072);
        let kra = rsa_pair(aws_lc_rs::rsa::KeySize::Rsa3072);
        ui.busy_end();
        Some((kre?, kra?))
    } else {
        None
    };

    let mut w = WorldFile {
        format: WORLD_FORMAT.into(),
        generation: 1,
        ciphersuite: suite.into(),
        mode: mode.into(),
        createtime: now(),
        acs_k: p.k,
        acs_n: p.n,
        hknso: spki_hash(&knso_spki),
        hkm: hkm.clone(),
        modules: vec![module.esn.clone()],
        implicit: false,
        acs_hash: acs.set.hash.clone(),
        nso_timeout: p.nso_timeout,
        recovery: recovery.is_some(),
        knso_curve: curve.into(),
        knso_pub: B64.encode(&knso_spki),
        ..WorldFile::default()
    };
    w.knso_sealed = B64.encode(seal(&acs.lt, &w.seal_aad("knso"), &knso_pkcs8)?);
    w.km_sealed = B64.encode(seal(&acs.lt, &w.seal_aad("km"), &km[..])?);
    if let Some(((kre_priv, kre_pub), (kra_priv, kra_pub))) = &recovery {
        w.hkre = spki_hash(kre_pub);
        w.hkra = spki_hash(kra_pub);
        w.kre_pub = B64.encode(kre_pub);
        w.kra_pub = B64.encode(kra_pub);
        w.kre_sealed = B64.encode(seal(&acs.lt, &w.seal_aad("kre"), kre_priv)?);
        w.kra_sealed = B64.encode(seal(&acs.lt, &w.seal_aad("kra"), kra_priv)?);
        w.flags.push("Recovery".into());
    }

    // Writes, under the lock, after re-checking what the checks above saw.
    let lock = store.lock()?;
    if let Some(w) = WorldFile::read(store)? {
        return Err(existing_world_error(store, &w));
    }
    let mut module = hsm::get(store, p.module)?;
    let mode_changed = hsm::ready_for_new_world(&module)?;
    let mut txn = Txn::new(&lock);
    let card_dir = cardset::write_cards(&mut txn, store, &acs, p.card_dir.as_deref())?;
    module.km0 = B64.encode(&random_key()?[..]);
    module.program_world(&km, &hkm);
    module.set_mode(Mode::Operational);
    module.save(&mut txn)?;
    txn.write_local(&format!("{MODULE_PREFIX}{}", module.esn), &enrolment(&module, &hkm))?;
    w.write(&mut txn, &km)?;
    txn.commit();
    w.verified = true;
    lock.bump();
    for c in &acs.cards {
        ui.info(&format!("Card {} of {} of the Administrator Card Set written", c.index, p.n));
    }
    Ok(NewWorldOutcome { world: w, module, card_dir, mode_changed })
}

/// The ACS's authority, proven by K cards: the ACS logical token and what it unseals.
pub struct AcsAuthority {
    pub lt: SecretKey32,
    pub km: SecretKey32,
    /// KNSO's private key, PKCS#8 (the signing authority of "trump operations").
    pub knso_pkcs8: Zeroizing<Vec<u8>>,
}

/// Loads K ACS cards (from `card_dir` or the default place) and opens the world's secrets.
pub fn load_acs(
    store: &Store,
    w: &WorldFile,
    card_dir: Option<&Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<AcsAuthority> {
    let acs = w.acs().ok_or_else(|| {
        AdminError::new(
            "this Security World was made implicitly by C_InitToken and has no Administrator Card Set",
            "create a world with `new-world --initialize` in a new data directory for ACS operations",
        )
    })?;
    let lt = cardset::load_lt(store, &acs, card_dir, None, ui)?;
    let damaged =
        || AdminError::new("the world file's sealed keys do not open", "restore local/world from your backup");
    let km_raw =
        open(&lt, &w.seal_aad("km"), &B64.decode(&w.km_sealed).map_err(|_| damaged())?).map_err(|_| damaged())?;
    if km_raw.len() != 32 || hash_hex(&[&km_raw[..], b"emu-hkm"]) != w.hkm {
        return Err(damaged());
    }
    let mut km = Zeroizing::new([0u8; 32]);
    km.copy_from_slice(&km_raw);
    let knso =
        open(&lt, &w.seal_aad("knso"), &B64.decode(&w.knso_sealed).map_err(|_| damaged())?).map_err(|_| damaged())?;
    Ok(AcsAuthority { lt, km, knso_pkcs8: Zeroizing::new(knso.to_vec()) })
}

/// `new-world -l`: programs the existing world into another module (needs K ACS cards).
pub fn load_world(
    store: &Store,
    module_no: u32,
    card_dir: Option<&Path>,
    ui: &mut dyn Interaction,
) -> AdminResult<(WorldFile, ModuleState)> {
    let Some(w) = WorldFile::read(store)? else {
        return fail("there is no existing world to load", no_world_hint());
    };
    let module = hsm::get(store, module_no)?;
    hsm::require_mode(&module, &[Mode::PreInit, Mode::Init], "new-world -l")?;
    let auth = load_acs(store, &w, card_dir, ui)?;
    w.check_with_km(store, &auth.km)?;
    let lock = store.lock()?;
    let mut w = WorldFile::read(store)?.ok_or_else(|| AdminError::new("the world vanished", "retry"))?;
    let mut module = hsm::get(store, module_no)?;
    hsm::require_mode(&module, &[Mode::PreInit, Mode::Init], "new-world -l")?;
    let mut txn = Txn::new(&lock);
    module.program_world(&auth.km, &w.hkm);
    module.set_mode(Mode::Init);
    module.save(&mut txn)?;
    txn.write_local(&format!("{MODULE_PREFIX}{}", module.esn), &enrolment(&module, &w.hkm))?;
    if !w.modules.contains(&module.esn) {
        w.modules.push(module.esn.clone());
        w.write(&mut txn, &auth.km)?;
    }
    txn.commit();
    lock.bump();
    Ok((w, module))
}

/// What key management needs: the world, an operational module holding it, and its KM.
pub struct Operational {
    pub world: WorldFile,
    pub module: ModuleState,
    pub km: SecretKey32,
}

pub fn operational(store: &Store, module_no: u32, doing: &str) -> AdminResult<Operational> {
    let Some(world) = WorldFile::read(store)? else {
        return fail(format!("there is no Security World, which {doing} needs"), no_world_hint());
    };
    let module = hsm::get(store, module_no)?;
    if !module.has_world(&world.hkm) {
        return fail(
            format!("module #{} ({}) does not hold this Security World", module.number, module.esn),
            format!(
                "load it: `hsm-mode -m {0} I`, `new-world -l --module={0}` (ACS cards), `hsm-mode -m {0} O`",
                module.number
            ),
        );
    }
    hsm::require_mode(&module, &[Mode::Operational], doing)?;
    let km = module.km().ok_or_else(|| AdminError::new("the module's world key is damaged", "reload the world"))?;
    Ok(Operational { world, module, km })
}

#[cfg(test)]
mod tests {
    use super::super::admin::Scripted;
    use super::*;

    fn params(k: u32, n: u32) -> NewWorldParams {
        NewWorldParams {
            ciphersuite: "DLf1024s160mRijndael".into(),
            k,
            n,
            recovery: false,
            ..NewWorldParams::default()
        }
    }

    #[test]
    fn new_world_readies_a_fresh_module_and_refuses_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let mut ui = Scripted::new(&["a1", "a2", "a3"]);
        // A factory module (operational, no world) needs no hsm-mode first: the seed's order.
        let out = new_world(&st, &params(2, 3), &mut ui).unwrap();
        assert!(out.mode_changed);
        assert_eq!(out.module.mode(), Mode::Operational);
        assert_eq!(out.world.ciphersuite, "DLf1024s160mRijndael");
        // The library's view.
        let w = World::load(&st).unwrap().unwrap();
        assert_eq!(w.file.hkm, out.world.hkm);
        assert_eq!(w.esn, out.module.esn);
        // Operational at once: key management works without a mode change.
        let op = operational(&st, 1, "generatekey").unwrap();
        assert_eq!(&op.km[..], &w.km[..]);
        // A module holding a world refuses new-world until put into initialisation mode…
        let e = new_world(&st, &params(1, 1), &mut Scripted::new(&["x"])).err().unwrap();
        assert!(e.todo.contains("hsm-mode -m 1 I"), "{e}");
        // …and even then the existing world is never replaced.
        hsm::set_mode(&st, 1, Mode::PreInit).unwrap();
        let e = new_world(&st, &params(1, 1), &mut Scripted::new(&["x"])).err().unwrap();
        assert!(e.what.contains("already exists"), "{e}");
        assert!(operational(&st, 1, "generatekey").err().unwrap().todo.contains("hsm-mode -m 1 O"));
        // The ACS opens the world's secrets with any 2 cards.
        let auth = load_acs(&st, &out.world, None, &mut Scripted::new(&["a1", "a2"])).unwrap();
        assert_eq!(&auth.km[..], &w.km[..]);
        assert!(!auth.knso_pkcs8.is_empty());
    }

    #[test]
    fn load_onto_second_module() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        hsm::set_mode(&st, 1, Mode::PreInit).unwrap();
        let out = new_world(&st, &params(1, 2), &mut Scripted::new(&["p1", "p2"])).unwrap();
        assert!(!out.mode_changed, "the module was already in pre-initialisation mode");
        assert_eq!(out.module.mode(), Mode::Operational);
        let m2 = hsm::add(&st).unwrap();
        assert!(load_world(&st, 2, None, &mut Scripted::new(&["p2"])).err().unwrap().todo.contains("hsm-mode -m 2 I"));
        hsm::set_mode(&st, 2, Mode::PreInit).unwrap();
        assert!(load_world(&st, 2, None, &mut Scripted::new(&["wrong"])).is_err());
        let (w, m) = load_world(&st, 2, None, &mut Scripted::new(&["p1"])).unwrap();
        assert_eq!(m.esn, m2.esn);
        assert_eq!(w.modules.len(), 2);
        hsm::set_mode(&st, 2, Mode::Operational).unwrap();
        hsm::set_mode(&st, 1, Mode::Operational).unwrap();
        let a = operational(&st, 1, "x").unwrap();
        let b = operational(&st, 2, "x").unwrap();
        assert_eq!(&a.km[..], &b.km[..]);
    }

    #[test]
    fn implicit_world_uses_module_one() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let esn = hsm::list(&st).unwrap()[0].esn.clone();
        let w = {
            let lock = st.lock().unwrap();
            World::create_default(&lock).unwrap()
        };
        assert_eq!(w.esn, esn);
        assert!(w.file.implicit);
        let again = World::load(&st).unwrap().unwrap();
        assert_eq!(&again.km[..], &w.km[..]);
        let op = operational(&st, 1, "generatekey").unwrap();
        assert_eq!(op.world.acs_k, 0);
        assert!(load_acs(&st, &op.world, None, &mut Scripted::new(&[])).is_err());
    }

    #[test]
    fn bad_parameters_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        hsm::set_mode(&st, 1, Mode::PreInit).unwrap();
        let mut p = params(2, 3);
        p.ciphersuite = "DLf9999".into();
        let e = new_world(&st, &p, &mut Scripted::new(&[])).err().unwrap();
        assert!(e.todo.contains("DLf3072s256mAEScSP800131Ar1"), "{e}");
        let e = new_world(&st, &params(4, 3), &mut Scripted::new(&[])).err().unwrap();
        assert!(e.what.contains("K > N"), "{e}");
        let e = new_world(&st, &params(2, 3), &mut Scripted::new(&["only-one"])).err().unwrap();
        assert!(e.what.contains("no passphrase"), "{e}");
        assert!(!st.exists(WORLD_FILE));
        assert!(!st.emu().join("cards").exists());
    }
}
