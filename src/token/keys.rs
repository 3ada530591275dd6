//! Key generation, wrapping and unwrapping, and the token's random number generator.

use super::attr::{Attr, AttrMap};
use super::crypto::{Mech, Out, Outcome};
use super::manage::complete_new;
use super::policy::{self, Origin};
use super::session::Session;
use super::Library;
use crate::error::{err, Result};
use crate::mech;
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// Sets DES odd parity on every byte, as DES key generators do.
fn des_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        let ones = (*b & 0xFE).count_ones();
        *b = (*b & 0xFE) | u8::from(ones % 2 == 0);
    }
}

impl Library {
    /// `C_GenerateKey` for the secret-key generation mechanisms of the registry.
    pub fn generate_key(&self, session: &Session, m: &Mech, template: &AttrMap) -> Result<CK_OBJECT_HANDLE> {
        let entry = mech::lookup(m.ty).filter(|e| e.flags & CKF_GENERATE != 0).ok_or(CKR_MECHANISM_INVALID)?;
        let kg = entry.keygen.ok_or(CKR_MECHANISM_INVALID)?;
        let mut implied = AttrMap::new();
        implied.set(CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY));
        implied.set(CKA_KEY_TYPE, Attr::Ulong(kg.key_type));
        let mut attrs = policy::apply(template, &implied, Origin::Generate)?;
        self.slot_defaults(session, template, &mut attrs);
        let len = match kg.fixed_len {
            Some(n) => n,
            None => attrs.ulong(CKA_VALUE_LEN).ok_or(CKR_TEMPLATE_INCOMPLETE)? as usize,
        };
        let in_range = (entry.min_key as usize..=entry.max_key as usize).contains(&len);
        if !in_range || (kg.key_type == CKK_AES && !matches!(len, 16 | 24 | 32)) {
            return err(CKR_KEY_SIZE_RANGE);
        }
        let mut value = mech::rng::random_vec(len)?;
        if kg.key_type == CKK_DES3 {
            des_parity(&mut value);
        }
        attrs.set(CKA_VALUE, Attr::Bytes(value));
        complete_new(&mut attrs, Origin::Generate, Some(m.ty))?;
        self.add_object(session, attrs)
    }

    /// `C_WrapKey`: the wrapped bytes of key `h` under `wrapping`.
    pub fn wrap_key(
        &self,
        session: &Session,
        m: &Mech,
        wrapping: CK_OBJECT_HANDLE,
        h: CK_OBJECT_HANDLE,
        out: Out<'_>,
    ) -> Result<Outcome> {
        let entry = mech::lookup(m.ty).filter(|e| e.flags & CKF_WRAP != 0).ok_or(CKR_MECHANISM_INVALID)?;
        let (wobj, wmat) =
            self.usable_key(session, wrapping, m.ty, CKA_WRAP, CKR_WRAPPING_KEY_HANDLE_INVALID).map_err(|e| {
                if e.rv() == CKR_KEY_FUNCTION_NOT_PERMITTED {
                    CKR_WRAPPING_KEY_HANDLE_INVALID.into()
                } else {
                    e
                }
            })?;
        let (obj, _) = self.object(session, h).map_err(|_| CKR_KEY_HANDLE_INVALID)?;
        if !obj.attrs.flag(CKA_EXTRACTABLE) {
            return err(CKR_KEY_UNEXTRACTABLE);
        }
        if obj.attrs.flag(CKA_WRAP_WITH_TRUSTED) && !wobj.attrs.flag(CKA_TRUSTED) {
            return err(CKR_KEY_NOT_WRAPPABLE);
        }
        if let Some(Attr::Template(t)) = wobj.attrs.get(CKA_WRAP_TEMPLATE) {
            if !obj.attrs.matches(t) {
                return err(CKR_KEY_NOT_WRAPPABLE);
            }
        }
        let plaintext: Zeroizing<Vec<u8>> = match obj.attrs.class() {
            Some(CKO_SECRET_KEY) => Zeroizing::new(obj.attrs.bytes(CKA_VALUE).ok_or(CKR_KEY_NOT_WRAPPABLE)?.to_vec()),
            _ => return err(CKR_KEY_NOT_WRAPPABLE),
        };
        let wrapped = entry.imp.wrap(&m.params, &wmat, &plaintext)?;
        Ok(match out {
            Out::Buf(b) if b.len() >= wrapped.len() => {
                b[..wrapped.len()].copy_from_slice(&wrapped);
                Outcome::Written(wrapped.len())
            }
            _ => Outcome::Needed(wrapped.len()),
        })
    }

    /// `C_UnwrapKey`: a new secret key object from wrapped bytes and a template.
    pub fn unwrap_key(
        &self,
        session: &Session,
        m: &Mech,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &AttrMap,
    ) -> Result<CK_OBJECT_HANDLE> {
        let entry = mech::lookup(m.ty).filter(|e| e.flags & CKF_UNWRAP != 0).ok_or(CKR_MECHANISM_INVALID)?;
        let (uobj, umat) =
            self.usable_key(session, unwrapping, m.ty, CKA_UNWRAP, CKR_UNWRAPPING_KEY_HANDLE_INVALID).map_err(|e| {
                if e.rv() == CKR_KEY_FUNCTION_NOT_PERMITTED {
                    CKR_UNWRAPPING_KEY_HANDLE_INVALID.into()
                } else {
                    e
                }
            })?;
        let mut implied = AttrMap::new();
        if let Some(Attr::Template(t)) = uobj.attrs.get(CKA_UNWRAP_TEMPLATE) {
            for (k, v) in t.iter() {
                implied.set(k, v.clone());
            }
        }
        let mut attrs = policy::apply(template, &implied, Origin::Unwrap)?;
        self.slot_defaults(session, template, &mut attrs);
        if attrs.class() != Some(CKO_SECRET_KEY) {
            return err(CKR_TEMPLATE_INCONSISTENT);
        }
        let plaintext = entry.imp.unwrap(&m.params, &umat, wrapped)?;
        attrs.set(CKA_VALUE, Attr::bytes(plaintext.to_vec()));
        complete_new(&mut attrs, Origin::Unwrap, None)?;
        self.add_object(session, attrs)
    }

    /// `C_GenerateKeyPair`: no key-pair mechanism is registered yet, so every mechanism is
    /// refused with the spec's code (after the same checks a registered one would get).
    pub fn generate_key_pair(
        &self,
        _session: &Session,
        m: &Mech,
        _public: &AttrMap,
        _private: &AttrMap,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let _ = mech::lookup(m.ty).filter(|e| e.flags & CKF_GENERATE_KEY_PAIR != 0).ok_or(CKR_MECHANISM_INVALID)?;
        err(CKR_MECHANISM_INVALID)
    }

    /// `C_DeriveKey`: as for key pairs, no derivation mechanism is registered yet.
    pub fn derive_key(
        &self,
        session: &Session,
        m: &Mech,
        base: CK_OBJECT_HANDLE,
        _t: &AttrMap,
    ) -> Result<CK_OBJECT_HANDLE> {
        let _ = mech::lookup(m.ty).filter(|e| e.flags & CKF_DERIVE != 0).ok_or(CKR_MECHANISM_INVALID)?;
        self.object(session, base).map_err(|_| CKR_KEY_HANDLE_INVALID)?;
        err(CKR_MECHANISM_INVALID)
    }

    pub fn generate_random(&self, out: &mut [u8]) -> Result<()> {
        mech::rng::fill(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn des_parity_is_odd() {
        let mut k = [0u8, 1, 2, 0xFF, 0xFE, 0x80];
        super::des_parity(&mut k);
        assert!(k.iter().all(|b| b.count_ones() % 2 == 1));
    }
}
