//! What `preload` loaded for the command it runs, and how that command's PKCS#11 library finds it.
//!
//! nShield's `preload` loads keys and card sets into the module and names them in a tokens file
//! given by `NFAST_NFKM_TOKENSFILE`. Here the tokens file (owner-only, made fresh for each run,
//! removed when the command ends) names the world, the module and the keys, never key material.
//! A K-of-N card set loaded with `preload -c` is handed over in two halves, neither of which
//! opens it alone: the card set's logical token sealed (AES-256-GCM, bound to the set's hash)
//! under a one-time key goes into an anonymous in-memory file the command inherits as an open
//! descriptor; the tokens file names the descriptor's number and holds the one-time key. The
//! logical token is never in the environment, never in a file with a name, and a copy of the
//! tokens file alone opens nothing. The library checks what it rebuilds against the set's hash.

use super::admin::{AdminError, AdminResult};
use super::store::{inheritable_memfd, read_checked};
use crate::object::envelope::{self, SecretKey32};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const TOKENS_ENV: &str = "NFAST_NFKM_TOKENSFILE";
const FORMAT: &str = "shieldhsm/preload/1";
/// The largest hand-over file: a sealed 32-byte token is 60 bytes.
const MAX_HANDOVER: u64 = 256;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct TokensFile {
    pub format: String,
    pub hkm: String,
    pub module: u32,
    /// Keys loaded (application, ident).
    pub keys: Vec<(String, String)>,
    /// A card set loaded with `preload -c`.
    #[serde(default)]
    pub cardset: Option<LoadedSet>,
}

/// A loaded card set: its hash, the inherited descriptor holding its sealed logical token, and
/// the one-time key that opens it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LoadedSet {
    pub hash: String,
    pub name: String,
    pub fd: i32,
    pub key: String,
}

impl TokensFile {
    pub fn new(hkm: &str, module: u32) -> TokensFile {
        TokensFile { format: FORMAT.into(), hkm: hkm.into(), module, keys: Vec::new(), cardset: None }
    }
}

fn aad(hash: &str) -> Vec<u8> {
    format!("{FORMAT}|cardset|{hash}").into_bytes()
}

/// Seals `lt` for the command `preload` is about to start: the descriptor to keep open until the
/// command ends, and what the tokens file says about it.
pub fn hand_over(hash: &str, name: &str, lt: &SecretKey32) -> AdminResult<(OwnedFd, LoadedSet)> {
    let key = envelope::random_key()?;
    let sealed = envelope::seal(&key, &aad(hash), &lt[..])?;
    let fd = inheritable_memfd(&sealed)?;
    let set = LoadedSet { hash: hash.into(), name: name.into(), fd: fd.as_raw_fd(), key: B64.encode(&key[..]) };
    Ok((fd, set))
}

/// The logical token `preload` handed this process for `set`, if the descriptor is still open and
/// what it holds opens under the tokens file's key; checked by the caller against the set's hash.
pub fn take_over(set: &LoadedSet) -> Option<SecretKey32> {
    if set.fd < 0 {
        return None;
    }
    // Only an in-memory or regular file is read (a pipe or socket named by a stale number would
    // block); `read_checked` refuses anything else, and anything larger than a sealed token.
    let path = PathBuf::from(format!("/proc/self/fd/{}", set.fd));
    let md = std::fs::metadata(&path).ok()?;
    if !md.is_file() || md.len() > MAX_HANDOVER {
        return None;
    }
    let mut sealed = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(&path).ok()?, MAX_HANDOVER + 1),
        &mut sealed,
    )
    .ok()?;
    let key_bytes = zeroize::Zeroizing::new(B64.decode(&set.key).ok()?);
    let key: [u8; 32] = key_bytes.as_slice().try_into().ok()?;
    let key = zeroize::Zeroizing::new(key);
    let plain = envelope::open(&key, &aad(&set.hash), &sealed).ok()?;
    let lt: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some(zeroize::Zeroizing::new(lt))
}

/// Writes a fresh owner-only tokens file in the temporary directory.
pub fn write_tokens_file(t: &TokensFile) -> AdminResult<PathBuf> {
    let json = serde_json::to_vec_pretty(t).map_err(|e| AdminError::new(e.to_string(), "report this"))?;
    let mut name = [0u8; 8];
    aws_lc_rs::rand::fill(&mut name).map_err(|_| AdminError::new("no randomness available", "retry"))?;
    let path = std::env::temp_dir().join(format!("shieldhsm-preload-{}.json", hex::encode(name)));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| AdminError::new(format!("cannot create {} ({e})", path.display()), "check TMPDIR"))?;
    f.write_all(&json)?;
    Ok(path)
}

/// The tokens file this process was started with, if any (bounded, owner-checked read).
pub fn tokens_file() -> Option<(PathBuf, crate::error::Result<TokensFile>)> {
    let path = PathBuf::from(std::env::var_os(TOKENS_ENV)?);
    let parsed = read_tokens_file(&path);
    Some((path, parsed))
}

fn read_tokens_file(path: &Path) -> crate::error::Result<TokensFile> {
    let raw = read_checked(path)?;
    let bad = || crate::error::Error::with_reason(cryptoki_sys::CKR_DEVICE_ERROR, "not a preload tokens file");
    let t: TokensFile = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if t.format != FORMAT {
        return Err(bad());
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handed_over_token_opens_only_with_its_key_and_hash() {
        let lt = envelope::random_key().unwrap();
        let (fd, set) = hand_over("abc", "ops", &lt).unwrap();
        assert_eq!(&take_over(&set).unwrap()[..], &lt[..]);
        let mut other = set.clone();
        other.hash = "abd".into();
        assert!(take_over(&other).is_none());
        let mut other = set.clone();
        other.key = B64.encode([7u8; 32]);
        assert!(take_over(&other).is_none());
        // A descriptor that is not a file (a pipe) is not read: reading it could block.
        let mut child =
            std::process::Command::new("sleep").arg("5").stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut other = set.clone();
        other.fd = child.stdout.as_ref().unwrap().as_raw_fd();
        assert!(take_over(&other).is_none());
        let _ = child.kill();
        let _ = child.wait();
        drop(fd);
        assert!(take_over(&set).is_none());
    }
}
