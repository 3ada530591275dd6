//! The state of a 3.0 message-based operation (see [`super::message`]): the key, the IV
//! counter, a message begun part by part, and the GCM and MAC work on whole messages.

use crate::error::{err, Result};
use crate::mech::{self, KeyMaterial, Params, SignOp};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The most a message begun part by part may hold before its last part (it is buffered).
pub(super) const MAX_BEGUN: usize = 1 << 30;

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
pub(super) enum Pending {
    Cipher { msg: GcmMessage, aad: Vec<u8>, data: Zeroizing<Vec<u8>> },
    Mac(Box<dyn SignOp>),
}

/// An initialized message operation of a session.
pub struct MsgOp {
    pub(super) ty: CK_MECHANISM_TYPE,
    pub(super) params: Params,
    pub(super) key: Arc<KeyMaterial>,
    /// IVs this operation's counter has made: never the same twice.
    pub(super) counter: u64,
    pub(super) pending: Option<Pending>,
}

impl MsgOp {
    /// Makes the IV a generator asks for (encryption only).
    pub(super) fn make_iv(&mut self, m: &mut GcmMessage) -> Result<()> {
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
    pub(super) fn gcm(&self, decrypt: bool, m: &GcmMessage, aad: &[u8], input: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
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

    pub(super) fn mac(&self) -> Result<Box<dyn SignOp>> {
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
