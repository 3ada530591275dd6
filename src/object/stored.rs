//! The encrypted object files in `local/` (`SHSMOBJ1`, and `SHSMOBJ2` with a public view):
//! their names, which key seals them ([`Protection`]), and sealing and opening them with the
//! [`envelope`]. The token (PKCS#11 objects), the module's key generation,
//! `byok` transfers and the tool's `kmfile-dump` all read and write them through here.

use super::attr::AttrMap;
use super::envelope;
use crate::error::{err, Result};
use cryptoki_sys::*;

/// Every key file in `local/` (nShield's `key_<APPNAME>_<IDENT>`).
pub const KEY_PREFIX: &str = "key_";
/// Objects made through PKCS#11.
pub const FILE_PREFIX: &str = "key_pkcs11_";
const MAGIC: &[u8; 8] = b"SHSMOBJ1";
const MAGIC_VIEW: &[u8; 8] = b"SHSMOBJ2";

/// What key seals an object file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// The world's module key (module-slot objects, and the public objects of a softcard that
    /// hold no key material).
    Module = 0,
    /// The softcard's logical token (its private objects and all its secret and private keys):
    /// needs the user logged in.
    Token = 1,
}

/// A file name for a new object: `key_pkcs11_ua<id>` in the module slot, nShield's prefix for
/// accelerator keys; `key_pkcs11_<tag><token>-<id>` on a token, `tag` being `us` for a softcard
/// and `uc` for a card set, `token` the first 8 digits of its hash.
pub fn new_file_name(owner: Option<(&str, &str)>) -> Result<String> {
    let mut id = [0u8; 8];
    aws_lc_rs::rand::fill(&mut id)?;
    Ok(match owner {
        None => format!("{FILE_PREFIX}ua{}", hex::encode(id)),
        Some((tag, h)) => format!("{FILE_PREFIX}{tag}{}-{}", h.get(..8).unwrap_or(h), hex::encode(id)),
    })
}

fn aad(name: &str, prot: Protection, owner: &str) -> Vec<u8> {
    format!("shieldhsm/object/1|{name}|{}|{owner}", prot as u8).into_bytes()
}

/// `MAGIC | protection u8 | owner-len u8 | owner | sealed(attrs)`; the owner (softcard hash or
/// world hkm) and the file name are bound as associated data.
pub fn seal_file(name: &str, prot: Protection, owner: &str, key: &[u8; 32], attrs: &AttrMap) -> Result<Vec<u8>> {
    let mut out = header(MAGIC, prot, owner);
    out.extend_from_slice(&envelope::seal(key, &aad(name, prot, owner), &attrs.encode())?);
    Ok(out)
}

/// A softcard key made with `CKA_PRIVATE=FALSE`: the key sealed under the logical token `lt`,
/// plus a *view* of its public attributes sealed under the module key `km`, so the object is
/// visible before login and usable only after.
/// `MAGIC_VIEW | 1 | owner-len u8 | owner | body-len u32 BE | sealed(attrs) | sealed(view)`.
pub fn seal_file_with_view(
    name: &str,
    owner: &str,
    lt: &[u8; 32],
    km: &[u8; 32],
    attrs: &AttrMap,
    view: &AttrMap,
) -> Result<Vec<u8>> {
    let body = envelope::seal(lt, &aad(name, Protection::Token, owner), &attrs.encode())?;
    let mut out = header(MAGIC_VIEW, Protection::Token, owner);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&envelope::seal(km, &view_aad(name, owner), &view.encode())?);
    Ok(out)
}

fn header(magic: &[u8; 8], prot: Protection, owner: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(magic);
    out.push(prot as u8);
    out.push(owner.len() as u8);
    out.extend_from_slice(owner.as_bytes());
    out
}

fn view_aad(name: &str, owner: &str) -> Vec<u8> {
    format!("shieldhsm/object-view/1|{name}|{owner}").into_bytes()
}

/// A file's parts: protection, owner, the sealed object and (v2 files) the sealed view.
struct Parts<'a> {
    prot: Protection,
    owner: String,
    body: &'a [u8],
    view: Option<&'a [u8]>,
}

fn split(raw: &[u8]) -> Result<Parts<'_>> {
    let with_view = match raw.get(..8) {
        Some(m) if m == MAGIC => false,
        Some(m) if m == MAGIC_VIEW => true,
        _ => return err(CKR_DEVICE_ERROR),
    };
    let prot = match raw.get(8) {
        Some(0) => Protection::Module,
        Some(1) => Protection::Token,
        _ => return err(CKR_DEVICE_ERROR),
    };
    let n = *raw.get(9).ok_or(CKR_DEVICE_ERROR)? as usize;
    let owner = raw.get(10..10 + n).ok_or(CKR_DEVICE_ERROR)?;
    let owner = String::from_utf8(owner.to_vec()).map_err(|_| CKR_DEVICE_ERROR)?;
    let rest = &raw[10 + n..];
    if !with_view {
        return Ok(Parts { prot, owner, body: rest, view: None });
    }
    let len_bytes: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or(CKR_DEVICE_ERROR)?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let body = rest.get(4..4 + len).ok_or(CKR_DEVICE_ERROR)?;
    Ok(Parts { prot, owner, body, view: Some(&rest[4 + len..]) })
}

/// Reads a file's header: protection and owner.
pub fn peek_file(raw: &[u8]) -> Result<(Protection, String)> {
    let p = split(raw)?;
    Ok((p.prot, p.owner))
}

fn token_object(plain: &[u8]) -> Result<AttrMap> {
    let attrs = AttrMap::decode(plain)?;
    // The file is authoritative for its own token-ness.
    if attrs.bool(CKA_TOKEN) != Some(true) {
        return err(CKR_DEVICE_ERROR);
    }
    Ok(attrs)
}

pub fn open_file(name: &str, raw: &[u8], key: &[u8; 32]) -> Result<AttrMap> {
    let p = split(raw)?;
    token_object(&envelope::open(key, &aad(name, p.prot, &p.owner), p.body)?)
}

/// The public view of a v2 file (see [`seal_file_with_view`]), opened with the module key.
pub fn open_view(name: &str, raw: &[u8], km: &[u8; 32]) -> Result<AttrMap> {
    let p = split(raw)?;
    let view = p.view.ok_or(CKR_DEVICE_ERROR)?;
    token_object(&envelope::open(km, &view_aad(name, &p.owner), view)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::attr::Attr;

    fn key() -> AttrMap {
        [
            (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, Attr::Ulong(CKK_AES)),
            (CKA_TOKEN, Attr::Bool(true)),
            (CKA_LABEL, Attr::bytes(b"k".to_vec())),
            (CKA_VALUE, Attr::bytes(vec![9u8; 16])),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_view_opens_with_the_module_key_and_the_key_only_with_the_token_key() {
        let (lt, km) = ([1u8; 32], [2u8; 32]);
        let attrs = key();
        let view = crate::object::policy::public_view(&attrs);
        assert!(view.contains(CKA_LABEL) && !view.contains(CKA_VALUE));
        let raw = seal_file_with_view("key_pkcs11_usab-1", "abcd", &lt, &km, &attrs, &view).unwrap();
        assert_eq!(peek_file(&raw).unwrap(), (Protection::Token, "abcd".to_string()));
        assert_eq!(open_file("key_pkcs11_usab-1", &raw, &lt).unwrap(), attrs);
        assert!(open_file("key_pkcs11_usab-1", &raw, &km).is_err());
        assert_eq!(open_view("key_pkcs11_usab-1", &raw, &km).unwrap(), view);
        assert!(open_view("key_pkcs11_usab-1", &raw, &lt).is_err());
        assert!(open_view("another-name", &raw, &km).is_err(), "the name is bound");
        // A v1 file has no view; truncated files are errors, never panics.
        let v1 = seal_file("n", Protection::Token, "abcd", &lt, &attrs).unwrap();
        assert!(open_view("n", &v1, &km).is_err());
        for cut in 0..raw.len() {
            let _ = open_view("key_pkcs11_usab-1", &raw[..cut], &km);
            let _ = open_file("key_pkcs11_usab-1", &raw[..cut], &lt);
        }
    }
}
