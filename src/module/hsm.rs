//! The emulated HSMs themselves: each has an ESN, a mode (the front-panel I/O switch), its own
//! KM0, and the Security World key (KM) once a world is programmed into it. State lives in
//! `emu/modules/<ESN>/state.json`, which stands for the module's internal storage.
//!
//! A fresh data directory has one module, number 1, in operational mode with no world (as a
//! module leaves the factory). Its ESN is derived from the data directory's path, so commands
//! that only look at it see the same ESN before anything is written.

use super::admin::{fail, AdminResult, Txn};
use super::hash::hash_hex;
use super::store::Store;
use crate::object::envelope::{random_key, SecretKey32};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub const FIRMWARE: &str = "emu-12.72.2";
pub const MODEL: &str = "nShield-Emulator Solo XC (emulated)";
pub const STATE_FORMAT: &str = "shieldhsm/module/1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Switch at I, module erased and waiting for `new-world`.
    PreInit,
    /// Switch at I, world programmed; switch to O to use it.
    Init,
    Operational,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::PreInit => "preinit",
            Mode::Init => "init",
            Mode::Operational => "operational",
        }
    }
    /// As `enquiry` prints it.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::PreInit => "pre-initialisation",
            Mode::Init => "initialisation",
            Mode::Operational => "operational",
        }
    }
    fn parse(s: &str) -> Mode {
        match s {
            "preinit" => Mode::PreInit,
            "init" => Mode::Init,
            _ => Mode::Operational,
        }
    }
}

#[derive(Serialize, Deserialize, Clone)]
pub struct ModuleState {
    pub format: String,
    pub esn: String,
    /// Module number as tools address it (`-m 1`).
    #[serde(default = "one")]
    pub number: u32,
    pub mode: String,
    pub firmware: String,
    /// The module's own key KM0 (base64); regenerated when the module is initialized.
    #[serde(default)]
    pub km0: String,
    /// The Security World's module key as programmed into this module (base64); empty if none.
    #[serde(default)]
    pub km: String,
    /// hkm of the world programmed into this module; empty if none.
    #[serde(default)]
    pub world_hkm: String,
    /// Hash of the module's long-term signing key (emulated).
    #[serde(default)]
    pub hkml: String,
    /// False for the implicit module of a fresh data directory until something saves it.
    #[serde(skip)]
    pub on_disk: bool,
}

fn one() -> u32 {
    1
}

impl ModuleState {
    pub fn mode(&self) -> Mode {
        Mode::parse(&self.mode)
    }

    pub fn set_mode(&mut self, m: Mode) {
        self.mode = m.as_str().into();
    }

    pub fn state_rel(&self) -> String {
        format!("modules/{}/state.json", self.esn)
    }

    /// The world key programmed into this module, if any.
    pub fn km(&self) -> Option<SecretKey32> {
        let raw = Zeroizing::new(B64.decode(&self.km).ok()?);
        if raw.len() != 32 {
            return None;
        }
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(&raw);
        Some(k)
    }

    pub fn program_world(&mut self, km: &SecretKey32, hkm: &str) {
        self.km = B64.encode(&km[..]);
        self.world_hkm = hkm.to_string();
    }

    /// Whether any Security World is programmed into this module.
    pub fn holds_any_world(&self) -> bool {
        !self.world_hkm.is_empty()
    }

    /// Whether this module holds the world with this hkm.
    pub fn has_world(&self, hkm: &str) -> bool {
        !self.world_hkm.is_empty() && self.world_hkm == hkm && self.km().is_some()
    }

    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec_pretty(self).unwrap_or_default())
    }

    pub fn save(&mut self, txn: &mut Txn<'_>) -> AdminResult<()> {
        txn.write_emu(&self.state_rel(), &self.to_json())?;
        self.on_disk = true;
        Ok(())
    }

    /// A module as it leaves the factory.
    pub fn factory(store: &Store, number: u32) -> AdminResult<ModuleState> {
        let km0 = random_key()?;
        let esn = derived_esn(store, number);
        Ok(ModuleState {
            format: STATE_FORMAT.into(),
            hkml: hash_hex(&[esn.as_bytes(), b"emu-kml"]),
            esn,
            number,
            mode: Mode::Operational.as_str().into(),
            firmware: FIRMWARE.into(),
            km0: B64.encode(&km0[..]),
            km: String::new(),
            world_hkm: String::new(),
            on_disk: false,
        })
    }
}

/// `XXXX-XXXX-XXXX` (hex, as nShield ESNs look), a function of the data directory and the
/// module number.
pub fn derived_esn(store: &Store, number: u32) -> String {
    let root = std::fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    let h = hash_hex(&[root.as_os_str().as_encoded_bytes(), &number.to_le_bytes(), b"emu-esn"]).to_uppercase();
    format!("{}-{}-{}", &h[0..4], &h[4..8], &h[8..12])
}

/// Every module, by number. A data directory without any shows its implicit factory module 1.
pub fn list(store: &Store) -> AdminResult<Vec<ModuleState>> {
    let dir = store.emu().join("modules");
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let p = e.path().join("state.json");
            let Ok(raw) = std::fs::read(&p) else { continue };
            let Ok(mut m) = serde_json::from_slice::<ModuleState>(&raw) else {
                return fail(
                    format!("module state {} is damaged", p.display()),
                    "restore it from a backup of the data directory",
                );
            };
            m.on_disk = true;
            out.push(m);
        }
    }
    out.sort_by_key(|m| m.number);
    if out.is_empty() {
        out.push(ModuleState::factory(store, 1)?);
    }
    Ok(out)
}

/// Module `number`, or an error naming the modules there are.
pub fn get(store: &Store, number: u32) -> AdminResult<ModuleState> {
    let all = list(store)?;
    let n = all.len();
    all.into_iter().find(|m| m.number == number).map(Ok).unwrap_or_else(|| {
        fail(
            format!("there is no module #{number} (this emulator has {n} module{})", if n == 1 { "" } else { "s" }),
            "use -m 1, or plug in another emulated module with `shieldhsm add-module`",
        )
    })
}

/// Plugs in one more emulated module (number = highest + 1), in factory state.
pub fn add(store: &Store) -> AdminResult<ModuleState> {
    let lock = store.lock()?;
    let mut all = list(store)?;
    let mut txn = Txn::new(&lock);
    for m in all.iter_mut().filter(|m| !m.on_disk) {
        m.save(&mut txn)?;
    }
    let number = all.iter().map(|m| m.number).max().unwrap_or(0) + 1;
    let mut m = ModuleState::factory(store, number)?;
    m.save(&mut txn)?;
    txn.commit();
    Ok(m)
}

/// Sets a module's mode switch (`hsm-mode`). Returns the module as it now is.
pub fn set_mode(store: &Store, number: u32, mode: Mode) -> AdminResult<ModuleState> {
    let lock = store.lock()?;
    let mut m = get(store, number)?;
    if m.mode() == mode && m.on_disk {
        return Ok(m);
    }
    // From O to I a module is pre-initialisation until new-world programs it; a module with a
    // world keeps it (the emulator does not erase on mode change; `new-world -l` reprograms).
    m.set_mode(mode);
    let mut txn = Txn::new(&lock);
    m.save(&mut txn)?;
    txn.commit();
    // A loaded PKCS#11 library learns of the new mode from the generation counter.
    lock.bump();
    Ok(m)
}

/// `new-world --initialize`'s mode rule. A module that holds no world (fresh from the factory,
/// or erased) is ready whatever its switch says: `new-world` makes the mode change itself, as
/// the seed expects, and the caller says so. A module that holds a world must be put into
/// initialisation mode first, so an operational world is never replaced by accident.
/// Returns whether the mode was changed on the caller's behalf.
pub fn ready_for_new_world(m: &ModuleState) -> AdminResult<bool> {
    if !m.holds_any_world() && m.mode() == Mode::Operational {
        return Ok(true);
    }
    require_mode(m, &[Mode::PreInit, Mode::Init], "new-world")?;
    Ok(false)
}

/// Requires a module mode for an operation, with the command that fixes it.
pub fn require_mode(m: &ModuleState, allowed: &[Mode], doing: &str) -> AdminResult<()> {
    if allowed.contains(&m.mode()) {
        return Ok(());
    }
    let (want, letter) =
        if allowed.contains(&Mode::Operational) { ("operational", "O") } else { ("pre-initialisation", "I") };
    fail(
        format!("module #{} ({}) is in {} mode; {doing} needs {want} mode", m.number, m.esn, m.mode().describe()),
        format!("run `hsm-mode -m {} {letter}` first", m.number),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_directory_has_one_stable_module() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let a = list(&st).unwrap();
        let b = list(&st).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].esn, b[0].esn, "ESN is stable before anything is written");
        assert!(!a[0].on_disk);
        let esn = &a[0].esn;
        assert_eq!(esn.len(), 14);
        assert!(esn.chars().enumerate().all(|(i, c)| if i == 4 || i == 9 { c == '-' } else { c.is_ascii_hexdigit() }));
        assert_eq!(a[0].mode(), Mode::Operational);
        assert!(!st.emu().join("modules").exists(), "looking writes nothing");

        let m = set_mode(&st, 1, Mode::PreInit).unwrap();
        assert_eq!(m.esn, a[0].esn);
        assert_eq!(get(&st, 1).unwrap().mode(), Mode::PreInit);
        assert!(get(&st, 2).is_err());
        let m2 = add(&st).unwrap();
        assert_eq!(m2.number, 2);
        assert_ne!(m2.esn, m.esn);
        assert_eq!(list(&st).unwrap().len(), 2);
        let e = require_mode(&m2, &[Mode::PreInit, Mode::Init], "new-world").unwrap_err();
        assert!(e.todo.contains("hsm-mode -m 2 I"), "{e}");
    }
}
