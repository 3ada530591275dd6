//! Hash-then-sign over a digest-signing key, shared by ECDSA and DSA: CKM_ECDSA / CKM_DSA sign
//! the caller's digest, the CKM_*_SHAxxx forms hash the data first (single- or multi-part).

#![forbid(unsafe_code)]

use super::ffi::Md;
use super::{Params, SignOp};
use crate::error::{err, Error, Result};
use aws_lc_rs::digest;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A key that signs and verifies a digest.
pub(crate) trait DigestSigner: Send + Sync + 'static {
    fn sig_len(&self) -> usize;
    /// Signs `digest` into `out`, exactly [`DigestSigner::sig_len`] bytes.
    fn sign_digest(&self, digest: &[u8], out: &mut [u8]) -> std::result::Result<(), ()>;
    fn verify_digest(&self, digest: &[u8], sig: &[u8]) -> bool;
}

/// Which caller digests the raw mechanism (no hash) takes.
pub(crate) struct RawDigest {
    /// The lengths accepted; empty: any length from 1 to `max`.
    pub lens: &'static [usize],
    /// The most buffered (bounds multi-part input).
    pub max: usize,
}

enum Msg {
    Raw(Vec<u8>),
    Hash(digest::Context),
}

struct Op<K> {
    key: Arc<K>,
    raw: &'static RawDigest,
    /// `None` once finished.
    msg: Option<Msg>,
}

/// A sign or verify operation of `key`: hashing with `hash`, or over the caller's digest.
pub(crate) fn start<K: DigestSigner>(
    p: &Params,
    hash: Option<Md>,
    raw: &'static RawDigest,
    key: &Arc<K>,
) -> Result<Box<dyn SignOp>> {
    if !matches!(p, Params::None) {
        return err(CKR_MECHANISM_PARAM_INVALID);
    }
    let msg = match hash {
        Some(md) => Msg::Hash(digest::Context::new(md.algorithm())),
        None => Msg::Raw(Vec::new()),
    };
    Ok(Box::new(Op { key: key.clone(), raw, msg: Some(msg) }))
}

impl<K: DigestSigner> Op<K> {
    fn digest(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        match self.msg.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)? {
            Msg::Raw(v) if v.is_empty() || (!self.raw.lens.is_empty() && !self.raw.lens.contains(&v.len())) => {
                err(CKR_DATA_LEN_RANGE)
            }
            Msg::Raw(v) => Ok(Zeroizing::new(v)),
            Msg::Hash(ctx) => Ok(Zeroizing::new(ctx.finish().as_ref().to_vec())),
        }
    }
}

impl<K: DigestSigner> SignOp for Op<K> {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        match self.msg.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)? {
            Msg::Raw(v) => {
                if v.len() + data.len() > self.raw.max {
                    return err(CKR_DATA_LEN_RANGE);
                }
                v.extend_from_slice(data);
            }
            Msg::Hash(ctx) => ctx.update(data),
        }
        Ok(())
    }

    fn sig_len(&self) -> usize {
        self.key.sig_len()
    }

    fn sign_final(&mut self, out: &mut [u8]) -> Result<usize> {
        let n = self.key.sig_len();
        if out.len() < n {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        let d = self.digest()?;
        self.key.sign_digest(&d, &mut out[..n]).map_err(|_| Error::new(CKR_FUNCTION_FAILED))?;
        Ok(n)
    }

    fn verify_final(&mut self, sig: &[u8]) -> Result<()> {
        let d = self.digest()?;
        if sig.len() != self.key.sig_len() {
            return err(CKR_SIGNATURE_LEN_RANGE);
        }
        if self.key.verify_digest(&d, sig) {
            Ok(())
        } else {
            err(CKR_SIGNATURE_INVALID)
        }
    }
}
