//! The seed's eight steps, verbatim and in order (`examples/seed-steps.sh`), on an empty data
//! directory with nothing run first, through an NFAST_HOME laid out by `install-links
//! --nfast-home` and reached only through PATH, as the seed's `set PATH` line does. Then the
//! emulated Key Vault's refusals, `preload`'s contract, and the bundled `python`.

mod common;
use common::cli::{text, SEED_GENERATEKEY};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A fresh workstation: NFAST_HOME, an empty NFAST_KMDATA, a scratch directory, passphrases.
struct Workstation {
    dir: tempfile::TempDir,
}

impl Workstation {
    fn new() -> Workstation {
        let ws = Workstation { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir(ws.work()).unwrap();
        std::fs::write(ws.dir.path().join("pass"), "acs-one\nacs-two\nacs-three\n").unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_shieldhsm"))
            .args(["install-links", "--nfast-home"])
            .arg(ws.home())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        ws
    }
    fn home(&self) -> PathBuf {
        self.dir.path().join("nfast")
    }
    fn kmdata(&self) -> PathBuf {
        self.dir.path().join("kmdata")
    }
    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    /// `program args` as the seed's shell runs it: tools found through PATH only.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let path = format!(
            "{}:{}:{}",
            std::env::var("PATH").unwrap_or_default(),
            self.home().join("bin").display(),
            self.home().join("python/bin").display()
        );
        Command::new(program)
            .args(args)
            .current_dir(self.work())
            .env("PATH", path)
            .env("NFAST_HOME", self.home())
            .env("NFAST_KMDATA", self.kmdata())
            .env_remove("SHIELDHSM_KMDATA")
            .env("SHIELDHSM_PASSPHRASE_FILE", self.dir.path().join("pass"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
    fn ok(&self, program: &str, args: &[&str]) -> String {
        let o = self.run(program, args);
        assert!(o.status.success(), "{program} {args:?}:\n{}{}", text(&o.stdout), text(&o.stderr));
        text(&o.stdout)
    }
    fn fails(&self, program: &str, args: &[&str]) -> String {
        let o = self.run(program, args);
        assert!(!o.status.success(), "{program} {args:?} should fail:\n{}", text(&o.stdout));
        text(&o.stderr)
    }
    /// Every key version the emulated vaults hold.
    fn vault_keys(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    walk(&e.path(), out);
                } else if e.path().parent().and_then(|p| p.parent()).is_some_and(|p| p.ends_with("keys")) {
                    out.push(e.path());
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.kmdata().join("emu/keyvault/vaults"), &mut v);
        v
    }
    /// Runs the seed's eight steps; returns what they printed.
    fn seed(&self) -> String {
        assert!(!self.kmdata().exists(), "the seed starts on an empty data directory");
        self.ok("bash", &[&format!("{REPO}/examples/seed-steps.sh")])
    }
}

/// The command lines of `examples/seed-steps.sh` (everything after `set -x`).
fn seed_lines() -> Vec<String> {
    let s = std::fs::read_to_string(format!("{REPO}/examples/seed-steps.sh")).unwrap();
    s.lines().skip_while(|l| *l != "set -x").skip(1).filter(|l| !l.trim().is_empty()).map(String::from).collect()
}

#[test]
fn the_seed_runs_verbatim_in_order_on_an_empty_data_directory() {
    let lines = seed_lines();
    assert_eq!(lines.len(), 9, "eight steps, step 6 being two commands: {lines:?}");
    assert!(lines[1].starts_with("new-world --initialize"), "nothing before new-world but the toolset: {lines:?}");
    let ws = Workstation::new();
    let out = ws.seed();
    // Step 2: a fresh module needs no hsm-mode, and is operational afterwards.
    assert!(out.contains("new-world put it into pre-initialisation mode itself"), "{out}");
    assert!(out.contains("back in operational mode"), "{out}");
    // Step 3: the toolset's script, run by the bundled python.
    assert!(out.contains("KEK package BYOK-KEK-pkg-EU-1: region EU"), "{out}");
    // Step 6: the transfer copy's ACL allows only export wrapped to the KEK.
    assert!(out.contains("Key xferacld contosokey (module)"), "{out}");
    assert!(out.contains("Action: ExportWrapped: under KEK sha256"), "{out}");
    assert!(out.contains("AppName xferacld Ident contosokey") && out.contains("<sensitive: not shown>"), "{out}");
    // Step 7 and 8: the package, imported by the emulated Key Vault.
    assert!(ws.work().join("KeyTransferPackage-ContosoFirstHSMkey.byok").is_file());
    let id = out.lines().find_map(|l| l.strip_prefix("Id             : ")).expect("the key's kid");
    let version = id.strip_prefix("https://contosokeyvaulthsm.vault.azure.net/keys/ContosoFirstHSMkey/").expect(id);
    assert!(version.len() == 32 && version.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert!(out.contains("Key Type       : RSA-HSM"), "{out}");
    assert_eq!(ws.vault_keys().len(), 1);
    // After the seed, contosokey still signs through the C ABI, as examples/run-demo does. The
    // transfer copy has its own label and may only be exported; pkcs11-tool 0.23's --sign takes
    // the slot's first private key whatever --label says, and handles follow file names
    // (key_simple_ before key_xferacld_) in every process, so the choice is the same every run.
    std::fs::write(ws.work().join("msg.txt"), b"payment order 42").unwrap();
    let so = common::built_module();
    let sign = [
        "--module",
        so.to_str().unwrap(),
        "--slot",
        "0",
        "--sign",
        "-m",
        "SHA256-RSA-PKCS",
        "--label",
        "contosokey",
        "-i",
        "msg.txt",
        "-o",
        "msg.sig",
    ];
    ws.ok("pkcs11-tool", &sign);
    assert_eq!(std::fs::metadata(ws.work().join("msg.sig")).unwrap().len(), 256);
    // The module holding a world now refuses a second new-world until put into initialisation mode.
    let e = ws.fails("new-world", &["--initialize", "--module=1", "--acs-quorum=1/1"]);
    assert!(e.contains("hsm-mode -m 1 I"), "{e}");
}

#[test]
fn readme_shows_the_seed_exactly() {
    let readme = std::fs::read_to_string(format!("{REPO}/README.md")).unwrap();
    for l in seed_lines() {
        assert!(readme.lines().any(|r| r.trim() == l), "README.md lacks the seed line: {l}");
    }
}

#[test]
fn the_vault_refuses_packages_made_for_another_kek() {
    let ws = Workstation::new();
    ws.seed();
    let add = |file: &str| {
        let args = ["-VaultName", "ContosoKeyVaultHSM", "-Name", "Other", "-KeyFilePath", file, "-Destination", "HSM"];
        ws.run("Add-AzureKeyVaultKey", &args)
    };
    // A KEK the vault never had: a local test KEK, a second key transferred to it.
    let test_kid = "https://test.vault.azure.net/keys/KEKforBYOK/0123456789abcdef0123456789abcdef";
    ws.ok("byok-test-kek", &["--out", "other_priv.pem", "--pub", "other.pub.pem", "--kid", test_kid]);
    let gen = SEED_GENERATEKEY.replace("contosokey", "otherkey");
    ws.ok("generatekey", &gen.split_whitespace().collect::<Vec<_>>());
    let ktr = |action: &[&str]| {
        let mut a = action.to_vec();
        a.extend(["-KeyIdentifier", "otherkey", "-ExchangeKeyPackage", "other.pub.pem", "-KekId", test_kid]);
        ws.ok("KeyTransferRemote", &a);
    };
    ktr(&["-ModifyAcls", "-KeyAppName", "simple"]);
    ktr(&["-Package", "-KeyFriendlyName", "Other"]);
    let before = ws.vault_keys();
    let o = add("KeyTransferPackage-Other.byok");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is not a key of the emulated Azure Key Vault"), "{}", text(&o.stderr));

    // The same package relabelled with the vault's own kid: the kid matches, the layers do not open.
    let seed_pkg = std::fs::read_to_string(ws.work().join("KeyTransferPackage-ContosoFirstHSMkey.byok")).unwrap();
    let eu_kid = seed_pkg.split("\"kid\":").nth(1).and_then(|r| r.split('"').nth(1)).unwrap().to_string();
    let other = std::fs::read_to_string(ws.work().join("KeyTransferPackage-Other.byok")).unwrap();
    std::fs::write(ws.work().join("relabelled.byok"), other.replace(test_kid, &eu_kid)).unwrap();
    let o = add("relabelled.byok");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("does not open with the KEK it names"), "{}", text(&o.stderr));

    // Software keys cannot come from a .byok.
    let args = [
        "-VaultName",
        "ContosoKeyVaultHSM",
        "-Name",
        "X",
        "-KeyFilePath",
        "KeyTransferPackage-ContosoFirstHSMkey.byok",
        "-Destination",
        "Software",
    ];
    assert!(text(&ws.run("Add-AzureKeyVaultKey", &args).stderr).contains("imports only into HSM-protected keys"));
    assert_eq!(before, ws.vault_keys(), "a refusal stores nothing");

    // Positive control: the seed's package imports again, as a new version.
    let o = add("KeyTransferPackage-ContosoFirstHSMkey.byok");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(ws.vault_keys().len(), before.len() + 1);
}

#[test]
fn preload_names_the_loaded_key_and_cleans_up() {
    let ws = Workstation::new();
    ws.seed();
    // The command sees a tokens file naming the key, owner-only, with no key material in it.
    let shown = ws.ok(
        "preload",
        &[
            "-m",
            "1",
            "-A",
            "xferacld",
            "-K",
            "contosokey",
            "sh",
            "-c",
            "stat -c %a \"$NFAST_NFKM_TOKENSFILE\"; cat \"$NFAST_NFKM_TOKENSFILE\"; echo \"$NFAST_NFKM_TOKENSFILE\"",
        ],
    );
    let mut lines = shown.lines();
    assert_eq!(lines.next(), Some("600"));
    assert!(shown.contains("\"xferacld\"") && shown.contains("\"contosokey\""), "{shown}");
    assert!(!shown.contains("PRIVATE") && !shown.contains("km_sealed"), "{shown}");
    let file = shown.lines().last().unwrap();
    assert!(!Path::new(file).exists(), "the tokens file is removed when the command ends");
    // The command's status is preload's.
    let o = ws.run("preload", &["-A", "xferacld", "-K", "contosokey", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    // A key that is not there is not loaded, and the command does not run.
    let e = ws.fails("preload", &["-A", "xferacld", "-K", "nosuchkey", "sh", "-c", "echo ran"]);
    assert!(e.contains("there is no key xferacld nosuchkey"), "{e}");
    // aclprint outside preload needs its key named.
    let e = ws.fails("python", &[&format!("{}/python/examples/aclprint.py", ws.home().display())]);
    assert!(e.contains("give the key's application and ident"), "{e}");
}

#[test]
fn bundled_python_runs_nshield_scripts_and_hands_the_rest_to_python3() {
    let ws = Workstation::new();
    assert_eq!(ws.ok("python", &["-c", "print(6 * 7)"]).trim(), "42");
    // A script named like an nShield one must exist, as Python would insist.
    let o = ws.run("python", &["verifykeypackage.py", "-k", "a", "-w", "b"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("can't open file"), "{}", text(&o.stderr));
    // The scripts also run under any Python, handing over to the tool they stand for.
    let aclprint = ws.home().join("python/examples/aclprint.py");
    let o = ws.run("python3", &[aclprint.to_str().unwrap(), "--help"]);
    assert!(text(&o.stdout).contains("usage: aclprint"), "{}{}", text(&o.stdout), text(&o.stderr));
}
