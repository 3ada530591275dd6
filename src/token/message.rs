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

use super::session::Session;
use super::Library;
use crate::error::{err, Result};
use crate::mech::{self, KeyMaterial, Params, SignOp};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The most a message begun part by part may hold before its last part (it is buffered).
const MAX_BEGUN: usize = 1 << 30;

/// Which message operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgDir {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
}

/// One GCM message's parameters, as the caller gave them (the IV possibly to be made).
pub struct GcmMessage {
    pub iv: Vec<u8>,
    pub fixed_bits: usize,
    pub generator: CK_GENERATOR_FUNCTION,
    pub tag_bits: usize,
    /// The tag (decryption); for encryption the tag is returned.
    pub tag: Vec<u8>,
}

/// A message begun part by part.
enum Pending {
    Cipher { msg: GcmMessage, aad: Vec<u8>, data: Zeroizing<Vec<u8>> },
    Mac(Box<dyn SignOp>),
}

/// An initialized message operation of a session.
pub struct MsgOp {
    ty: CK_MECHANISM_TYPE,
    params: Params,
    key: Arc<KeyMaterial>,
    /// IVs this operation's counter has made: never the same twice.
    counter: u64,
    pending: Option<Pending>,
}

impl MsgOp {
    /// Makes the IV a generator asks for (encryption only).
    fn make_iv(&mut self, m: &mut GcmMessage) -> Result<()> {
        if m.generator == CKG_NO_GENERATE {
            return Ok(());
        }
        let bits = m.iv.len() * 8;
        // The fixed part is whole bytes here; the free part must hold a 32-bit counter.
        if m.fixed_bits % 8 != 0 || m.fixed_bits > bits || bits - m.fixed_bits < 32 {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        let free = &mut m.iv[m.fixed_bits / 8..];
        match m.generator {
            CKG_GENERATE | CKG_GENERATE_COUNTER | CKG_GENERATE_COUNTER_XOR => {
                let n = self.counter;
                if free.len() < 8 && n >> (free.len() * 8) != 0 {
                    return err(CKR_DATA_LEN_RANGE); // the counter is exhausted
                }
                self.counter = n.checked_add(1).ok_or(CKR_DATA_LEN_RANGE)?;
                let be = n.to_be_bytes();
                let len = free.len();
                for (i, b) in free.iter_mut().enumerate() {
                    let from_end = len - 1 - i;
                    let c = if from_end < 8 { be[7 - from_end] } else { 0 };
                    *b = if m.generator == CKG_GENERATE_COUNTER_XOR { *b ^ c } else { c };
                }
            }
            CKG_GENERATE_RANDOM => aws_lc_rs::rand::fill(free)?,
            _ => return err(CKR_MECHANISM_PARAM_INVALID),
        }
        Ok(())
    }

    /// GCM over a whole message: ciphertext || tag (encryption), the plaintext (decryption).
    fn gcm(&self, decrypt: bool, m: &GcmMessage, aad: &[u8], input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let entry = mech::lookup(self.ty).ok_or(CKR_MECHANISM_INVALID)?;
        let p = Params::Gcm { iv: m.iv.clone(), aad: aad.to_vec(), tag_bits: m.tag_bits };
        let (mut op, whole) = if decrypt {
            if m.tag.len() * 8 != m.tag_bits {
                return err(CKR_MECHANISM_PARAM_INVALID);
            }
            let mut whole = Zeroizing::new(input.to_vec());
            whole.extend_from_slice(&m.tag);
            (entry.imp.decrypt(&p, &self.key)?, whole)
        } else {
            (entry.imp.encrypt(&p, &self.key)?, Zeroizing::new(input.to_vec()))
        };
        let mut out = Zeroizing::new(vec![0u8; op.single_len(whole.len())]);
        let n = op.single(&whole, &mut out).map_err(|e| match e.rv() {
            CKR_ENCRYPTED_DATA_INVALID => CKR_AEAD_DECRYPT_FAILED.into(),
            _ => e,
        })?;
        out.truncate(n);
        Ok(out)
    }

    fn mac(&self) -> Result<Box<dyn SignOp>> {
        let entry = mech::lookup(self.ty).ok_or(CKR_MECHANISM_INVALID)?;
        entry.imp.sign(&self.params, &self.key)
    }
}

/// The 3.0 message-API flags of a mechanism: GCM encrypts messages, the MACs sign them.
pub fn message_flags(ty: CK_MECHANISM_TYPE) -> CK_FLAGS {
    const MACS: &[CK_MECHANISM_TYPE] = &[
        CKM_SHA_1_HMAC,
        CKM_SHA_1_HMAC_GENERAL,
        CKM_SHA224_HMAC,
        CKM_SHA224_HMAC_GENERAL,
        CKM_SHA256_HMAC,
        CKM_SHA256_HMAC_GENERAL,
        CKM_SHA384_HMAC,
        CKM_SHA384_HMAC_GENERAL,
        CKM_SHA512_HMAC,
        CKM_SHA512_HMAC_GENERAL,
        CKM_AES_CMAC,
        CKM_AES_CMAC_GENERAL,
        CKM_DES3_CMAC,
        CKM_DES3_CMAC_GENERAL,
    ];
    match ty {
        CKM_AES_GCM => CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT | CKF_MULTI_MESSAGE,
        t if MACS.contains(&t) => CKF_MESSAGE_SIGN | CKF_MESSAGE_VERIFY | CKF_MULTI_MESSAGE,
        _ => 0,
    }
}

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
        let entry = super::crypto::mech_entry(ty, flag)?;
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
