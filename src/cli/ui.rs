//! How the tool talks to a person: passphrases from `SHIELDHSM_PASSPHRASE_FILE` (or
//! `--passphrase-file`; one per line, used in the order they are asked for) or else from the
//! terminal without echo; a spinner on stderr while slow work runs, only when stderr is a
//! terminal.

use shieldhsm::module::admin::{AdminError, AdminResult, Interaction};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use zeroize::Zeroizing;

pub const PASSPHRASE_ENV: &str = "SHIELDHSM_PASSPHRASE_FILE";

struct PassFile {
    path: PathBuf,
    lines: VecDeque<Zeroizing<String>>,
    total: usize,
}

pub struct Ui {
    file: Option<PassFile>,
    spinner: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Ui {
    /// Reads the passphrase file named by `--passphrase-file` or the environment, if any.
    pub fn new(passphrase_file: Option<&str>) -> AdminResult<Ui> {
        let path = passphrase_file
            .map(PathBuf::from)
            .or_else(|| std::env::var_os(PASSPHRASE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from));
        let file = match path {
            None => None,
            Some(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                    AdminError::new(
                        format!("cannot read the passphrase file {} ({e})", path.display()),
                        format!("check {PASSPHRASE_ENV} / --passphrase-file"),
                    )
                })?);
                let lines: VecDeque<Zeroizing<String>> =
                    text.lines().map(|l| Zeroizing::new(l.strip_suffix('\r').unwrap_or(l).to_string())).collect();
                Some(PassFile { path, total: lines.len(), lines })
            }
        };
        Ok(Ui { file, spinner: None })
    }

    fn next_from_file(&mut self, prompt: &str) -> Option<AdminResult<Zeroizing<String>>> {
        let f = self.file.as_mut()?;
        Some(f.lines.pop_front().ok_or_else(|| {
            AdminError::new(
                format!(
                    "the passphrase file {} has no passphrase left for {prompt} (it has {} line{})",
                    f.path.display(),
                    f.total,
                    if f.total == 1 { "" } else { "s" }
                ),
                "put one passphrase per line, in the order cards and softcards are asked for",
            )
        }))
    }

    fn tty(&mut self, prompt: &str) -> AdminResult<Zeroizing<String>> {
        self.busy_end();
        let no_tty = || {
            AdminError::new(
                "no terminal to ask for a passphrase on",
                format!("set {PASSPHRASE_ENV} to a file with one passphrase per line"),
            )
        };
        // Fail before printing anything when there is no terminal (a script, CI).
        std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").map_err(|_| no_tty())?;
        rpassword::prompt_password(prompt).map(Zeroizing::new).map_err(|_| no_tty())
    }
}

impl Interaction for Ui {
    fn passphrase(&mut self, prompt: &str) -> AdminResult<Zeroizing<String>> {
        if let Some(r) = self.next_from_file(prompt) {
            return r;
        }
        self.tty(&format!("Passphrase for {prompt}: "))
    }

    fn new_passphrase(&mut self, prompt: &str) -> AdminResult<Zeroizing<String>> {
        if let Some(r) = self.next_from_file(prompt) {
            return r;
        }
        for _ in 0..3 {
            let a = self.tty(&format!("New passphrase for {prompt}: "))?;
            let b = self.tty("Confirm passphrase: ")?;
            if a == b {
                return Ok(a);
            }
            eprintln!("The passphrases differ; try again.");
        }
        Err(AdminError::new("the passphrases did not match three times", "run the command again"))
    }

    fn busy_start(&mut self, what: &str) {
        self.busy_end();
        let err = std::io::stderr();
        if !err.is_terminal() {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let what = what.to_string();
        let h = std::thread::spawn(move || {
            let frames = ['|', '/', '-', '\\'];
            let mut i = 0;
            while !s2.load(Ordering::Relaxed) {
                eprint!("\r{what} {} ", frames[i % 4]);
                let _ = std::io::stderr().flush();
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(120));
            }
            eprint!("\r{}\r", " ".repeat(what.len() + 3));
            let _ = std::io::stderr().flush();
        });
        self.spinner = Some((stop, h));
    }

    fn busy_end(&mut self) {
        if let Some((stop, h)) = self.spinner.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = h.join();
        }
    }

    fn info(&mut self, line: &str) {
        let _ = writeln!(std::io::stdout(), "{line}");
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        self.busy_end();
    }
}
