//! An attack search on the side doors (issue #19): random sequences of what an attacker with the
//! library, write access to `local/` and no passphrase can do, between an administrator's
//! legitimate steps, checking after each step that no module key has left to the attacker and
//! that no card passphrase has been confirmed to it.
//!
//! The world: the seed's toolset (region EU), an ACS of 1/2 whose first card has a weak
//! passphrase (word 27 of the attacker's 40-word dictionary, which it tries in order), the
//! seed's module key `simple contosokey`, and an Operator Card Set `ops` (1/1) whose passphrase
//! is word 31. The attacker's moves:
//! - the vendor interface: `SHSM_ImportKek` of its own KEK under its own name, a vendor package
//!   name or Azure's default; `SHSM_ReduceAclForTransfer` with its next guess, naming any of
//!   those; `SHSM_ExportByok` to any of them (a leak: a package its own private key opens);
//! - the card reader: insert, remove, and `card-reader unlock -c ops -n 1` with its next guess
//!   (a leak: the unlock accepts a guess, confirming the passphrase);
//! - files of `local/`: a registered KEK file copied under another name, a KEK file's `source`
//!   or `region` edited, the world file's quorum edited, any file put back as it was at the start
//!   (a rollback), a registered vendor KEK deleted.
//!
//! The administrator, once per sequence at a random step, runs the seed's `-ModifyAcls` with the
//! right passphrase, from the toolset's directory or from one without its files.
//!
//! Budget: `SHIELDHSM_SIDE_SEQUENCES` (default 6) sequences of `SHIELDHSM_SIDE_DEPTH` (default 40)
//! steps from `SHIELDHSM_SIDE_SEED`. With the library as built, nothing leaks. With a library
//! built with the `insecure-no-passphrase-limit` feature (the counters relaxed: the test builds
//! it into `target/relaxed`), the same search finds case 1: the ACS passphrase guessed online,
//! then the key exported to the attacker.

#[macro_use]
mod common;
use common::search::{env_num, Rng};
use common::*;
use cryptoki_sys::*;
use shieldhsm::abi::vendor::SHSM_FUNCTION_LIST;
use std::ffi::{c_char, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::null_mut;

const DICTIONARY: [&str; 40] = [
    "password",
    "123456",
    "qwerty",
    "letmein",
    "dragon",
    "monkey",
    "football",
    "shadow",
    "master",
    "sunshine",
    "princess",
    "welcome",
    "trustno1",
    "baseball",
    "iloveyou",
    "superman",
    "batman",
    "starwars",
    "whatever",
    "freedom",
    "charlie",
    "michael",
    "jennifer",
    "hunter2",
    "ranger",
    "buster",
    "thomas",
    "contoso-admin",
    "tigger",
    "robert",
    "soccer",
    "operator1",
    "hockey",
    "killer",
    "george",
    "andrew",
    "pepper",
    "summer",
    "ginger",
    "joshua",
];
const ACS_WORD: usize = 27;
const OCS_WORD: usize = 31;
const _: () = assert!(OCS_WORD < DICTIONARY.len() && ACS_WORD < DICTIONARY.len());
const KEK_NAMES: [&str; 3] = ["evil", "BYOK-KEK-pkg-EU-1", "KEKforBYOK"];
const EVIL_KID: &str = "https://evil.vault.azure.net/keys/evil/0123456789abcdef0123456789abcdef";
const SEED_MODIFY_ACLS: [&str; 10] = [
    "KeyTransferRemote",
    "-ModifyAcls",
    "-KeyAppName",
    "simple",
    "-KeyIdentifier",
    "contosokey",
    "-ExchangeKeyPackage",
    "BYOK-KEK-pkg-EU-1",
    "-NewSecurityWorldPackage",
    "BYOK-SecurityWorld-pkg-EU-1",
];

/// The library and tool under attack: as built, or the relaxed build.
struct Build {
    so: PathBuf,
    tool: PathBuf,
}

impl Build {
    fn as_built() -> Build {
        Build { so: built_module(), tool: PathBuf::from(env!("CARGO_BIN_EXE_shieldhsm")) }
    }

    /// The library and tool built with `insecure-no-passphrase-limit`, into `target/relaxed`.
    fn relaxed() -> Build {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("target/relaxed");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--release", "--features", "insecure-no-passphrase-limit", "--target-dir"])
            .arg(&dir)
            .current_dir(root)
            .output()
            .unwrap();
        assert!(out.status.success(), "relaxed build failed: {}", String::from_utf8_lossy(&out.stderr));
        Build { so: dir.join("release/libshieldhsm.so"), tool: dir.join("release/shieldhsm") }
    }
}

/// One sequence's world and the attacker's state.
struct Attack<'b> {
    build: &'b Build,
    dir: tempfile::TempDir,
    raw: Raw,
    kek_private: Vec<u8>,
    kek_pem: Vec<u8>,
    /// `local/` files as they were at the start, for rollbacks.
    start: Vec<(String, Vec<u8>)>,
    acs_guess: usize,
    ocs_guess: usize,
    admin_done: bool,
    /// The attacker's copy of a file as it was before its last edit (absent: `None`), put back
    /// two steps later: an edit that only breaks the world is not kept.
    undo: Option<(PathBuf, Option<Vec<u8>>, u32)>,
}

impl<'b> Attack<'b> {
    fn kmdata(&self) -> PathBuf {
        self.dir.path().join("kmdata")
    }
    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Runs the tool in `cwd` with `pass` in a passphrase file; returns whether it succeeded.
    fn tool(&self, cwd: &Path, args: &[&str], pass: &[&str]) -> bool {
        let pf = self.dir.path().join("pass");
        std::fs::write(&pf, pass.iter().map(|p| format!("{p}\n")).collect::<String>()).unwrap();
        let out = Command::new(&self.build.tool)
            .args(args)
            .current_dir(cwd)
            .env("SHIELDHSM_KMDATA", self.kmdata())
            .env("SHIELDHSM_PASSPHRASE_FILE", &pf)
            .env_remove("NFAST_KMDATA")
            .output()
            .unwrap();
        out.status.success()
    }

    fn new(build: &'b Build) -> Attack<'b> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let kmdata = dir.path().join("kmdata");
        let env = env_lock();
        let raw = Raw::load_from(&build.so, tempfile::tempdir().unwrap(), &kmdata);
        assert_eq!(call!(raw, C_Initialize, null_mut()), CKR_OK);
        drop(env);
        let (private, spki) = shieldhsm::byok::kek::generate(2048).unwrap();
        let mut a = Attack {
            build,
            dir,
            raw,
            kek_private: private.to_vec(),
            kek_pem: shieldhsm::mech::asn1::pem_encode("PUBLIC KEY", &spki).into_bytes(),
            start: Vec::new(),
            acs_guess: 0,
            ocs_guess: 0,
            admin_done: false,
            undo: None,
        };
        let w = a.work();
        assert!(a.tool(&w, &["byok-toolset", "--region", "EU"], &[]));
        let nw = ["new-world", "--initialize", "--module=1", "--acs-quorum=1/2", "--no-recovery"];
        assert!(a.tool(&w, &nw, &[DICTIONARY[ACS_WORD], "a-strong-second-card-passphrase"]));
        let gen = "--generate simple type=RSA size=2048 protect=module ident=contosokey plainname=contosokey";
        let mut args = vec!["generatekey"];
        args.extend(gen.split(' '));
        assert!(a.tool(&w, &args, &[]));
        assert!(a.tool(&w, &["createocs", "-m1", "-Q", "1/1", "-N", "ops"], &[DICTIONARY[OCS_WORD]]));
        // The vendor KEK, registered by the administrator from the toolset's signed package (so
        // the attacker can copy, edit, delete and roll back its file).
        let mut signed = std::fs::read(w.join("BYOK-KEK-pkg-EU-1")).unwrap();
        let f = a.vendor().SHSM_ImportKek.unwrap();
        let rv = unsafe {
            f(c"BYOK-KEK-pkg-EU-1".as_ptr(), signed.as_mut_ptr(), signed.len() as CK_ULONG, std::ptr::null())
        };
        assert_eq!(rv, CKR_OK);
        a.start = a.local_files();
        a
    }

    fn vendor(&self) -> &'static SHSM_FUNCTION_LIST {
        vendor(&self.raw)
    }

    fn local_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.kmdata().join("local"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    }

    fn import_kek(&self, name: &str) {
        let (name, kid) = (CString::new(name).unwrap(), CString::new(EVIL_KID).unwrap());
        let mut pem = self.kek_pem.clone();
        let f = self.vendor().SHSM_ImportKek.unwrap();
        unsafe { f(name.as_ptr(), pem.as_mut_ptr(), pem.len() as CK_ULONG, kid.as_ptr()) };
    }

    /// `Some(what)` when the quorum accepts the attacker's guess: the passphrase is confirmed.
    fn reduce(&mut self, kek: &str) -> Option<String> {
        let word = DICTIONARY[self.acs_guess % DICTIONARY.len()];
        let guess = CString::new(word).unwrap();
        let kek = CString::new(kek).unwrap();
        let ptrs: [*const c_char; 1] = [guess.as_ptr()];
        let f = self.vendor().SHSM_ReduceAclForTransfer.unwrap();
        let rv = unsafe { f(c"simple".as_ptr(), c"contosokey".as_ptr(), kek.as_ptr(), ptrs.as_ptr(), 1) };
        if rv == CKR_OK {
            return Some(format!("case 1: the ACS quorum accepted guess {} ({word})", self.acs_guess + 1));
        }
        // The guess was tried only if the refusal is the quorum's; else the attacker keeps it.
        let why = {
            let mut buf = vec![0u8; 1024];
            let mut len = buf.len() as CK_ULONG;
            unsafe { self.vendor().SHSM_LastError.unwrap()(buf.as_mut_ptr(), &mut len) };
            String::from_utf8_lossy(&buf[..len as usize]).into_owned()
        };
        if why.contains("quorum failed") {
            self.acs_guess += 1;
        }
        None
    }

    /// `Some(what)` when the package the attacker receives opens under its own KEK.
    fn export(&self, kek: &str) -> Option<String> {
        let kek = CString::new(kek).unwrap();
        let f = self.vendor().SHSM_ExportByok.unwrap();
        let mut len: CK_ULONG = 0;
        if unsafe { f(c"contosokey".as_ptr(), kek.as_ptr(), null_mut(), &mut len) } != CKR_OK {
            return None;
        }
        let mut out = vec![0u8; len as usize];
        if unsafe { f(c"contosokey".as_ptr(), kek.as_ptr(), out.as_mut_ptr(), &mut len) } != CKR_OK {
            return None;
        }
        shieldhsm::byok::transfer::verify(&out[..len as usize], &self.kek_private, None)
            .ok()
            .map(|v| format!("contosokey exported to the attacker's KEK ({:?})", v.kind))
    }

    /// Remembers `path` as it is now, to put it back later.
    fn keep(&mut self, path: PathBuf) {
        self.revert();
        let before = std::fs::read(&path).ok();
        self.undo = Some((path, before, 2));
    }

    fn revert(&mut self) {
        if let Some((path, before, _)) = self.undo.take() {
            match before {
                Some(b) => std::fs::write(&path, b).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }

    fn edit_local(&mut self, rng: &mut Rng) {
        let local = self.kmdata().join("local");
        match rng.below(5) {
            0 => {
                // A registered KEK file copied under another registered name.
                let from = local.join(format!("kekpkg_{}", KEK_NAMES[rng.below(3)]));
                let to = local.join(format!("kekpkg_{}", KEK_NAMES[rng.below(3)]));
                self.keep(to.clone());
                let _ = std::fs::copy(from, to);
            }
            1 => {
                let f = local.join(format!("kekpkg_{}", KEK_NAMES[rng.below(3)]));
                self.keep(f.clone());
                edit_if_json(&f, |v| {
                    v["source"] = serde_json::json!("emulated-vendor");
                    v["region"] = serde_json::json!("EU");
                });
            }
            2 => {
                self.keep(local.join("world"));
                edit_if_json(&local.join("world"), |v| {
                    v["acs_k"] = serde_json::json!(0);
                    v["implicit"] = serde_json::json!(true);
                })
            }
            3 => {
                let (name, data) = &self.start[rng.below(self.start.len())];
                std::fs::write(local.join(name), data).unwrap();
            }
            _ => {
                self.keep(local.join("kekpkg_BYOK-KEK-pkg-EU-1"));
                let _ = std::fs::remove_file(local.join("kekpkg_BYOK-KEK-pkg-EU-1"));
            }
        }
    }

    fn reader(&mut self, rng: &mut Rng) -> Option<String> {
        let w = self.work();
        match rng.below(3) {
            0 => {
                self.tool(&w, &["card-reader", "insert", "-c", "ops", "-n", "1"], &[]);
                None
            }
            1 => {
                self.tool(&w, &["card-reader", "remove"], &[]);
                None
            }
            _ => {
                let guess = DICTIONARY[self.ocs_guess % DICTIONARY.len()];
                self.ocs_guess += 1;
                let ok = self.tool(&w, &["card-reader", "unlock", "-c", "ops", "-n", "1"], &[guess]);
                ok.then(|| format!("card-reader unlock accepted guess {} ({guess})", self.ocs_guess))
            }
        }
    }

    fn administrator(&mut self, rng: &mut Rng) {
        self.admin_done = true;
        let cwd = if rng.below(2) == 0 { self.work() } else { self.dir.path().join("empty") };
        self.tool(&cwd, &SEED_MODIFY_ACLS, &[DICTIONARY[ACS_WORD]]);
    }

    /// One step; `Some(leak)` if it gave the attacker what policy forbids.
    fn step(&mut self, rng: &mut Rng) -> Option<String> {
        if let Some((_, _, left)) = &mut self.undo {
            *left -= 1;
            if *left == 0 {
                self.revert();
            }
        }
        match rng.below(20) {
            0..=6 => self.reduce(KEK_NAMES[rng.below(3)]),
            7..=8 => {
                self.import_kek(KEK_NAMES[rng.below(3)]);
                None
            }
            9..=11 => self.export(KEK_NAMES[rng.below(3)]),
            12..=14 => {
                self.edit_local(rng);
                None
            }
            15..=17 => self.reader(rng),
            _ if !self.admin_done => {
                self.administrator(rng);
                None
            }
            _ => self.export(KEK_NAMES[rng.below(3)]),
        }
    }
}

fn edit_if_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    if path.exists() {
        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(path).unwrap()) {
            f(&mut v);
            std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        }
    }
}

/// Runs the search; the first leak found and how many steps ran.
fn search(build: &Build, sequences: u64, depth: u64, seed: u64) -> (Option<String>, u64) {
    let mut rng = Rng(seed | 1);
    let mut steps = 0;
    for sequence in 0..sequences {
        let mut a = Attack::new(build);
        for d in 0..depth {
            steps += 1;
            if let Some(leak) = a.step(&mut rng) {
                return (Some(format!("sequence {sequence}, step {d}: {leak}")), steps);
            }
        }
        assert_eq!(call!(a.raw, C_Finalize, null_mut()), CKR_OK);
    }
    (None, steps)
}

#[test]
fn no_side_door_sequence_leaks_a_key_or_a_passphrase() {
    let (seqs, depth) = (env_num("SHIELDHSM_SIDE_SEQUENCES", 6), env_num("SHIELDHSM_SIDE_DEPTH", 40));
    let seed = env_num("SHIELDHSM_SIDE_SEED", 0x005e_ed19);
    let (leak, steps) = search(&Build::as_built(), seqs, depth, seed);
    assert_eq!(leak, None, "after {steps} steps");
    eprintln!("side-door search: {steps} steps, {seqs} sequences, no leak");
}

/// The search has teeth: with the passphrase counters relaxed (a test build), the same moves
/// find case 1, the ACS passphrase guessed online through the vendor interface, and then the
/// module key exported to the attacker.
#[test]
fn with_the_counters_relaxed_the_search_finds_case_1() {
    let relaxed = Build::relaxed();
    let seed = env_num("SHIELDHSM_SIDE_SEED", 0x005e_ed19);
    let (leak, steps) = search(&relaxed, 6, 150, seed);
    let leak = leak.unwrap_or_else(|| panic!("no leak in {steps} steps"));
    assert!(leak.contains("case 1"), "{leak}");
    eprintln!("relaxed side-door search: {leak} after {steps} steps");
}
