//! Key generation, wrapping and unwrapping, and the token's random number generator.

use super::crypto::{mech_entry, Mech, Out, Outcome};
use super::session::Session;
use super::Library;
use crate::assurance::Assurance;
use crate::error::{err, Error, Result};
use crate::mech;
use crate::module::lineage;
use crate::module::new_object::complete_new;
use crate::object::attr::{Attr, AttrMap, CKA_SHSM_ACL, CKA_SHSM_VALUE_KNOWN};
use crate::object::policy::{self, Origin};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// Where an unwrapping key's blobs can come from (see `lineage`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum UnwrapSource {
    /// The caller can make them itself: what they unwrap to is known.
    Forgeable,
    /// Only from `C_WrapKey`, which may have put a protected key in them.
    Kek,
    /// A private key that needs re-authentication per use: no decryption oracle through unwrap.
    AlwaysAuthenticate,
}

/// A wrapping or unwrapping key that may not be used so is reported as an invalid handle of
/// that kind (`invalid`), as other unusable keys are.
fn unusable_as(invalid: CK_RV) -> impl Fn(Error) -> Error {
    move |e| if e.rv() == CKR_KEY_FUNCTION_NOT_PERMITTED { invalid.into() } else { e }
}

impl Library {
    /// `C_GenerateKey` for the secret-key generation mechanisms of the registry.
    pub fn generate_key(&self, session: &Session, m: &Mech, template: &AttrMap) -> Result<CK_OBJECT_HANDLE> {
        self.weak_gate(m.ty)?;
        let entry = mech_entry(m.ty, CKF_GENERATE)?;
        if m.ty == CKM_DSA_PARAMETER_GEN {
            return self.generate_domain_parameters(session, m, template);
        }
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
        if matches!(kg.key_type, CKK_DES | CKK_DES2 | CKK_DES3) {
            // Odd parity, as PKCS#11 requires of DES keys; a (semi-)weak or degenerate value
            // (about 2^-52 per draw) is drawn again, so the key works with every mechanism.
            let mut draws = 1;
            loop {
                mech::des3::set_odd_parity(&mut value);
                if mech::des::usable_value(kg.key_type, &value) {
                    break;
                }
                if draws == 8 {
                    return err(CKR_FUNCTION_FAILED); // a broken generator, not bad luck
                }
                draws += 1;
                value = mech::rng::random_vec(len)?;
            }
        }
        attrs.set(CKA_VALUE, Attr::Bytes(value));
        complete_new(&mut attrs, Origin::Generate, Some(m.ty))?;
        self.add_object(session, attrs)
    }

    /// `C_GenerateKey` with CKM_DSA_PARAMETER_GEN: a CKO_DOMAIN_PARAMETERS object (CKK_DSA) with
    /// new p, q, g of CKA_PRIME_BITS (required) and, if given, CKA_SUB_PRIME_BITS bits.
    fn generate_domain_parameters(&self, session: &Session, m: &Mech, template: &AttrMap) -> Result<CK_OBJECT_HANDLE> {
        if !matches!(m.params, mech::Params::None) {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        let implied: AttrMap = [(CKA_CLASS, Attr::Ulong(CKO_DOMAIN_PARAMETERS)), (CKA_KEY_TYPE, Attr::Ulong(CKK_DSA))]
            .into_iter()
            .collect();
        let mut attrs = policy::apply(template, &implied, Origin::Generate)?;
        self.slot_defaults(session, template, &mut attrs);
        let bits = attrs.ulong(CKA_PRIME_BITS).ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        let made = mech::dsa::generate_params(bits, attrs.ulong(CKA_SUB_PRIME_BITS))?;
        for (t, v) in made.iter() {
            attrs.set(t, v.clone());
        }
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
        self.weak_gate(m.ty)?;
        let entry = mech_entry(m.ty, CKF_WRAP)?;
        let invalid = CKR_WRAPPING_KEY_HANDLE_INVALID;
        let (wobj, wmat) = self.usable_key(session, wrapping, m.ty, CKA_WRAP, invalid).map_err(unusable_as(invalid))?;
        let (obj, _) = self.object(session, h).map_err(|_| CKR_KEY_HANDLE_INVALID)?;
        session.require_card_login(&obj)?;
        if !obj.attrs.flag(CKA_EXTRACTABLE) {
            return err(CKR_KEY_UNEXTRACTABLE);
        }
        if obj.attrs.flag(CKA_WRAP_WITH_TRUSTED) && !wobj.attrs.flag(CKA_TRUSTED) {
            return err(CKR_KEY_NOT_WRAPPABLE);
        }
        // A key with an nShield ACL leaves only as its ACL allows: wrapped to one named KEK
        // (the reduced-ACL transfer copy), identified by the SHA-256 of the KEK's SPKI.
        if let Some(acl) = obj.attrs.bytes(CKA_SHSM_ACL) {
            let kek = mech::public_key_info(&wobj.attrs)
                .map(|spki| hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &spki)));
            let allowed = kek
                .map(|k| {
                    crate::module::acl::permits_json(
                        Some(acl),
                        &crate::module::acl::Permission::ExportWrapped { kek: k },
                    )
                })
                .unwrap_or(false);
            if !allowed {
                return err(CKR_KEY_UNEXTRACTABLE);
            }
        }
        if let Some(Attr::Template(t)) = wobj.attrs.get(CKA_WRAP_TEMPLATE) {
            if !obj.attrs.matches(t) {
                return err(CKR_KEY_NOT_WRAPPABLE);
            }
        }
        self.check_wrap_strength(&wobj.attrs, &obj.attrs)?;
        // The ACL, where there is one, named this wrapping key above; otherwise lineage decides.
        if !obj.attrs.contains(CKA_SHSM_ACL) {
            self.check_wrap_lineage(&wobj.attrs, &obj.attrs)?;
        }
        let plaintext: Zeroizing<Vec<u8>> = match obj.attrs.class() {
            Some(CKO_SECRET_KEY) => Zeroizing::new(obj.attrs.bytes(CKA_VALUE).ok_or(CKR_KEY_NOT_WRAPPABLE)?.to_vec()),
            // Private keys travel as PKCS#8 PrivateKeyInfo (what Azure BYOK and every unwrapper expects).
            Some(CKO_PRIVATE_KEY) => mech::pkcs8::private_to_pkcs8(&obj.attrs).map_err(|_| CKR_KEY_NOT_WRAPPABLE)?,
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
        self.weak_gate(m.ty)?;
        let entry = mech_entry(m.ty, CKF_UNWRAP)?;
        let invalid = CKR_UNWRAPPING_KEY_HANDLE_INVALID;
        let (uobj, umat) =
            self.usable_key(session, unwrapping, m.ty, CKA_UNWRAP, invalid).map_err(unusable_as(invalid))?;
        let mut implied = AttrMap::new();
        if let Some(Attr::Template(t)) = uobj.attrs.get(CKA_UNWRAP_TEMPLATE) {
            for (k, v) in t.iter() {
                implied.set(k, v.clone());
            }
        }
        let mut attrs = policy::apply(template, &implied, Origin::Unwrap)?;
        self.slot_defaults(session, template, &mut attrs);
        Self::inherit_private(&[&uobj.attrs], template, &mut attrs)?;
        let source = self.unwrap_source(&uobj.attrs);
        self.enforce_unwrap_template(source, template, &mut attrs)?;
        // Unwrapping is a decryption: a key that asks for its PIN at every use asks here too
        // (else a hybrid message's session key, unwrapped, decrypts the rest without it).
        if uobj.attrs.flag(CKA_ALWAYS_AUTHENTICATE) && !session.ops.lock().take_context_credit() {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        let plaintext = entry.imp.unwrap(&m.params, &umat, wrapped)?;
        match attrs.class() {
            Some(CKO_SECRET_KEY) => {
                // A length in the template must be the value's: never a cut of what may be a
                // protected key (a cut of a byte or two is brute-forced, then the next).
                if template.ulong(CKA_VALUE_LEN).is_some_and(|l| l as usize != plaintext.len()) {
                    return err(CKR_TEMPLATE_INCONSISTENT);
                }
                attrs.set(CKA_VALUE, Attr::bytes(plaintext.to_vec()))
            }
            Some(CKO_PRIVATE_KEY) => {
                let material = mech::pkcs8::pkcs8_to_attrs(&plaintext)?;
                if material.key_type() != attrs.key_type() {
                    return err(CKR_TEMPLATE_INCONSISTENT);
                }
                for (t, v) in material.iter() {
                    attrs.set(t, v.clone());
                }
            }
            _ => return err(CKR_TEMPLATE_INCONSISTENT),
        }
        complete_new(&mut attrs, Origin::Unwrap, None)?;
        if source != UnwrapSource::Forgeable && !lineage::readable(&attrs) {
            // Its blob may hold a protected key: so is the result (harmless if the caller made
            // the blob: only KEKs born here and trusted public keys protect other keys).
            attrs.set(CKA_SHSM_VALUE_KNOWN, Attr::Bool(false));
            attrs.set(CKA_ALWAYS_SENSITIVE, Attr::Bool(true));
        }
        self.add_object(session, attrs)
    }

    /// A weak wrapping key (single DES 56 bits, two-key triple DES 80 bits, also written as a
    /// 3-key value with K1 == K3) wraps no key stronger than itself: whoever breaks the wrapping
    /// key would get more than its worth. `CKR_KEY_NOT_WRAPPABLE` unless `wrap_weak` is relaxed.
    /// Private keys always count as stronger. Keys of 112 bits or more are not checked here.
    fn check_wrap_strength(&self, wrapping: &AttrMap, target: &AttrMap) -> Result<()> {
        let Some(wkt) = wrapping.key_type().filter(|kt| matches!(*kt, CKK_DES | CKK_DES2 | CKK_DES3)) else {
            return Ok(());
        };
        let wbits = mech::des::strength_bits(wkt, wrapping.bytes(CKA_VALUE).unwrap_or_default());
        if wbits >= 112 {
            return Ok(());
        }
        let tbits = match (target.class(), target.key_type()) {
            (Some(CKO_SECRET_KEY), Some(kt)) => {
                mech::des::strength_bits(kt, target.bytes(CKA_VALUE).unwrap_or_default())
            }
            _ => usize::MAX,
        };
        if tbits > wbits {
            let what = format!("C_WrapKey of a {tbits}-bit key under a {wbits}-bit key");
            self.assure(Assurance::WrapWeak, &what, CKR_KEY_NOT_WRAPPABLE)?;
        }
        Ok(())
    }

    /// The wrap rules of `lineage` for a key without an ACL: a KEK born here never leaves; a
    /// protected key leaves only under a KEK born here or a `CKA_TRUSTED` public key.
    fn check_wrap_lineage(&self, wrapping: &AttrMap, target: &AttrMap) -> Result<()> {
        if lineage::is_kek(target) {
            return self.assure(
                Assurance::WrapKek,
                "C_WrapKey of a key-encryption key born in the token (it never leaves)",
                CKR_KEY_NOT_WRAPPABLE,
            );
        }
        if !lineage::protected(target) {
            return Ok(());
        }
        let qualifies = match wrapping.class() {
            Some(CKO_SECRET_KEY) => lineage::is_kek(wrapping),
            Some(CKO_PUBLIC_KEY) => wrapping.flag(CKA_TRUSTED),
            _ => false,
        };
        if qualifies {
            return Ok(());
        }
        self.assure(
            Assurance::WrapKek,
            "C_WrapKey of a protected key under a key that is neither a KEK born in the token \
             (generated sensitive, CKA_WRAP, no CKA_DECRYPT) nor a CKA_TRUSTED public key",
            CKR_KEY_NOT_WRAPPABLE,
        )
    }

    /// Whether the blobs an unwrapping key opens may hold protected keys.
    fn unwrap_source(&self, u: &AttrMap) -> UnwrapSource {
        match u.class() {
            Some(CKO_SECRET_KEY) if lineage::is_kek(u) => UnwrapSource::Kek,
            Some(CKO_PRIVATE_KEY) if u.flag(CKA_ALWAYS_AUTHENTICATE) => UnwrapSource::AlwaysAuthenticate,
            Some(CKO_PRIVATE_KEY)
                if u.bytes(CKA_PUBLIC_KEY_INFO).is_some_and(|spki| self.trusted_public_twin(spki)) =>
            {
                UnwrapSource::Kek
            }
            _ => UnwrapSource::Forgeable,
        }
    }

    /// What a KEK (or the private half of a trusted public key) unwraps comes out sensitive; what
    /// a `CKA_ALWAYS_AUTHENTICATE` key unwraps also non-extractable, so unwrapping is no
    /// decryption oracle. A template asking otherwise is inconsistent.
    fn enforce_unwrap_template(&self, source: UnwrapSource, template: &AttrMap, attrs: &mut AttrMap) -> Result<()> {
        let mut forced = vec![];
        match source {
            UnwrapSource::Forgeable => return Ok(()),
            UnwrapSource::Kek => forced.push((CKA_SENSITIVE, true)),
            UnwrapSource::AlwaysAuthenticate => forced.extend([(CKA_SENSITIVE, true), (CKA_EXTRACTABLE, false)]),
        }
        for (t, want) in forced {
            if template.bool(t).is_some_and(|v| v != want) {
                self.assure(
                    Assurance::UnwrapKek,
                    "C_UnwrapKey into a readable or extractable key with a key whose blobs may hold \
                     protected keys",
                    CKR_TEMPLATE_INCONSISTENT,
                )?;
                continue;
            }
            attrs.set(t, Attr::Bool(want));
        }
        Ok(())
    }

    /// `C_GenerateKeyPair`: policy-checks both templates, lets the mechanism make the material,
    /// then stores the public key and the private key (both or neither).
    pub fn generate_key_pair(
        &self,
        session: &Session,
        m: &Mech,
        public: &AttrMap,
        private: &AttrMap,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        self.weak_gate(m.ty)?;
        let entry = mech_entry(m.ty, CKF_GENERATE_KEY_PAIR)?;
        let kt = mech::pair_key_type(m.ty).ok_or(CKR_MECHANISM_INVALID)?;
        let implied = |class| -> AttrMap {
            [(CKA_CLASS, Attr::Ulong(class)), (CKA_KEY_TYPE, Attr::Ulong(kt))].into_iter().collect()
        };
        let mut pubattrs = policy::apply(public, &implied(CKO_PUBLIC_KEY), Origin::Generate)?;
        let mut privattrs = policy::apply(private, &implied(CKO_PRIVATE_KEY), Origin::Generate)?;
        self.slot_defaults(session, public, &mut pubattrs);
        self.slot_defaults(session, private, &mut privattrs);
        let (pm, sm) = entry.imp.generate_pair(&pubattrs, &privattrs)?;
        for (t, v) in pm.iter() {
            pubattrs.set(t, v.clone());
        }
        for (t, v) in sm.iter() {
            privattrs.set(t, v.clone());
        }
        complete_new(&mut pubattrs, Origin::Generate, Some(m.ty))?;
        complete_new(&mut privattrs, Origin::Generate, Some(m.ty))?;
        let hp = self.add_object(session, pubattrs)?;
        match self.add_object(session, privattrs) {
            Ok(hs) => Ok((hp, hs)),
            Err(e) => {
                let _ = self.destroy_object(session, hp);
                Err(e)
            }
        }
    }

    pub fn generate_random(&self, out: &mut [u8]) -> Result<()> {
        mech::rng::fill(out)
    }
}
