//! Operation state across calls: which errors end an active operation, `C_SessionCancel`, a
//! search that can match nothing, and the dual-function updates that feed one stream to two
//! active operations. The single operations themselves are in [`super::crypto`].

use super::crypto::{CipherDir, OpKind, Out, Outcome, SignDir};
use super::session::Session;
use super::Library;
use crate::error::{err, Result};
use crate::object::attr::{Attr, AttrMap};
use cryptoki_sys::*;

/// The four dual-function updates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dual {
    /// `C_DigestEncryptUpdate`: encrypt, then digest the plaintext.
    DigestEncrypt,
    /// `C_DecryptDigestUpdate`: decrypt, then digest the plaintext produced.
    DecryptDigest,
    /// `C_SignEncryptUpdate`: encrypt, then sign the plaintext.
    SignEncrypt,
    /// `C_DecryptVerifyUpdate`: decrypt, then verify the plaintext produced.
    DecryptVerify,
}

/// Produces output for the caller's buffer; the caller's side ([`Library::dual_update`]'s
/// `write`) applies the two-call length convention around it.
pub type Produce<'f> = &'f mut dyn FnMut(Out<'_>) -> Result<Outcome>;

impl Library {
    /// A call of an active operation. PKCS#11 ends the operation on any error but
    /// `CKR_BUFFER_TOO_SMALL` (argument errors such as a NULL length pointer included, so `call`
    /// holds the caller's marshalling as well); with no operation active
    /// (`CKR_OPERATION_NOT_INITIALIZED`) there is nothing to end.
    pub fn op_call(&self, s: &Session, kind: OpKind, call: impl FnOnce() -> Result<()>) -> Result<()> {
        let r = call();
        if let Err(e) = &r {
            if !matches!(e.rv(), CKR_BUFFER_TOO_SMALL | CKR_OPERATION_NOT_INITIALIZED) {
                s.cancel_op(kind);
            }
        }
        r
    }

    /// `C_SessionCancel`: ends the operations named by `flags` (`CKF_ENCRYPT`, …,
    /// `CKF_FIND_OBJECTS`); one that is not active is no error.
    pub fn session_cancel(&self, s: &Session, flags: CK_FLAGS) {
        if flags & CKF_ENCRYPT != 0 {
            s.cipher_cancel(CipherDir::Encrypt);
        }
        if flags & CKF_DECRYPT != 0 {
            s.cipher_cancel(CipherDir::Decrypt);
        }
        if flags & CKF_DIGEST != 0 {
            s.digest_cancel();
        }
        if flags & CKF_SIGN != 0 {
            s.sign_cancel(SignDir::Sign);
        }
        if flags & CKF_VERIFY != 0 {
            s.sign_cancel(SignDir::Verify);
        }
        if flags & CKF_FIND_OBJECTS != 0 {
            let _ = self.find_final(s);
        }
    }

    /// `C_FindObjectsInit` with a template naming an attribute we do not know: that is not an
    /// error, the search matches nothing.
    pub fn find_init_matching_nothing(&self, s: &Session) -> Result<()> {
        let mut never = AttrMap::new();
        never.set(CKA_CLASS, Attr::Ulong(CK_UNAVAILABLE_INFORMATION));
        self.find_init(s, &never)
    }

    /// A dual-function update: two active operations fed the same stream. The second operation
    /// (digest, sign or verify) must be active, or the call is `CKR_OPERATION_NOT_INITIALIZED`
    /// before `input` is read. The cipher's output goes through `write`, the caller's two-call
    /// length convention; the second operation sees the data only once the cipher has written
    /// (a length query feeds it nothing). An error here ends no operation by itself (the single
    /// operations settle their own state).
    pub fn dual_update<'i>(
        &self,
        s: &Session,
        dual: Dual,
        input: impl FnOnce() -> Result<&'i [u8]>,
        write: impl FnOnce(Produce<'_>) -> Result<()>,
    ) -> Result<()> {
        let active = {
            let ops = s.ops.lock();
            match dual {
                Dual::DigestEncrypt | Dual::DecryptDigest => ops.digest.is_some(),
                Dual::SignEncrypt => ops.sign.is_some(),
                Dual::DecryptVerify => ops.verify.is_some(),
            }
        };
        if !active {
            return err(CKR_OPERATION_NOT_INITIALIZED);
        }
        let input = input()?;
        match dual {
            Dual::DigestEncrypt | Dual::SignEncrypt => {
                let mut done = false;
                let r = write(&mut |out| {
                    let r = s.cipher_update(CipherDir::Encrypt, input, out)?;
                    done = matches!(r, Outcome::Written(_));
                    Ok(r)
                });
                // The ciphertext has reached the caller (and its length) before the second
                // operation runs.
                if done {
                    match dual {
                        Dual::DigestEncrypt => s.digest_update(input)?,
                        _ => s.sign_update(SignDir::Sign, input)?,
                    }
                }
                r
            }
            Dual::DecryptDigest => {
                write(&mut |out| self.decrypt_then(s, input, out, |_, s, plain| s.digest_update(plain)))
            }
            Dual::DecryptVerify => {
                write(&mut |out| self.decrypt_then(s, input, out, |_, s, plain| s.sign_update(SignDir::Verify, plain)))
            }
        }
    }

    /// Decrypt-update, then feed the produced plaintext to a second operation.
    fn decrypt_then(
        &self,
        s: &Session,
        input: &[u8],
        out: Out<'_>,
        then: impl FnOnce(&Library, &Session, &[u8]) -> Result<()>,
    ) -> Result<Outcome> {
        match out {
            Out::Query => s.cipher_update(CipherDir::Decrypt, input, Out::Query),
            Out::Buf(b) => {
                let r = s.cipher_update(CipherDir::Decrypt, input, Out::Buf(&mut *b))?;
                if let Outcome::Written(n) = r {
                    then(self, s, &b[..n])?;
                }
                Ok(r)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::Params;
    use crate::token::crypto::Mech;
    use crate::token::MODULE_SLOT;
    use sha2::{Digest, Sha256};
    use std::sync::Arc;

    /// A library on an empty store, a session on the module slot and an AES key in it.
    fn setup() -> (tempfile::TempDir, Library, Arc<Session>, CK_OBJECT_HANDLE) {
        let dir = tempfile::tempdir().unwrap();
        let l = Library::open(&dir.path().join("kmdata")).unwrap();
        let h = l.open_session(MODULE_SLOT, CKF_SERIAL_SESSION).unwrap();
        let s = l.session(h).unwrap();
        let t: AttrMap = [
            (CKA_CLASS, Attr::Ulong(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, Attr::Ulong(CKK_AES)),
            (CKA_VALUE, Attr::bytes(vec![7u8; 16])),
            (CKA_ENCRYPT, Attr::Bool(true)),
            (CKA_DECRYPT, Attr::Bool(true)),
        ]
        .into_iter()
        .collect();
        let k = l.create_object(&s, &t).unwrap();
        (dir, l, s, k)
    }

    fn cbc() -> Mech {
        Mech { ty: CKM_AES_CBC, params: Params::Iv(vec![1u8; 16]) }
    }

    fn sha256() -> Mech {
        Mech { ty: CKM_SHA256, params: Params::None }
    }

    fn digest_final(s: &Session) -> Vec<u8> {
        let mut d = [0u8; 32];
        assert_eq!(s.digest_final(Out::Buf(&mut d)).unwrap(), Outcome::Written(32));
        d.to_vec()
    }

    #[test]
    fn op_call_ends_the_operation_on_errors_but_buffer_too_small() {
        let (_dir, l, s, _) = setup();
        s.digest_init(&sha256()).unwrap();
        let r = l.op_call(&s, OpKind::Digest, || err(CKR_BUFFER_TOO_SMALL));
        assert_eq!(r.unwrap_err().rv(), CKR_BUFFER_TOO_SMALL);
        assert!(s.ops.lock().digest.is_some());
        let r = l.op_call(&s, OpKind::Digest, || err(CKR_ARGUMENTS_BAD));
        assert_eq!(r.unwrap_err().rv(), CKR_ARGUMENTS_BAD);
        assert!(s.ops.lock().digest.is_none());
    }

    #[test]
    fn dual_updates_feed_both_operations() {
        let (_dir, l, s, k) = setup();
        let data = [5u8; 32];

        // The second operation must be active, and is checked before the input is read.
        l.cipher_init(&s, CipherDir::Encrypt, &cbc(), k).unwrap();
        let r = l.dual_update(&s, Dual::DigestEncrypt, || panic!("input read"), |_| panic!("output written"));
        assert_eq!(r.unwrap_err().rv(), CKR_OPERATION_NOT_INITIALIZED);

        // A length query feeds the digest nothing; the real call feeds it the plaintext.
        s.digest_init(&sha256()).unwrap();
        let mut ct = [0u8; 32];
        let mut seen = None;
        l.dual_update(
            &s,
            Dual::DigestEncrypt,
            || Ok(&data[..]),
            |f| {
                seen = Some(f(Out::Query)?);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, Some(Outcome::Needed(32)));
        l.dual_update(
            &s,
            Dual::DigestEncrypt,
            || Ok(&data[..]),
            |f| {
                seen = Some(f(Out::Buf(&mut ct))?);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, Some(Outcome::Written(32)));
        assert_eq!(s.cipher_final(CipherDir::Encrypt, Out::Buf(&mut [0u8; 16])).unwrap(), Outcome::Written(0));
        assert_eq!(digest_final(&s), Sha256::digest(data).to_vec());

        // Decrypt-digest: the digest sees the plaintext produced.
        l.cipher_init(&s, CipherDir::Decrypt, &cbc(), k).unwrap();
        s.digest_init(&sha256()).unwrap();
        let mut pt = [0u8; 32];
        l.dual_update(&s, Dual::DecryptDigest, || Ok(&ct[..]), |f| f(Out::Buf(&mut pt)).map(|_| ())).unwrap();
        assert_eq!(pt, data);
        assert_eq!(digest_final(&s), Sha256::digest(data).to_vec());
    }
}
