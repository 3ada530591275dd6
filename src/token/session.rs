//! A session: its slot, read/write flag, and at most one active operation of each kind.

use super::Slot;
use crate::mech::{CipherOp, DigestOp, SignOp};
use crate::module::softcard::Who;
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::Arc;
use zeroize::Zeroizing;

pub struct Session {
    pub handle: CK_SESSION_HANDLE,
    pub slot: Arc<Slot>,
    pub rw: bool,
    pub ops: Mutex<Ops>,
}

impl Session {
    pub fn new(handle: CK_SESSION_HANDLE, slot: Arc<Slot>, rw: bool) -> Session {
        Session { handle, slot, rw, ops: Mutex::new(Ops::default()) }
    }

    /// `CKS_*` from the login state of the slot and this session's flags.
    pub fn state(&self) -> CK_STATE {
        match (self.slot.logged_in(), self.rw) {
            (Some(Who::So), _) => CKS_RW_SO_FUNCTIONS,
            (Some(Who::User), true) => CKS_RW_USER_FUNCTIONS,
            (Some(Who::User), false) => CKS_RO_USER_FUNCTIONS,
            (None, true) => CKS_RW_PUBLIC_SESSION,
            (None, false) => CKS_RO_PUBLIC_SESSION,
        }
    }
}

/// One operation in progress, plus what the two-call length convention needs: a result already
/// computed for a caller whose buffer was too small, returned on the next call.
pub struct Active<T: ?Sized> {
    pub op: Box<T>,
    /// An update call has been made (so a single-part call is refused).
    pub updated: bool,
    pub pending: Option<Zeroizing<Vec<u8>>>,
    /// CKA_ALWAYS_AUTHENTICATE key: needs a CKU_CONTEXT_SPECIFIC login first.
    pub needs_auth: bool,
    /// A single-part call (or its length query) has been made: the operation is committed to
    /// single-part, and `…Update`/`…Final` get `CKR_OPERATION_ACTIVE`.
    pub single: bool,
}

impl<T: ?Sized> Active<T> {
    pub fn new(op: Box<T>, needs_auth: bool) -> Self {
        Active { op, updated: false, pending: None, needs_auth, single: false }
    }
}

pub struct FindState {
    pub handles: Vec<CK_OBJECT_HANDLE>,
    pub pos: usize,
}

#[derive(Default)]
pub struct Ops {
    pub find: Option<FindState>,
    pub encrypt: Option<Active<dyn CipherOp>>,
    pub decrypt: Option<Active<dyn CipherOp>>,
    pub digest: Option<Active<dyn DigestOp>>,
    pub sign: Option<Active<dyn SignOp>>,
    pub verify: Option<Active<dyn SignOp>>,
    /// A `CKU_CONTEXT_SPECIFIC` login made with no operation waiting for it: it authorizes the
    /// next single-call use of a `CKA_ALWAYS_AUTHENTICATE` key (`C_DeriveKey`), once.
    pub context_credit: bool,
    /// The 3.0 message-based operations (`super::message`).
    pub msg_encrypt: Option<super::message_op::MsgOp>,
    pub msg_decrypt: Option<super::message_op::MsgOp>,
    pub msg_sign: Option<super::message_op::MsgOp>,
    pub msg_verify: Option<super::message_op::MsgOp>,
}

impl Ops {
    pub fn needs_context_login(&self) -> bool {
        self.sign.as_ref().map(|a| a.needs_auth).unwrap_or(false)
            || self.decrypt.as_ref().map(|a| a.needs_auth).unwrap_or(false)
    }
    /// Takes the one-shot authorization of a context-specific login made beforehand.
    pub fn take_context_credit(&mut self) -> bool {
        std::mem::take(&mut self.context_credit)
    }
    pub fn context_authenticated(&mut self) {
        if let Some(a) = self.sign.as_mut() {
            a.needs_auth = false;
        }
        if let Some(a) = self.decrypt.as_mut() {
            a.needs_auth = false;
        }
    }
}
