//! PKCS#11 3.0's message-based functions: AES-GCM message encryption and decryption
//! (`C_MessageEncryptInit`, `C_EncryptMessage`, `…Begin`/`…Next`, `C_MessageEncryptFinal`, and
//! the decrypt side) and message signing with the MAC mechanisms (HMAC, CMAC, …).
//!
//! One initialization serves many messages, each with parameters of its own. For GCM those
//! carry the IV, which the token can make (`CK_GCM_MESSAGE_PARAMS.ivGenerator`): a counter in
//! the IV's free (non-fixed) bits that never repeats within the operation (`CKG_GENERATE`,
//! `CKG_GENERATE_COUNTER`, or XORed into the caller's IV, `CKG_GENERATE_COUNTER_XOR`), or random
//! free bits (`CKG_GENERATE_RANDOM`). The ciphertext is the plaintext's length and the tag goes
//! to the parameters' own buffer. A message begun part by part is sealed (or opened, once its
//! tag is seen) at its last part, like this token's multi-part GCM: earlier parts return no
//! output. Keys are checked as by `C_EncryptInit`/`C_SignInit` (usage, ACL, login, weak
//! mechanisms).

pub use super::message_op::{message_flags, GcmMessage, MsgDir, MsgOp};
use super::message_op::{Pending, MAX_BEGUN};
use super::session::Session;
use super::Library;
use crate::error::{err, Result};
use crate::mech::{Params, SignOp};
use cryptoki_sys::*;
use zeroize::Zeroizing;

fn slot(ops: &mut super::session::Ops, d: MsgDir) -> &mut Option<MsgOp> {
    match d {
        MsgDir::Encrypt => &mut ops.msg_encrypt,
        MsgDir::Decrypt => &mut ops.msg_decrypt,
        MsgDir::Sign => &mut ops.msg_sign,
        MsgDir::Verify => &mut ops.msg_verify,
    }
}

impl Library {
    /// `C_Message{Encrypt,Decrypt,Sign,Verify}Init`.
    pub fn message_init(
        &self,
        s: &Session,
        d: MsgDir,
        ty: CK_MECHANISM_TYPE,
        params: Params,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if slot(&mut s.ops.lock(), d).is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        self.weak_gate(ty)?;
        let (flag, usage) = match d {
            MsgDir::Encrypt => (CKF_ENCRYPT, CKA_ENCRYPT),
            MsgDir::Decrypt => (CKF_DECRYPT, CKA_DECRYPT),
            MsgDir::Sign => (CKF_SIGN, CKA_SIGN),
            MsgDir::Verify => (CKF_VERIFY, CKA_VERIFY),
        };
        let entry = crate::mech::lookup(ty).filter(|e| e.flags & flag != 0).ok_or(CKR_MECHANISM_INVALID)?;
        let cipher = matches!(d, MsgDir::Encrypt | MsgDir::Decrypt);
        // Only AEADs encrypt messages (GCM here); only MACs sign them.
        let wanted = if cipher { CKF_MESSAGE_ENCRYPT } else { CKF_MESSAGE_SIGN };
        if message_flags(ty) & wanted == 0 {
            return err(CKR_MECHANISM_INVALID);
        }
        let (obj, key) = self.usable_key(s, key, ty, usage, CKR_KEY_HANDLE_INVALID)?;
        if !cipher {
            if obj.attrs.class() != Some(CKO_SECRET_KEY) {
                return err(CKR_MECHANISM_INVALID);
            }
            entry.imp.sign(&params, &key)?; // the parameters and the key fit
        }
        if obj.attrs.flag(CKA_ALWAYS_AUTHENTICATE) {
            // Every message would be a use: not offered for such keys.
            return err(CKR_KEY_FUNCTION_NOT_PERMITTED);
        }
        *slot(&mut s.ops.lock(), d) = Some(MsgOp { ty, params, key, counter: 0, pending: None });
        Ok(())
    }

    /// `C_Message…Final`: ends the operation (a message begun and not finished is dropped).
    pub fn message_final(&self, s: &Session, d: MsgDir) -> Result<()> {
        slot(&mut s.ops.lock(), d).take().map(|_| ()).ok_or_else(|| CKR_OPERATION_NOT_INITIALIZED.into())
    }

    /// `C_EncryptMessage`/`C_DecryptMessage`: one whole message. Encryption returns ciphertext
    /// || tag and makes the IV into `m.iv` if asked.
    pub fn cipher_message(
        &self,
        s: &Session,
        d: MsgDir,
        m: &mut GcmMessage,
        aad: &[u8],
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let mut ops = s.ops.lock();
        let op = slot(&mut ops, d).as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if op.pending.is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        if d == MsgDir::Encrypt {
            op.make_iv(m)?;
        }
        op.gcm(d == MsgDir::Decrypt, m, aad, input)
    }

    /// `C_EncryptMessageBegin`/`C_DecryptMessageBegin` (the IV is made now).
    pub fn cipher_message_begin(&self, s: &Session, d: MsgDir, mut m: GcmMessage, aad: &[u8]) -> Result<Vec<u8>> {
        let mut ops = s.ops.lock();
        let op = slot(&mut ops, d).as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if op.pending.is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        if d == MsgDir::Encrypt {
            op.make_iv(&mut m)?;
        }
        let iv = m.iv.clone();
        op.pending = Some(Pending::Cipher { msg: m, aad: aad.to_vec(), data: Zeroizing::new(Vec::new()) });
        Ok(iv)
    }

    /// `C_EncryptMessageNext`/`C_DecryptMessageNext`: buffers `part`; at the last part, the
    /// whole message's output (and, decrypting, the tag from `tag`).
    pub fn cipher_message_next(
        &self,
        s: &Session,
        d: MsgDir,
        part: &[u8],
        last: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let mut ops = s.ops.lock();
        let op = slot(&mut ops, d).as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let Some(Pending::Cipher { data, .. }) = op.pending.as_mut() else { return err(CKR_OPERATION_NOT_INITIALIZED) };
        if data.len().saturating_add(part.len()) > MAX_BEGUN {
            op.pending = None;
            return err(CKR_DATA_LEN_RANGE);
        }
        data.extend_from_slice(part);
        let Some(tag) = last else { return Ok(Zeroizing::new(Vec::new())) };
        let Some(Pending::Cipher { mut msg, aad, data }) = op.pending.take() else { return err(CKR_GENERAL_ERROR) };
        if d == MsgDir::Decrypt {
            msg.tag = tag.to_vec();
        }
        op.gcm(d == MsgDir::Decrypt, &msg, &aad, &data)
    }

    /// What a message begun holds so far: the data (cipher), or the MAC's length (sign).
    pub fn message_pending_len(&self, s: &Session, d: MsgDir) -> Result<usize> {
        let mut ops = s.ops.lock();
        let op = slot(&mut ops, d).as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        match &op.pending {
            Some(Pending::Cipher { data, .. }) => Ok(data.len()),
            Some(Pending::Mac(mac)) => Ok(mac.sig_len()),
            None => err(CKR_OPERATION_NOT_INITIALIZED),
        }
    }

    /// `C_SignMessage`: a whole message's MAC.
    pub fn sign_message(&self, s: &Session, d: MsgDir, data: &[u8]) -> Result<Box<dyn SignOp>> {
        let mut ops = s.ops.lock();
        let op = slot(&mut ops, d).as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if op.pending.is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        let mut mac = op.mac()?;
        mac.update(data)?;
        Ok(mac)
    }

    /// `C_SignMessageBegin`/`C_VerifyMessageBegin`.
    pub fn sign_message_begin(&self, s: &Session, d: MsgDir) -> Result<()> {
        let mut ops = s.ops.lock();
        let op = slot(&mut ops, d).as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if op.pending.is_some() {
            return err(CKR_OPERATION_ACTIVE);
        }
        op.pending = Some(Pending::Mac(op.mac()?));
        Ok(())
    }

    /// `C_SignMessageNext`/`C_VerifyMessageNext`: adds `part`; at the last part hands back the
    /// MAC operation to finish.
    pub fn sign_message_next(
        &self,
        s: &Session,
        d: MsgDir,
        part: &[u8],
        last: bool,
    ) -> Result<Option<Box<dyn SignOp>>> {
        let mut ops = s.ops.lock();
        let op = slot(&mut ops, d).as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let Some(Pending::Mac(mac)) = op.pending.as_mut() else { return err(CKR_OPERATION_NOT_INITIALIZED) };
        if let Err(e) = mac.update(part) {
            op.pending = None;
            return Err(e);
        }
        if !last {
            return Ok(None);
        }
        match op.pending.take() {
            Some(Pending::Mac(mac)) => Ok(Some(mac)),
            _ => err(CKR_GENERAL_ERROR),
        }
    }
}
