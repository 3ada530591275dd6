//! The kmdata directory on disk: atomic file writes, the cross-process lock, the generation
//! counter other processes watch, and the PIN/passphrase key derivation. The AEAD envelope the
//! secret files use is [`crate::object::envelope`].
//!
//! The crate's only `unsafe` outside `abi` and `mech::ffi` is here: `flock`, `geteuid` and
//! `kill(pid, 0)` through `libc`.
//!
//! Layout (nShield's, docs/nshield-emulation.md §2.4/§3.1): `local/` holds `world`,
//! `softcard_<HASH>`, `key_<APP>_<IDENT>` files; `emu/` holds what a real HSM keeps inside itself
//! (module state) and our bookkeeping (`lock`, `generation`).

use crate::error::{Context, Error, Result};
use crate::object::envelope::{SecretKey32, KEY_LEN};
use cryptoki_sys::*;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use once_cell::sync::OnceCell;
use zeroize::Zeroizing;

/// Where the data directory is: `$SHIELDHSM_KMDATA`, else `$NFAST_KMDATA`, else a per-user
/// default under `$XDG_DATA_HOME` or `~/.local/share` (the home directory from `$HOME`, else
/// from the password database), else `./shieldhsm/kmdata`.
pub fn default_dir() -> PathBuf {
    data_dir().unwrap_or_else(|| PathBuf::from("shieldhsm/kmdata"))
}

/// As [`default_dir`], but `None` when no data directory can be determined (no variable set and
/// no home directory): the library then never falls back to the current directory.
pub fn data_dir() -> Option<PathBuf> {
    for var in ["SHIELDHSM_KMDATA", "NFAST_KMDATA"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(v));
        }
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".local/share")))?;
    Some(base.join("shieldhsm/kmdata"))
}

/// `$HOME`, else this user's home directory in the password database (a service started with
/// an empty environment still finds its data); only an absolute path counts.
fn home_dir() -> Option<PathBuf> {
    // std's lookup does exactly this (getpwuid_r when HOME is unset); it was deprecated for
    // Windows' sake only, until Rust 1.86.
    #[allow(deprecated)]
    std::env::home_dir().filter(|p| p.is_absolute())
}

/// Where the inside of the emulated HSM lives: `$SHIELDHSM_EMU_DIR` (for example a directory
/// only the service account can read, or another volume), else `emu/` in the data directory.
/// Every process using the data directory must see the same value.
pub fn emu_dir(root: &Path) -> PathBuf {
    match std::env::var_os("SHIELDHSM_EMU_DIR").filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => root.join("emu"),
    }
}

pub struct Store {
    root: PathBuf,
    local: PathBuf,
    emu: PathBuf,
    /// False when no data directory could be determined: nothing is read and nothing created.
    available: bool,
    /// The lock file and the generation counter, opened when the directory is first used (a
    /// store opened with [`Store::open_lazy`] creates nothing until then).
    opened: OnceCell<Opened>,
    /// Set once [`Store::check_existing`] has passed on a directory that exists.
    permissions_checked: OnceCell<()>,
    /// `emu/destroyed` as last read, by file version: a sync after each store change costs a
    /// `stat`, not a re-read of up to a MiB of names.
    destroyed: parking_lot::Mutex<Option<(FileStamp, Arc<HashSet<String>>)>>,
    /// The same lock between this process's threads: `flock` excludes other processes only
    /// (every thread shares the one descriptor). Re-entrant, with the depth of nested locks,
    /// so an inner guard never releases the outer one's `flock`.
    threads: parking_lot::ReentrantMutex<std::cell::Cell<u32>>,
}

struct Opened {
    lock_file: File,
    generation: Generation,
}

/// What [`Store::generation`] reads while the data directory does not exist yet (never a value
/// [`Generation::bump`] writes).
const GENERATION_ABSENT: u64 = u64::MAX - 1;

impl Store {
    /// Opens (creating owner-only if needed) a data directory.
    pub fn open(root: &Path) -> Result<Store> {
        let st = Store::new(root, true);
        st.opened(true)?;
        Ok(st)
    }

    /// A store on `root` that creates nothing now: the directory is created (owner-only) at the
    /// first write ([`Store::lock`]), and read while it does not exist as an empty one. `None`
    /// (no data directory could be determined) reads as empty and refuses writes with
    /// `CKR_DEVICE_ERROR`. Nothing is checked now, so loading never fails: an existing
    /// directory others may write is refused at its first use (`CKR_DEVICE_ERROR`), as
    /// [`Store::open`] refuses it.
    pub fn open_lazy(root: Option<&Path>) -> Store {
        match root {
            Some(root) => Store::new(root, true),
            None => Store::new(Path::new("/nonexistent/shieldhsm/kmdata"), false),
        }
    }

    fn new(root: &Path, available: bool) -> Store {
        Store {
            root: root.to_path_buf(),
            local: root.join("local"),
            emu: emu_dir(root),
            available,
            opened: OnceCell::new(),
            permissions_checked: OnceCell::new(),
            destroyed: Default::default(),
            threads: parking_lot::ReentrantMutex::new(std::cell::Cell::new(0)),
        }
    }

    /// Whether there is a data directory at all (see [`Store::open_lazy`]).
    pub fn available(&self) -> bool {
        self.available
    }

    /// The permission check of [`check_permissions`] on the parts that exist, before the first
    /// read of a store opened lazily (once the directory exists, once per store).
    fn check_existing(&self) -> Result<()> {
        if self.permissions_checked.get().is_some() {
            return Ok(());
        }
        for (d, forbidden) in [(&self.root, 0o002), (&self.local, 0o002), (&self.emu, 0o007)] {
            if let Ok(md) = fs::symlink_metadata(d) {
                refuse_unsafe_dir(d, &md, forbidden)?;
            }
        }
        if self.root.is_dir() {
            let _ = self.permissions_checked.set(());
        }
        Ok(())
    }

    /// The lock file and counter. With `create`, makes the directories first; without, only
    /// opens a data directory that already exists (another process may have made it since).
    fn opened(&self, create: bool) -> Result<&Opened> {
        if let Some(o) = self.opened.get() {
            return Ok(o);
        }
        if !self.available {
            return Err(no_data_dir());
        }
        if !create && ![&self.root, &self.local, &self.emu].iter().all(|d| d.is_dir()) {
            return Err(Error::with_reason(
                CKR_DEVICE_ERROR,
                format!("the data directory {} does not exist yet", self.root.display()),
            ));
        }
        self.opened.get_or_try_init(|| {
            let (root, local, emu) = (&self.root, &self.local, &self.emu);
            for d in [root, local, emu] {
                if !d.exists() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(d)
                        .with_context(|| format!("cannot create {}", d.display()))?;
                }
            }
            check_permissions(root, local, emu)?;
            let lock_path = emu.join("lock");
            let lock_file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&lock_path)
                .with_context(|| format!("cannot open {}", lock_path.display()))?;
            let generation_path = emu.join("generation");
            let generation = Generation::open(&generation_path)
                .with_context(|| format!("cannot open {}", generation_path.display()))?;
            remove_orphan_temps(local);
            Ok(Opened { lock_file, generation })
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn local(&self) -> &Path {
        &self.local
    }
    pub fn emu(&self) -> PathBuf {
        self.emu.clone()
    }

    /// Takes the store-wide exclusive lock (flock) for a read-modify-write across processes.
    /// Released when the guard drops. Callers hold it only around file work, never crypto.
    /// The first lock creates the data directory (see [`Store::open_lazy`]).
    pub fn lock(&self) -> Result<StoreLock<'_>> {
        let opened = self.opened(true)?;
        let threads = self.threads.lock();
        if threads.get() == 0 {
            // SAFETY: flock on a file descriptor we own for the life of `self`.
            let rc = unsafe { libc::flock(opened.lock_file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                return Err(Error::with_reason(
                    CKR_CANT_LOCK,
                    format!("cannot lock {} ({e})", self.emu.join("lock").display()),
                ));
            }
        }
        threads.set(threads.get() + 1);
        Ok(StoreLock { store: self, opened, threads })
    }

    /// The change counter every process bumps after changing `local/` (a constant while the
    /// data directory does not exist).
    pub fn generation(&self) -> u64 {
        match self.opened(false) {
            Ok(o) => o.generation.get(),
            Err(_) => GENERATION_ABSENT,
        }
    }

    /// Lists `local/` names with a prefix, with what identifies a file version.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, FileStamp)>> {
        let mut out = Vec::new();
        if !self.available {
            return Ok(out);
        }
        self.check_existing()?;
        let rd = match fs::read_dir(&self.local) {
            // Not created yet: an empty store.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.opened.get().is_none() => return Ok(out),
            rd => rd.with_context(|| format!("cannot list {}", self.local.display()))?,
        };
        for e in rd {
            let e = e.with_context(|| format!("cannot list {}", self.local.display()))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(prefix) || name.ends_with(".tmp") {
                continue;
            }
            // Regular files only: a FIFO, socket, device or symlink named like a key is not one.
            if let Some(md) = e.metadata().ok().filter(|md| md.file_type().is_file()) {
                out.push((name.to_string(), FileStamp::of(&md)));
            }
        }
        // Name order, not the directory's: handles, and so C_FindObjects results, come out the
        // same in every process and on every file system.
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Reads `local/<name>`: only a regular file (no symlink, FIFO or device), owned by this user
    /// or shared through the directory's group, not writable by others, and at most
    /// [`MAX_FILE_LEN`] bytes. Anything else is `CKR_DEVICE_ERROR`, never a hang or a huge read.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        if !self.available {
            return Err(no_data_dir());
        }
        self.check_existing()?;
        read_checked(&self.local.join(name))
    }

    /// The current version stamp of `local/<name>` (the file itself, not a link's target).
    pub fn stamp(&self, name: &str) -> Result<FileStamp> {
        Ok(FileStamp::of(&fs::symlink_metadata(self.local.join(name))?))
    }

    /// The names of destroyed object files, as a set (cached while `emu/destroyed` is unchanged).
    pub fn destroyed_set(&self) -> Arc<HashSet<String>> {
        let path = self.emu.join(DESTROYED_FILE);
        let Ok(stamp) = fs::symlink_metadata(&path).map(|m| FileStamp::of(&m)) else {
            return Arc::default();
        };
        let mut cache = self.destroyed.lock();
        if let Some((seen, set)) = cache.as_ref() {
            if *seen == stamp {
                return set.clone();
            }
        }
        let set: Arc<HashSet<String>> = Arc::new(self.destroyed_list().into_iter().collect());
        *cache = Some((stamp, set.clone()));
        set
    }

    /// Names of destroyed object files (see [`StoreLock::record_destroyed`]), oldest first.
    pub fn destroyed_list(&self) -> Vec<String> {
        read_checked(&self.emu.join(DESTROYED_FILE))
            .map(|raw| String::from_utf8_lossy(&raw).lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.available && self.local.join(name).exists()
    }
}

const DESTROYED_FILE: &str = "destroyed";
/// How many destroyed names the module remembers (newest kept when the record is compacted).
pub const DESTROYED_KEEP: usize = 20_000;
const DESTROYED_COMPACT_AT: u64 = 1 << 20;

/// The largest file the store reads (the biggest legitimate one, an RSA-8192 key with its
/// attributes, is a few KiB).
pub const MAX_FILE_LEN: u64 = 1 << 20;

/// See [`Store::read`]. Every refusal is `CKR_DEVICE_ERROR` with a reason naming the file.
pub fn read_checked(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt as _};
    let cannot = || format!("cannot read {}", path.display());
    let refused = |why: &str| Error::with_reason(CKR_DEVICE_ERROR, format!("{} {why}", path.display()));
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .with_context(cannot)?;
    let md = f.metadata().with_context(cannot)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !md.file_type().is_file() {
        return Err(refused("is not a regular file"));
    }
    if md.len() > MAX_FILE_LEN {
        return Err(refused("is larger than any kmdata file (1 MiB)"));
    }
    if md.mode() & 0o002 != 0 {
        return Err(refused("is writable by every user (chmod o-w it)"));
    }
    if md.uid() != me && md.mode() & 0o070 == 0 {
        return Err(refused("belongs to another user and is not shared through its group"));
    }
    let mut buf = Vec::with_capacity(md.len() as usize);
    f.take(MAX_FILE_LEN + 1).read_to_end(&mut buf).with_context(cannot)?;
    if buf.len() as u64 > MAX_FILE_LEN {
        return Err(refused("is larger than any kmdata file (1 MiB)"));
    }
    Ok(buf)
}

/// No data directory could be determined (see [`Store::open_lazy`]).
fn no_data_dir() -> Error {
    Error::with_reason(CKR_DEVICE_ERROR, "no data directory: set SHIELDHSM_KMDATA (or HOME)")
}

/// Identifies one version of a file (rename-based writes change the inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub ino: u64,
    pub mtime_ns: i128,
    pub len: u64,
}

impl FileStamp {
    fn of(md: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            ino: md.ino(),
            mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
            len: md.len(),
        }
    }
}

/// Proof that the store lock is held; all writes go through it.
pub struct StoreLock<'a> {
    store: &'a Store,
    opened: &'a Opened,
    threads: parking_lot::ReentrantMutexGuard<'a, std::cell::Cell<u32>>,
}

impl StoreLock<'_> {
    /// The store this lock belongs to.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Writes `local/<name>` atomically: temp file, fsync, rename, fsync of the directory.
    /// A process killed at any point leaves either the old or the new file, never a torn one.
    pub fn write(&self, name: &str, data: &[u8]) -> Result<()> {
        write_atomic(&self.store.local, name, data)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        let path = self.store.local.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::from(e).context(format!("cannot remove {}", path.display()))),
        }
        sync_dir(&self.store.local)
    }

    /// Writes a file under `emu/` (module state) atomically.
    pub fn write_emu(&self, rel: &str, data: &[u8]) -> Result<()> {
        let path = self.store.emu().join(rel);
        let dir = path.parent().ok_or(Error::general())?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let name = path.file_name().and_then(|n| n.to_str()).ok_or(Error::general())?;
        write_atomic(dir, name, data)
    }

    /// Records, inside the module (`emu/destroyed`), that the object file `name` was destroyed:
    /// a copy of it put back into `local/` later is not served again. Names are random and never
    /// reused. The record keeps the newest [`DESTROYED_KEEP`] names.
    pub fn record_destroyed(&self, name: &str) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.store.emu().join(DESTROYED_FILE);
        if fs::symlink_metadata(&path).map(|m| m.len() > DESTROYED_COMPACT_AT).unwrap_or(false) {
            let all = self.store.destroyed_list();
            let keep = all[all.len().saturating_sub(DESTROYED_KEEP)..].join("\n") + "\n";
            self.write_emu(DESTROYED_FILE, keep.as_bytes())?;
        }
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        f.write_all(format!("{name}\n").as_bytes())?;
        f.sync_data()?;
        Ok(())
    }

    /// Announces a change of `local/` to every process using the store.
    pub fn bump(&self) -> u64 {
        self.opened.generation.bump()
    }
}

impl Drop for StoreLock<'_> {
    fn drop(&mut self) {
        let depth = self.threads.get().saturating_sub(1);
        self.threads.set(depth);
        if depth == 0 {
            // SAFETY: unlocking the descriptor locked in `Store::lock`.
            unsafe { libc::flock(self.opened.lock_file.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

/// Refuses a data directory others may write, and an HSM inside (`emu/`) others may read:
/// kmdata may be shared through its group, as nShield shares it; the module's secrets may not.
fn check_permissions(root: &Path, local: &Path, emu: &Path) -> Result<()> {
    for (d, forbidden) in [(root, 0o002), (local, 0o002), (emu, 0o007)] {
        let md = fs::symlink_metadata(d).with_context(|| format!("cannot read {}", d.display()))?;
        refuse_unsafe_dir(d, &md, forbidden)?;
    }
    Ok(())
}

/// `CKR_DEVICE_ERROR` when `d` is not a directory, or grants others a `forbidden` permission.
fn refuse_unsafe_dir(d: &Path, md: &fs::Metadata, forbidden: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let why = if !md.file_type().is_dir() {
        "is not a directory"
    } else if md.mode() & forbidden & 0o002 != 0 {
        "is writable by every user (chmod o-w it)"
    } else if md.mode() & forbidden != 0 {
        "is open to other users, and holds the module's secrets (chmod o-rwx it)"
    } else {
        return Ok(());
    };
    Err(Error::with_reason(CKR_DEVICE_ERROR, format!("{} {why}", d.display())))
}

/// Deletes `.<name>.<pid>.tmp` files left by processes that died mid-write. A live writer's
/// temp file (its pid still exists) is left alone.
fn remove_orphan_temps(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(n) = name.to_str() else { continue };
        let Some(pid) = n.strip_suffix(".tmp").and_then(|s| s.rsplit('.').next()).and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let alive =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if n.starts_with('.') && !alive {
            let _ = fs::remove_file(e.path());
        }
    }
}

pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        // A leftover temp file of a dead process with our pid is replaced; never followed.
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(data)?;
        f.sync_data()?;
        fs::rename(&tmp, dir.join(name))
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(Error::from(e).context(format!("cannot write {}", dir.join(name).display())));
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// An 8-byte counter in `emu/generation` that every process bumps (under the store lock) after
/// changing `local/`, so `C_FindObjectsInit` asks "did anyone change the store?" with one
/// `pread`. Read with pread rather than a shared mapping: a truncated or damaged file then reads
/// as a changed counter, never a SIGBUS in the host.
struct Generation {
    file: File,
}

impl Generation {
    fn open(path: &Path) -> Result<Generation> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        let md = file.metadata()?;
        if !md.file_type().is_file() {
            return Err(CKR_DEVICE_ERROR.into());
        }
        if md.len() < 8 {
            file.set_len(8)?;
        }
        Ok(Generation { file })
    }

    /// The counter; a short or unreadable file reads as `u64::MAX` (which never matches a value
    /// a table has seen, so callers rescan).
    fn get(&self) -> u64 {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 8];
        match self.file.read_exact_at(&mut b, 0) {
            Ok(()) => u64::from_le_bytes(b),
            Err(_) => u64::MAX,
        }
    }

    /// Increments the counter (callers hold the store lock, which serializes bumps).
    fn bump(&self) -> u64 {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 8];
        let now = match self.file.read_exact_at(&mut b, 0) {
            Ok(()) => u64::from_le_bytes(b),
            Err(_) => 0,
        };
        let next = now.wrapping_add(1) % (u64::MAX - 1);
        let _ = self.file.write_all_at(&next.to_le_bytes(), 0);
        next
    }
}

// ---- PIN and passphrase keys (the envelope itself is `crate::object::envelope`) ----

/// Iterations of PBKDF2-HMAC-SHA256 for PINs and passphrases (OWASP's 2023 floor is 600k for
/// SHA-256; 210k keeps a login near 50 ms here while staying far above SoftHSMv2's 1 round).
pub const KDF_ITERATIONS: u32 = 210_000;

/// What an iteration count read from a file may be: files are not trusted to make a login
/// take hours.
pub fn plausible_iterations(n: u32) -> bool {
    (1..=10 * KDF_ITERATIONS).contains(&n)
}

/// Derives a wrapping key from a PIN or passphrase.
pub fn derive_key(secret: &[u8], salt: &[u8], iterations: u32, context: &[u8]) -> SecretKey32 {
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    let mut s = Vec::with_capacity(salt.len() + context.len());
    s.extend_from_slice(context);
    s.extend_from_slice(salt);
    let iters = std::num::NonZeroU32::new(iterations.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
    aws_lc_rs::pbkdf2::derive(aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256, iters, &s, secret, &mut out[..]);
    out
}

/// An anonymous in-memory file holding `data`, open in this process without close-on-exec so a
/// child started now inherits it, and sealed against any change. `preload` hands a loaded card
/// set to its command this way: the descriptor's number can travel in a file or the environment,
/// what it holds never does, and the file has no name anywhere (`/proc/<pid>/fd` aside, which
/// only the same user can open).
pub fn inheritable_memfd(data: &[u8]) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: the name is a NUL-terminated literal; the flags ask for a sealable file and leave
    // out MFD_CLOEXEC on purpose (the child must inherit it).
    let fd = unsafe { libc::memfd_create(c"shieldhsm-preload".as_ptr(), libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(Error::from(std::io::Error::last_os_error()).context("cannot create the hand-over file"));
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let mut f = File::from(owned);
    f.write_all(data)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on a descriptor this function owns, with an integer argument.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(Error::from(std::io::Error::last_os_error()).context("cannot seal the hand-over file"));
    }
    Ok(f.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, dkLen=64 (first 32 bytes).
        let k = derive_key(b"passwd", b"salt", 1, b"");
        assert_eq!(hex::encode(&k[..]), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
    }

    #[test]
    fn a_lazy_store_creates_nothing_until_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("kmdata");
        let st = Store::open_lazy(Some(&root));
        assert_eq!(st.generation(), GENERATION_ABSENT);
        assert!(st.list("").unwrap().is_empty());
        assert!(!st.exists("world") && st.read("world").is_err() && st.destroyed_list().is_empty());
        assert!(!root.exists(), "reading created the directory");
        st.lock().unwrap().bump();
        assert!(root.join("local").is_dir() && st.generation() == 1);
        // No data directory at all: empty, and writes are a clean error.
        let none = Store::open_lazy(None);
        assert!(!none.available() && none.list("").unwrap().is_empty());
        assert_eq!(none.lock().err().map(|e| e.rv()), Some(CKR_DEVICE_ERROR));
    }

    #[test]
    fn atomic_write_and_generation() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let g0 = st.generation();
        {
            let l = st.lock().unwrap();
            l.write("key_test_a", b"hello").unwrap();
            l.bump();
        }
        assert_eq!(st.read("key_test_a").unwrap(), b"hello");
        assert_eq!(st.generation(), g0 + 1);
        // A second handle on the same directory sees the same counter (another process would).
        let st2 = Store::open(dir.path()).unwrap();
        assert_eq!(st2.generation(), g0 + 1);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(st.local().join("key_test_a")).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(dir.path().join("local")).unwrap().mode() & 0o777, 0o700);
        assert_eq!(st.list("key_").unwrap().len(), 1);
    }
}
