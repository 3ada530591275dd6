//! What administrative operations (new-world, createocs, ppmk, generatekey...) share: an error a
//! person can act on, the way they ask a person for passphrases, and an all-or-nothing set of
//! file writes.

use super::store::{write_atomic, StoreLock};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A failure of an administrative operation: what went wrong and what to do about it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminError {
    pub what: String,
    pub todo: String,
}

impl AdminError {
    pub fn new(what: impl Into<String>, todo: impl Into<String>) -> Self {
        AdminError { what: what.into(), todo: todo.into() }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \u{2014} {}", self.what, self.todo)
    }
}

impl fmt::Debug for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for AdminError {}

/// A core error reaching a person: its reason when the failure site gave one (which file, which
/// check), with the return value's name; else the generic storage sentence.
impl From<crate::error::Error> for AdminError {
    fn from(e: crate::error::Error) -> Self {
        use cryptoki_sys::CKR_CANT_LOCK;
        let Some(why) = e.reason() else {
            return AdminError::new(
                format!("the data directory could not be read or written ({e})"),
                "check its permissions and free space (SHIELDHSM_KMDATA / NFAST_KMDATA)",
            );
        };
        let todo = match e.rv() {
            CKR_CANT_LOCK => "retry; if it persists, check the data directory's emu/lock",
            _ => {
                "check the data directory (SHIELDHSM_KMDATA / NFAST_KMDATA): its permissions and free space, \
                  or restore a damaged file from your backup"
            }
        };
        AdminError::new(format!("{why} ({})", crate::error::rv_name(e.rv())), todo)
    }
}

impl From<std::io::Error> for AdminError {
    fn from(e: std::io::Error) -> Self {
        AdminError::new(format!("file access failed ({e})"), "check the paths and their permissions")
    }
}

pub type AdminResult<T> = std::result::Result<T, AdminError>;

pub fn fail<T>(what: impl Into<String>, todo: impl Into<String>) -> AdminResult<T> {
    Err(AdminError::new(what, todo))
}

/// How an operation talks to the person running it: passphrases (from a terminal or a file),
/// progress of slow steps, and informational lines. Tests implement it with fixed answers.
pub trait Interaction {
    /// A passphrase for something that exists (a card being read, a softcard).
    fn passphrase(&mut self, prompt: &str) -> AdminResult<Zeroizing<String>>;
    /// A new passphrase (a card being written, a new softcard); terminals ask twice.
    fn new_passphrase(&mut self, prompt: &str) -> AdminResult<Zeroizing<String>> {
        self.passphrase(prompt)
    }
    /// A slow step starts (key generation); `busy_end` follows.
    fn busy_start(&mut self, _what: &str) {}
    fn busy_end(&mut self) {}
    /// A line for the person (card written, note about folded input...).
    fn info(&mut self, _line: &str) {}
}

/// Fixed answers, for tests and scripted use.
pub struct Scripted {
    pub answers: std::collections::VecDeque<String>,
    pub lines: Vec<String>,
}

impl Scripted {
    pub fn new(answers: &[&str]) -> Scripted {
        Scripted { answers: answers.iter().map(|s| s.to_string()).collect(), lines: Vec::new() }
    }
}

impl Interaction for Scripted {
    fn passphrase(&mut self, prompt: &str) -> AdminResult<Zeroizing<String>> {
        self.answers
            .pop_front()
            .map(Zeroizing::new)
            .ok_or_else(|| AdminError::new(format!("no passphrase for {prompt}"), "supply one more passphrase"))
    }
    fn info(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }
}

/// A set of file writes that either all happen or (as far as the file system allows) none:
/// on drop without [`Txn::commit`], every file written is restored to what it was before.
pub struct Txn<'a> {
    lock: &'a StoreLock<'a>,
    undo: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// Directories that did not exist before this transaction, deepest first when undone.
    new_dirs: Vec<PathBuf>,
    done: bool,
}

impl<'a> Txn<'a> {
    pub fn new(lock: &'a StoreLock<'a>) -> Txn<'a> {
        Txn { lock, undo: Vec::new(), new_dirs: Vec::new(), done: false }
    }

    fn remember(&mut self, path: &Path) {
        if !self.undo.iter().any(|(p, _)| p == path) {
            self.undo.push((path.to_path_buf(), std::fs::read(path).ok()));
        }
        let mut missing = Vec::new();
        let mut d = path.parent();
        while let Some(dir) = d {
            if dir.exists() {
                break;
            }
            missing.push(dir.to_path_buf());
            d = dir.parent();
        }
        // Outermost last, so undoing in reverse order removes the deepest first.
        for dir in missing.into_iter().rev() {
            if !self.new_dirs.contains(&dir) {
                self.new_dirs.push(dir);
            }
        }
    }

    /// `local/<name>`.
    pub fn write_local(&mut self, name: &str, data: &[u8]) -> AdminResult<()> {
        self.remember(&self.lock.store().local().join(name));
        Ok(self.lock.write(name, data)?)
    }

    /// `emu/<rel>`.
    pub fn write_emu(&mut self, rel: &str, data: &[u8]) -> AdminResult<()> {
        self.remember(&self.lock.store().emu().join(rel));
        Ok(self.lock.write_emu(rel, data)?)
    }

    /// Any directory (card files kept outside the data directory).
    pub fn write_in(&mut self, dir: &Path, name: &str, data: &[u8]) -> AdminResult<()> {
        self.remember(&dir.join(name));
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        Ok(write_atomic(dir, name, data)?)
    }

    pub fn remove_local(&mut self, name: &str) -> AdminResult<()> {
        self.remember(&self.lock.store().local().join(name));
        Ok(self.lock.remove(name)?)
    }

    pub fn commit(mut self) {
        self.done = true;
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        for (path, old) in self.undo.iter().rev() {
            match old {
                Some(bytes) => {
                    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
                        let _ = write_atomic(dir, name, bytes);
                    }
                }
                None => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        for dir in self.new_dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use cryptoki_sys::*;

    #[test]
    fn core_errors_carry_their_reason_to_the_person() {
        let plain = AdminError::from(Error::new(CKR_DEVICE_ERROR));
        assert!(plain.what.starts_with("the data directory could not be read or written (CKR_DEVICE_ERROR"));
        let why = AdminError::from(Error::with_reason(CKR_DEVICE_ERROR, "/k/local/world is not a regular file"));
        assert_eq!(why.what, "/k/local/world is not a regular file (CKR_DEVICE_ERROR)");
        assert!(why.todo.contains("permissions"));
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = AdminError::from(Error::from(io).context("cannot read /k/local/world"));
        assert_eq!(e.what, "cannot read /k/local/world: permission denied (CKR_DEVICE_ERROR)");
    }
}
