//! The `shieldhsm` tool as a user runs it: the built binary against a temporary data directory
//! (`kmdata/`) from a work directory (`work/`), with passphrases from SHIELDHSM_PASSPHRASE_FILE.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const SEED_NEW_WORLD: &str = "--initialize --cipher-suite=DLf1024s160mRijndael --module=1 --acs-quorum=2/3";
pub const SEED_GENERATEKEY: &str =
    "--generate simple type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp=";

pub struct Env {
    pub dir: tempfile::TempDir,
    /// Environment every command of this test gets (see [`Env::set_env`]).
    vars: std::cell::RefCell<Vec<(String, String)>>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        Env { dir, vars: Default::default() }
    }
    pub fn kmdata(&self) -> PathBuf {
        self.dir.path().join("kmdata")
    }
    pub fn local(&self, name: &str) -> PathBuf {
        self.kmdata().join("local").join(name)
    }
    /// The directory commands run in (where packages and .byok files land).
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    pub fn w(&self, name: &str) -> PathBuf {
        self.work().join(name)
    }

    /// Runs `program args` in `work/` with the data directory and a passphrase file of `pass`.
    pub fn exec(&self, program: &Path, args: &[&str], pass: &[&str]) -> Output {
        let pf = self.dir.path().join(format!("pass-{}", uniq()));
        std::fs::write(&pf, pass.iter().map(|p| format!("{p}\n")).collect::<String>()).unwrap();
        let out = Command::new(program)
            .args(args)
            .current_dir(self.work())
            .env("SHIELDHSM_KMDATA", self.kmdata())
            .env_remove("NFAST_KMDATA")
            .env("SHIELDHSM_PASSPHRASE_FILE", &pf)
            .envs(self.vars.borrow().iter().cloned())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        std::fs::remove_file(&pf).unwrap();
        out
    }

    /// Sets `name=value` for every later command of this test (not for the test process).
    #[allow(dead_code)] // not every test binary sets any
    pub fn set_env(&self, name: &str, value: &str) {
        self.vars.borrow_mut().push((name.into(), value.into()));
    }

    /// `shieldhsm <tool> <args...>` (args split on whitespace).
    pub fn run(&self, tool: &str, args: &str, pass: &[&str]) -> Output {
        let mut v = vec![tool];
        v.extend(args.split_whitespace());
        self.exec(Path::new(env!("CARGO_BIN_EXE_shieldhsm")), &v, pass)
    }

    pub fn ok(&self, tool: &str, args: &str, pass: &[&str]) -> String {
        let o = self.run(tool, args, pass);
        assert!(o.status.success(), "{tool} {args} failed:\n{}{}", text(&o.stdout), text(&o.stderr));
        text(&o.stdout)
    }

    /// A command that must fail with one `<tool>: error: … — …` line; returns that line.
    pub fn fails(&self, tool: &str, args: &str, pass: &[&str]) -> String {
        self.fails_with_stdout(tool, args, pass).0
    }

    /// As `fails`, also returning what the command printed on stdout.
    pub fn fails_with_stdout(&self, tool: &str, args: &str, pass: &[&str]) -> (String, String) {
        let o = self.run(tool, args, pass);
        assert_eq!(o.status.code(), Some(1), "{tool} {args} should fail:\n{}", text(&o.stdout));
        (one_error_line(tool, &o), text(&o.stdout))
    }

    /// A world made as in the seed (with fewer RSA keys when `recovery` is false).
    pub fn world(&self, quorum: &str, recovery: bool, pass: &[&str]) {
        let extra = if recovery { "" } else { " --no-recovery" };
        self.ok("new-world", &format!("--initialize --module=1 --acs-quorum={quorum}{extra}"), pass);
    }

    /// Every file and directory under the test's directory (data directory, work directory)
    /// with a hash of its content; but the module's counts of passphrase tries
    /// (`emu/cardfails`, `emu/counters`), which every refused passphrase must change.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, String>) {
            let Ok(rd) = std::fs::read_dir(dir) else { return };
            for e in rd.flatten() {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap().to_path_buf();
                if rel.starts_with("kmdata/emu/cardfails") || rel.starts_with("kmdata/emu/counters") {
                    continue;
                }
                if p.is_dir() {
                    out.insert(rel, "dir".into());
                    walk(&p, root, out);
                } else {
                    out.insert(rel, hex::encode(Sha256::digest(std::fs::read(&p).unwrap())));
                }
            }
        }
        let mut m = BTreeMap::new();
        walk(self.dir.path(), self.dir.path(), &mut m);
        m
    }

    /// The emulated vault's private KEK for a region (from byok-toolset).
    pub fn region_kek(&self, region: &str) -> PathBuf {
        self.kmdata().join("emu/keyvault").join(region).join("kek_priv.pem")
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn one_error_line(tool: &str, o: &Output) -> String {
    let err = text(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.contains(": note: ")).collect();
    assert_eq!(lines.len(), 1, "one error line expected, got:\n{err}");
    let l = lines[0];
    assert!(l.starts_with(&format!("{tool}: error: ")), "{l}");
    assert!(l.contains(" \u{2014} "), "the line says what to do: {l}");
    l.to_string()
}

pub fn uniq() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
