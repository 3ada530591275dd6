//! AES-GCM with an IV of any length, through aws-lc's EVP cipher interface. SP 800-38D allows
//! IVs of 1 to 2^64 bits: a 96-bit IV is the pre-counter block's prefix, any other length is
//! hashed into it with GHASH. aws-lc-rs's AEAD takes 96-bit nonces only, so CKM_AES_GCM uses it
//! for those and this for the rest.

use super::{check, Failed, R};
use aws_lc_sys as sys;
use std::os::raw::c_int;

/// An EVP cipher context, freed on drop.
struct Ctx(*mut sys::EVP_CIPHER_CTX);

impl Ctx {
    fn new() -> R<Ctx> {
        // SAFETY: no preconditions; returns null on allocation failure, checked below.
        let p = unsafe { sys::EVP_CIPHER_CTX_new() };
        if p.is_null() {
            return Err(Failed);
        }
        Ok(Ctx(p))
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from EVP_CIPHER_CTX_new and is freed once; freeing also wipes
        // the key schedule.
        unsafe { sys::EVP_CIPHER_CTX_free(self.0) };
    }
}

fn cipher(key_len: usize) -> R<*const sys::EVP_CIPHER> {
    // SAFETY: these return pointers to static method tables; no preconditions.
    Ok(unsafe {
        match key_len {
            16 => sys::EVP_aes_128_gcm(),
            24 => sys::EVP_aes_192_gcm(),
            32 => sys::EVP_aes_256_gcm(),
            _ => return Err(Failed),
        }
    })
}

fn int(n: usize) -> R<c_int> {
    c_int::try_from(n).map_err(|_| Failed)
}

/// Sets up `ctx` for `key` and `iv` (either direction) and feeds the AAD.
fn start(ctx: &Ctx, encrypt: bool, key: &[u8], iv: &[u8], aad: &[u8]) -> R<()> {
    if iv.is_empty() {
        return Err(Failed);
    }
    let alg = cipher(key.len())?;
    let init = if encrypt { sys::EVP_EncryptInit_ex } else { sys::EVP_DecryptInit_ex };
    // SAFETY: a fresh context and a static cipher table; key and IV are given in the second call.
    check(unsafe { init(ctx.0, alg, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) })?;
    // SAFETY: the IV length control takes no pointer.
    check(unsafe {
        sys::EVP_CIPHER_CTX_ctrl(ctx.0, sys::EVP_CTRL_GCM_SET_IVLEN, int(iv.len())?, std::ptr::null_mut())
    })?;
    // SAFETY: `key` holds the cipher's key length (chosen by it above) and `iv` the length just
    // set; both are read during the call only.
    check(unsafe { init(ctx.0, std::ptr::null(), std::ptr::null_mut(), key.as_ptr(), iv.as_ptr()) })?;
    if !aad.is_empty() {
        let update = if encrypt { sys::EVP_EncryptUpdate } else { sys::EVP_DecryptUpdate };
        let mut n: c_int = 0;
        // SAFETY: a null output makes this an AAD update; `aad` is live with its length.
        check(unsafe { update(ctx.0, std::ptr::null_mut(), &mut n, aad.as_ptr(), int(aad.len())?) })?;
    }
    Ok(())
}

/// Encrypts `pt` into `out` as ciphertext || tag (the tag's first `tag_len` bytes, 1 to 16);
/// `out` holds at least `pt.len() + tag_len` bytes.
pub fn gcm_seal(key: &[u8], iv: &[u8], aad: &[u8], pt: &[u8], tag_len: usize, out: &mut [u8]) -> R<usize> {
    let total = pt.len().checked_add(tag_len).ok_or(Failed)?;
    if !(1..=16).contains(&tag_len) || out.len() < total {
        return Err(Failed);
    }
    let ctx = Ctx::new()?;
    start(&ctx, true, key, iv, aad)?;
    let mut n: c_int = 0;
    if !pt.is_empty() {
        // SAFETY: GCM is a stream mode: the update writes exactly `pt.len()` bytes, and `out`
        // has room for them; `pt` is a distinct live buffer.
        check(unsafe { sys::EVP_EncryptUpdate(ctx.0, out.as_mut_ptr(), &mut n, pt.as_ptr(), int(pt.len())?) })?;
    }
    let mut fin: c_int = 0;
    // SAFETY: GCM's final writes no bytes; the pointer is into `out`, in bounds.
    check(unsafe { sys::EVP_EncryptFinal_ex(ctx.0, out.as_mut_ptr().add(pt.len()), &mut fin) })?;
    let mut tag = [0u8; 16];
    // SAFETY: `tag` has room for 16 bytes, the most GET_TAG writes.
    check(unsafe { sys::EVP_CIPHER_CTX_ctrl(ctx.0, sys::EVP_CTRL_GCM_GET_TAG, 16, tag.as_mut_ptr().cast()) })?;
    out[pt.len()..total].copy_from_slice(&tag[..tag_len]);
    Ok(total)
}

/// Decrypts `ct` into `out` (at least `ct.len()` bytes) if `tag` (1 to 16 bytes, a truncated
/// tag compared on its length) is right; on failure `out` holds zeros.
pub fn gcm_open(key: &[u8], iv: &[u8], aad: &[u8], ct: &[u8], tag: &[u8], out: &mut [u8]) -> R<usize> {
    if !(1..=16).contains(&tag.len()) || out.len() < ct.len() {
        return Err(Failed);
    }
    let ctx = Ctx::new()?;
    start(&ctx, false, key, iv, aad)?;
    let mut n: c_int = 0;
    let mut ok = Ok(());
    if !ct.is_empty() {
        // SAFETY: as in `gcm_seal`: exactly `ct.len()` bytes are written into `out`, which has
        // room; `ct` is a distinct live buffer.
        ok = check(unsafe { sys::EVP_DecryptUpdate(ctx.0, out.as_mut_ptr(), &mut n, ct.as_ptr(), int(ct.len())?) });
    }
    let mut expected = [0u8; 16];
    expected[..tag.len()].copy_from_slice(tag);
    // SAFETY: SET_TAG reads `tag.len()` bytes from the buffer, which holds 16.
    let set = unsafe {
        sys::EVP_CIPHER_CTX_ctrl(ctx.0, sys::EVP_CTRL_GCM_SET_TAG, int(tag.len())?, expected.as_mut_ptr().cast())
    };
    let mut fin: c_int = 0;
    // SAFETY: GCM's final writes no bytes and checks the tag (in constant time, in aws-lc).
    let verified =
        ok.and(check(set)).and_then(|_| check(unsafe { sys::EVP_DecryptFinal_ex(ctx.0, out.as_mut_ptr(), &mut fin) }));
    if verified.is_err() {
        out[..ct.len()].fill(0);
        return Err(Failed);
    }
    Ok(ct.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GCM specification's (McGrew & Viega) test case 6: AES-128, a 60-byte IV.
    #[test]
    fn long_iv_known_answer_and_tampering() {
        let h = |s: &str| hex::decode(s).unwrap();
        let key = h("feffe9928665731c6d6a8f9467308308");
        let iv = h("9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b");
        let pt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let want = h("8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5619cc5aefffe0bfa462af43c1699d050");
        let mut out = vec![0u8; pt.len() + 16];
        assert_eq!(gcm_seal(&key, &iv, &aad, &pt, 16, &mut out), Ok(pt.len() + 16));
        assert_eq!(out, want);
        let (ct, tag) = want.split_at(pt.len());
        let mut back = vec![0u8; ct.len()];
        assert_eq!(gcm_open(&key, &iv, &aad, ct, tag, &mut back), Ok(ct.len()));
        assert_eq!(back, pt);
        assert_eq!(gcm_open(&key, &iv, &aad, ct, &tag[..12], &mut back), Ok(ct.len()), "a truncated tag");
        let mut bad = tag.to_vec();
        bad[0] ^= 1;
        assert_eq!(gcm_open(&key, &iv, &aad, ct, &bad, &mut back), Err(Failed));
        assert!(back.iter().all(|b| *b == 0));
        assert_eq!(gcm_seal(&key, &[], &aad, &pt, 16, &mut out), Err(Failed), "no empty IV");
    }
}
