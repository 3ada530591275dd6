//! The policy-carrying JSON files of `local/` are authenticated: the world file, each Operator
//! Card Set's `card_<HASH>`, each softcard's `softcard_<HASH>`.
//!
//! `local/` is like a real nShield's kmdata: whoever administers the host reads, copies and edits
//! it. What these files say is policy (a card set's timeout and persistence, a softcard's try
//! limit, the world's ACS quorum and mode), so each carries a tag: HMAC-SHA256, under a key
//! derived from the world's module key KM, over the file's name and every field. An edited file
//! is refused with one line naming it. Key files need no tag: they are sealed with AES-256-GCM
//! (`object::stored`), and registered KEK packages carry their own (`byok::kekpkg`).
//!
//! Rollback, too, is caught where it would revive something: the tag may bind a value the
//! module keeps inside (`emu/`), as the world file binds the module's record of the current
//! world (so an older world file, with an ACS that `racs` replaced, is refused) and a softcard
//! binds the module's count of its PIN changes (so an older file, with a PIN that was changed,
//! is refused).

use super::hsm;
use super::store::Store;
use crate::object::envelope::SecretKey32;
use aws_lc_rs::hmac;
use serde::Serialize;

const LABEL: &[u8] = b"shieldhsm/local-integrity/1";

/// A file whose JSON carries its own tag in an optional field.
pub trait Tagged: Serialize + Clone {
    fn tag_field(&mut self) -> &mut Option<String>;
}

/// The key that authenticates `local/` files, derived from a world's module key.
pub struct IntegrityKey(hmac::Key);

impl IntegrityKey {
    pub fn from_km(km: &SecretKey32) -> IntegrityKey {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &km[..]), LABEL);
        IntegrityKey(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    /// The key of the world the data directory's modules hold (module 1's first), or `None` when
    /// no module holds a world.
    pub fn of_store(store: &Store) -> Option<IntegrityKey> {
        let modules = hsm::list(store).ok()?;
        modules.iter().filter(|m| !m.world_hkm.is_empty()).find_map(|m| m.km()).map(|km| IntegrityKey::from_km(&km))
    }

    /// The key of the world `hkm`, from a module that holds it.
    pub fn of_world(store: &Store, hkm: &str) -> Option<IntegrityKey> {
        let modules = hsm::list(store).ok()?;
        modules.iter().find(|m| m.has_world(hkm)).and_then(|m| m.km()).map(|km| IntegrityKey::from_km(&km))
    }

    /// What a tag covers: the file's name, its fields (without the tag), and `bound`, each
    /// length-prefixed so no two inputs encode alike.
    fn message<T: Tagged>(name: &str, value: &T, bound: &[u8]) -> Vec<u8> {
        let mut plain = value.clone();
        *plain.tag_field() = None;
        let body = serde_json::to_vec(&plain).unwrap_or_default();
        let mut msg = Vec::with_capacity(body.len() + name.len() + bound.len() + 24);
        for part in [name.as_bytes(), &body, bound] {
            msg.extend_from_slice(&(part.len() as u64).to_be_bytes());
            msg.extend_from_slice(part);
        }
        msg
    }

    fn tag<T: Tagged>(&self, name: &str, value: &T, bound: &[u8]) -> String {
        hex::encode(hmac::sign(&self.0, &Self::message(name, value, bound)).as_ref())
    }

    /// `value` as the pretty JSON written to `local/<name>`, tagged; `bound` is what else the tag
    /// covers (a value the module keeps). Returns the bytes and the tag.
    pub fn seal<T: Tagged>(&self, name: &str, value: &T, bound: &[u8]) -> (Vec<u8>, String) {
        let mut tagged = value.clone();
        let tag = self.tag(name, value, bound);
        *tagged.tag_field() = Some(tag.clone());
        (serde_json::to_vec_pretty(&tagged).unwrap_or_default(), tag)
    }

    /// Whether `value`, read from `local/<name>`, carries its right tag (compared in constant
    /// time).
    pub fn check<T: Tagged>(&self, name: &str, value: &T, bound: &[u8]) -> bool {
        let mut v = value.clone();
        let Some(have) = v.tag_field().take().and_then(|t| hex::decode(t).ok()) else { return false };
        hmac::verify(&self.0, &Self::message(name, value, bound), &have).is_ok()
    }
}

/// The one line that refuses an edited file.
pub fn refusal(name: &str) -> String {
    format!("local/{name} fails its integrity check (changed outside the module, or an older copy)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Clone)]
    struct F {
        a: u32,
        b: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
    }
    impl Tagged for F {
        fn tag_field(&mut self) -> &mut Option<String> {
            &mut self.tag
        }
    }

    #[test]
    fn tags_bind_fields_name_key_and_bound_value() {
        let k = IntegrityKey::from_km(&zeroize::Zeroizing::new([7u8; 32]));
        let f = F { a: 1, b: Some(30), tag: None };
        let (json, _) = k.seal("card_x", &f, b"1");
        let read: F = serde_json::from_slice(&json).unwrap();
        assert!(k.check("card_x", &read, b"1"));
        assert!(!k.check("card_y", &read, b"1"), "another file's name");
        assert!(!k.check("card_x", &read, b"2"), "another bound value (a rollback)");
        let mut edited = read.clone();
        edited.b = None;
        assert!(!k.check("card_x", &edited, b"1"), "an edited field");
        let mut untagged = read.clone();
        untagged.tag = None;
        assert!(!k.check("card_x", &untagged, b"1"), "no tag");
        let other = IntegrityKey::from_km(&zeroize::Zeroizing::new([8u8; 32]));
        assert!(!other.check("card_x", &read, b"1"), "another world");
    }
}
