//! Encrypt, decrypt, digest, sign and verify on a session, including the two-call length
//! convention, which is handled once here for every mechanism.

use super::session::{Active, Ops, Session};
use super::table::Object;
use super::Library;
use crate::assurance::Assurance;
use crate::error::{err, Result};
use crate::mech::{self, CipherOp, KeyMaterial, Params, SignOp};
use crate::module::lineage;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A mechanism as the caller gave it, with parsed parameters.
#[derive(Clone, Debug)]
pub struct Mech {
    pub ty: CK_MECHANISM_TYPE,
    pub params: Params,
}

/// Where output goes: the caller asked for the length only, or gave a buffer.
pub enum Out<'a> {
    Query,
    Buf(&'a mut [u8]),
}

/// What happened: bytes written, or the length the caller needs (with `Query` that is success,
/// with a buffer it is `CKR_BUFFER_TOO_SMALL`; the operation stays active either way).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Written(usize),
    Needed(usize),
}

/// Runs `run` into the caller's buffer. `bound` is an upper bound of the output; when the
/// caller's buffer is smaller than the bound but maybe large enough, the result is computed into
/// a scratch buffer and, if it still does not fit, kept in `pending` for the next call.
fn produce(
    pending: &mut Option<Zeroizing<Vec<u8>>>,
    out: Out<'_>,
    bound: usize,
    run: impl FnOnce(&mut [u8]) -> Result<usize>,
) -> Result<Outcome> {
    if let Some(p) = pending.as_ref() {
        return Ok(match out {
            Out::Buf(b) if b.len() >= p.len() => {
                b[..p.len()].copy_from_slice(p);
                let n = p.len();
                *pending = None;
                Outcome::Written(n)
            }
            _ => Outcome::Needed(p.len()),
        });
    }
    match out {
        Out::Query => Ok(Outcome::Needed(bound)),
        Out::Buf(b) if b.len() >= bound => Ok(Outcome::Written(run(b)?)),
        Out::Buf(b) => {
            let mut tmp = Zeroizing::new(vec![0u8; bound]);
            let n = run(&mut tmp)?;
            if n <= b.len() {
                b[..n].copy_from_slice(&tmp[..n]);
                Ok(Outcome::Written(n))
            } else {
                tmp.truncate(n);
                *pending = Some(tmp);
                Ok(Outcome::Needed(n))
            }
        }
    }
}

/// Which slot of a session's operations a call acts on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CipherDir {
    Encrypt,
    Decrypt,
}

fn cipher_slot(ops: &mut Ops, d: CipherDir) -> &mut Option<Active<dyn CipherOp>> {
    match d {
        CipherDir::Encrypt => &mut ops.encrypt,
        CipherDir::Decrypt => &mut ops.decrypt,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SignDir {
    Sign,
    Verify,
}

fn sign_slot(ops: &mut Ops, d: SignDir) -> &mut Option<Active<dyn SignOp>> {
    match d {
        SignDir::Sign => &mut ops.sign,
        SignDir::Verify => &mut ops.verify,
    }
}

/// Which active operation a call belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Cipher(CipherDir),
    Digest,
    Sign(SignDir),
}

/// Keeps the operation on success-with-more-to-come, ends it on completion or failure
/// (PKCS#11: any error other than CKR_BUFFER_TOO_SMALL ends the operation).
fn settle<T: ?Sized>(slot: &mut Option<Active<T>>, r: &Result<Outcome>, finishing: bool) {
    match r {
        Ok(Outcome::Needed(_)) => {}
        Ok(Outcome::Written(_)) if !finishing => {}
        _ => *slot = None,
    }
}

impl Library {
    /// The key `h` for an operation: visible, a key, allowed this usage and mechanism.
    pub fn usable_key(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        mech: CK_MECHANISM_TYPE,
        usage: CK_ATTRIBUTE_TYPE,
        invalid: CK_RV,
    ) -> Result<(Arc<Object>, Arc<KeyMaterial>)> {
        self.key_use_allowed()?;
        let (obj, _) = self.object(session, h).map_err(|_| invalid)?;
        if !matches!(obj.attrs.class(), Some(CKO_SECRET_KEY | CKO_PUBLIC_KEY | CKO_PRIVATE_KEY)) {
            return err(invalid);
        }
        session.require_card_login(&obj)?;
        if !obj.attrs.flag(usage) {
            return err(CKR_KEY_FUNCTION_NOT_PERMITTED);
        }
        // nShield keys carry an ACL (CKA_SHSM_ACL): the operation must be in it too.
        if let Some(op) = crate::module::acl::op_for_usage(usage) {
            let acl = obj.attrs.bytes(crate::object::attr::CKA_SHSM_ACL);
            if acl.is_some() && !crate::module::acl::permits_json(acl, &crate::module::acl::Permission::Op(op)) {
                return err(CKR_KEY_FUNCTION_NOT_PERMITTED);
            }
        }
        if let Some(crate::object::attr::Attr::MechList(allowed)) = obj.attrs.get(CKA_ALLOWED_MECHANISMS) {
            if !allowed.is_empty() && !allowed.contains(&mech) {
                return err(CKR_MECHANISM_INVALID);
            }
        }
        let m = obj.material()?;
        Ok((obj, m))
    }

    // ---- the operations that start with a key (the object table is the library's) ----

    pub fn cipher_init(&self, session: &Session, d: CipherDir, m: &Mech, key: CK_OBJECT_HANDLE) -> Result<()> {
        if cipher_slot(&mut session.ops.lock(), d).is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        let (flag, usage) = match d {
            CipherDir::Encrypt => (CKF_ENCRYPT, CKA_ENCRYPT),
            CipherDir::Decrypt => (CKF_DECRYPT, CKA_DECRYPT),
        };
        self.weak_gate(m.ty)?;
        let e = mech_entry(m.ty, flag)?;
        let (obj, mat) = self.usable_key(session, key, m.ty, usage, CKR_KEY_HANDLE_INVALID)?;
        let op = match d {
            CipherDir::Encrypt => e.imp.encrypt(&m.params, &mat)?,
            CipherDir::Decrypt => e.imp.decrypt(&m.params, &mat)?,
        };
        let auth = d == CipherDir::Decrypt && obj.attrs.flag(CKA_ALWAYS_AUTHENTICATE);
        *cipher_slot(&mut session.ops.lock(), d) = Some(Active::new(op, auth));
        Ok(())
    }

    pub fn sign_init(&self, session: &Session, d: SignDir, m: &Mech, key: CK_OBJECT_HANDLE) -> Result<()> {
        if sign_slot(&mut session.ops.lock(), d).is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        let (flag, usage) = match d {
            SignDir::Sign => (CKF_SIGN, CKA_SIGN),
            SignDir::Verify => (CKF_VERIFY, CKA_VERIFY),
        };
        self.weak_gate(m.ty)?;
        let e = mech_entry(m.ty, flag)?;
        let (obj, mat) = self.usable_key(session, key, m.ty, usage, CKR_KEY_HANDLE_INVALID)?;
        let op = match d {
            SignDir::Sign => e.imp.sign(&m.params, &mat)?,
            SignDir::Verify => e.imp.verify(&m.params, &mat)?,
        };
        let auth = d == SignDir::Sign && obj.attrs.flag(CKA_ALWAYS_AUTHENTICATE);
        *sign_slot(&mut session.ops.lock(), d) = Some(Active::new(op, auth));
        Ok(())
    }

    /// `C_DigestKey`: digests a secret key's value without revealing it.
    pub fn digest_key(&self, session: &Session, key: CK_OBJECT_HANDLE) -> Result<()> {
        let r = (|| {
            let (obj, _) = self.object(session, key).map_err(|_| CKR_KEY_HANDLE_INVALID)?;
            if obj.attrs.class() != Some(CKO_SECRET_KEY) {
                return err(CKR_KEY_INDIGESTIBLE);
            }
            session.require_card_login(&obj)?;
            // The digest of a key is as good as the key when the key has little entropy: keys
            // that may not leave do not leave this way either.
            if lineage::acl_forbids_export(&obj.attrs) {
                return err(CKR_KEY_INDIGESTIBLE);
            }
            if lineage::protected(&obj.attrs) || !obj.attrs.flag(CKA_EXTRACTABLE) {
                self.assure(
                    Assurance::DigestKey,
                    "C_DigestKey of a protected or non-extractable key",
                    CKR_KEY_INDIGESTIBLE,
                )?;
            }
            let v = obj.attrs.bytes(CKA_VALUE).ok_or(CKR_KEY_INDIGESTIBLE)?;
            let mut ops = session.ops.lock();
            let a = ops.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
            if a.single {
                return err(CKR_OPERATION_ACTIVE);
            }
            a.updated = true;
            a.op.update(v);
            Ok(())
        })();
        if let Err(e) = &r {
            if e.rv() != CKR_OPERATION_NOT_INITIALIZED {
                session.ops.lock().digest = None;
            }
        }
        r
    }
}

/// The registry entry of mechanism `ty`, if it supports `flag` (CKF_ENCRYPT, CKF_DIGEST, ...)
/// and, for a weak algorithm, its security assurance is relaxed in this process (the callers
/// log the decision first with [`Library::weak_gate`]).
pub(super) fn mech_entry(ty: CK_MECHANISM_TYPE, flag: CK_FLAGS) -> Result<&'static mech::MechEntry> {
    match mech::lookup(ty) {
        Some(e) if e.flags & flag != 0 && e.weak.is_none_or(crate::assurance::relaxed) => Ok(e),
        _ => err(CKR_MECHANISM_INVALID),
    }
}

impl Library {
    /// A weak-algorithm mechanism (MD5, RIPEMD-160, single and two-key DES) is used only while
    /// its security assurance is relaxed: otherwise `CKR_MECHANISM_INVALID`, as for a mechanism
    /// the token does not have, with the assurance log line naming the override. Every other
    /// mechanism passes.
    pub fn weak_gate(&self, ty: CK_MECHANISM_TYPE) -> Result<()> {
        match mech::lookup(ty).and_then(|e| e.weak) {
            Some(a) => self.assure(a, &format!("weak mechanism {ty:#x}"), CKR_MECHANISM_INVALID),
            None => Ok(()),
        }
    }
}

/// What a session does on its own: the operations in progress, once started, need nothing of
/// the library.
impl Session {
    /// A login token's private objects and token keys are used only while its user is logged in.
    pub fn require_card_login(&self, obj: &Object) -> Result<()> {
        // A private object needs the user, and so does the public view of a key whose material
        // an older file sealed under the token's logical token. A public key, session or token,
        // is public: whoever holds a session of the token may use it, as on any token.
        let needs_user = obj.is_private() || obj.view_only;
        if self.slot.card_hash().is_some() && needs_user && !self.slot.user_logged_in() {
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        Ok(())
    }

    /// Ends an operation (an error ended it, or the caller cancelled it).
    pub fn cancel_op(&self, kind: OpKind) {
        match kind {
            OpKind::Cipher(d) => self.cipher_cancel(d),
            OpKind::Digest => self.digest_cancel(),
            OpKind::Sign(d) => self.sign_cancel(d),
        }
    }

    // ---- encrypt / decrypt ----

    pub fn cipher_cancel(&self, d: CipherDir) {
        *cipher_slot(&mut self.ops.lock(), d) = None;
    }

    pub fn cipher(&self, d: CipherDir, input: &[u8], out: Out<'_>) -> Result<Outcome> {
        let mut ops = self.ops.lock();
        let slot = cipher_slot(&mut ops, d);
        let a = slot.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        a.single = true;
        let r = if a.updated {
            // Mixing single- and multi-part calls is an error, and errors end operations.
            err(CKR_OPERATION_ACTIVE)
        } else if a.needs_auth {
            err(CKR_USER_NOT_LOGGED_IN)
        } else {
            let bound = a.op.single_len(input.len());
            let op = &mut a.op;
            produce(&mut a.pending, out, bound, |b| op.single(input, b))
        };
        settle(slot, &r, true);
        r
    }

    pub fn cipher_update(&self, d: CipherDir, input: &[u8], out: Out<'_>) -> Result<Outcome> {
        let mut ops = self.ops.lock();
        let slot = cipher_slot(&mut ops, d);
        let a = slot.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        a.updated = true;
        let r = if a.single {
            err(CKR_OPERATION_ACTIVE)
        } else if a.needs_auth {
            err(CKR_USER_NOT_LOGGED_IN)
        } else {
            let bound = a.op.update_len(input.len());
            let op = &mut a.op;
            produce(&mut a.pending, out, bound, |b| op.update(input, b))
        };
        settle(slot, &r, false);
        r
    }

    pub fn cipher_final(&self, d: CipherDir, out: Out<'_>) -> Result<Outcome> {
        let mut ops = self.ops.lock();
        let slot = cipher_slot(&mut ops, d);
        let a = slot.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let r = if a.single {
            err(CKR_OPERATION_ACTIVE)
        } else {
            let bound = a.op.final_len();
            let op = &mut a.op;
            produce(&mut a.pending, out, bound, |b| op.finalize(b))
        };
        settle(slot, &r, true);
        r
    }

    // ---- digest ----

    pub fn digest_init(&self, m: &Mech) -> Result<()> {
        let mut ops = self.ops.lock();
        if ops.digest.is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        let op = mech_entry(m.ty, CKF_DIGEST)?.imp.digest(&m.params)?;
        ops.digest = Some(Active::new(op, false));
        Ok(())
    }

    pub fn digest_cancel(&self) {
        self.ops.lock().digest = None;
    }

    pub fn digest(&self, data: &[u8], out: Out<'_>) -> Result<Outcome> {
        let mut ops = self.ops.lock();
        let a = ops.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        a.single = true;
        let len = a.op.len();
        let r = match out {
            _ if a.updated => err(CKR_OPERATION_ACTIVE),
            Out::Buf(b) if b.len() >= len => {
                a.op.update(data);
                Ok(Outcome::Written(a.op.finalize(b)))
            }
            _ => Ok(Outcome::Needed(len)),
        };
        settle(&mut ops.digest, &r, true);
        r
    }

    pub fn digest_update(&self, data: &[u8]) -> Result<()> {
        let mut ops = self.ops.lock();
        let a = ops.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if a.single {
            ops.digest = None;
            return err(CKR_OPERATION_ACTIVE);
        }
        a.updated = true;
        a.op.update(data);
        Ok(())
    }

    pub fn digest_final(&self, out: Out<'_>) -> Result<Outcome> {
        let mut ops = self.ops.lock();
        let a = ops.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let len = a.op.len();
        let r = match out {
            _ if a.single => err(CKR_OPERATION_ACTIVE),
            Out::Buf(b) if b.len() >= len => Ok(Outcome::Written(a.op.finalize(b))),
            _ => Ok(Outcome::Needed(len)),
        };
        settle(&mut ops.digest, &r, true);
        r
    }

    // ---- sign / verify ----

    pub fn sign_cancel(&self, d: SignDir) {
        *sign_slot(&mut self.ops.lock(), d) = None;
    }

    pub fn sign_update(&self, d: SignDir, data: &[u8]) -> Result<()> {
        let mut ops = self.ops.lock();
        let slot = sign_slot(&mut ops, d);
        let a = slot.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        a.updated = true;
        let r = if a.single { err(CKR_OPERATION_ACTIVE) } else { a.op.update(data) };
        if r.is_err() {
            *slot = None;
        }
        r
    }

    /// `C_Sign` (single part, `data` given) or `C_SignFinal` (`data` None).
    pub fn sign(&self, data: Option<&[u8]>, out: Out<'_>) -> Result<Outcome> {
        let mut ops = self.ops.lock();
        let a = ops.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let mixed = if data.is_some() { a.updated } else { a.single };
        a.single |= data.is_some();
        if mixed {
            ops.sign = None;
            return err(CKR_OPERATION_ACTIVE);
        }
        if a.needs_auth {
            ops.sign = None;
            return err(CKR_USER_NOT_LOGGED_IN);
        }
        let len = a.op.sig_len();
        let r = match out {
            Out::Buf(b) if b.len() >= len => (|| {
                if let Some(d) = data {
                    a.op.update(d)?;
                }
                Ok(Outcome::Written(a.op.sign_final(b)?))
            })(),
            _ => Ok(Outcome::Needed(len)),
        };
        settle(&mut ops.sign, &r, true);
        r
    }

    /// `C_Verify` (`data` given) or `C_VerifyFinal`; always ends the operation.
    pub fn verify(&self, data: Option<&[u8]>, sig: &[u8]) -> Result<()> {
        let mut ops = self.ops.lock();
        let a = ops.verify.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let mixed = if data.is_some() { a.updated } else { a.single };
        if mixed {
            ops.verify = None;
            return err(CKR_OPERATION_ACTIVE);
        }
        let r = (|| {
            if let Some(d) = data {
                a.op.update(d)?;
            }
            a.op.verify_final(sig)
        })();
        ops.verify = None;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_follows_the_two_call_convention() {
        let mut pending = None;
        // Length query: the bound, nothing run.
        assert_eq!(produce(&mut pending, Out::Query, 32, |_| panic!("must not run")).unwrap(), Outcome::Needed(32));
        // Small buffer, exact result fits: written through scratch.
        let mut small = [0u8; 10];
        let r = produce(&mut pending, Out::Buf(&mut small), 32, |b| {
            b[..5].copy_from_slice(b"hello");
            Ok(5)
        });
        assert_eq!(r.unwrap(), Outcome::Written(5));
        assert_eq!(&small[..5], b"hello");
        // Too small: result kept, returned on the next call without running again.
        let mut tiny = [0u8; 2];
        let r = produce(&mut pending, Out::Buf(&mut tiny), 32, |b| {
            b[..5].copy_from_slice(b"world");
            Ok(5)
        });
        assert_eq!(r.unwrap(), Outcome::Needed(5));
        let mut big = [0u8; 8];
        let r = produce(&mut pending, Out::Buf(&mut big), 32, |_| panic!("must not run again"));
        assert_eq!(r.unwrap(), Outcome::Written(5));
        assert_eq!(&big[..5], b"world");
        assert!(pending.is_none());
    }
}
