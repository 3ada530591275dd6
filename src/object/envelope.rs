//! The envelope every sealed file in kmdata uses: AES-256-GCM with the file's identity (format,
//! name, owner) as associated data. Object files ([`super::stored`]) and the module's world,
//! softcard and card-set files (`crate::module`) all seal with it.

use crate::error::Result;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use cryptoki_sys::*;
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
/// An envelope key, wiped when dropped.
pub type SecretKey32 = Zeroizing<[u8; KEY_LEN]>;

/// `nonce || ciphertext || tag`. `aad` binds what the blob is (format, name, owner) so a blob
/// copied to another name or token fails to open.
pub fn seal(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?);
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce)?;
    let mut buf = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    buf.extend_from_slice(&nonce);
    let mut body = plaintext.to_vec();
    k.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body)?;
    buf.extend_from_slice(&body);
    Ok(buf)
}

/// Inverse of [`seal`]; any tampering, wrong key or wrong `aad` is an error.
pub fn open(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(CKR_DEVICE_ERROR.into());
    }
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?);
    let nonce = Nonce::try_assume_unique_for_key(&sealed[..NONCE_LEN])?;
    let mut body = Zeroizing::new(sealed[NONCE_LEN..].to_vec());
    let n = k.open_in_place(nonce, Aad::from(aad), &mut body)?.len();
    body.truncate(n);
    Ok(body)
}

/// A fresh random key (a world's module key, a logical token).
pub fn random_key() -> Result<SecretKey32> {
    let mut k = Zeroizing::new([0u8; KEY_LEN]);
    aws_lc_rs::rand::fill(&mut k[..])?;
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_binds_key_and_aad() {
        let k = random_key().unwrap();
        let blob = seal(&k, b"name-a", b"secret").unwrap();
        assert_eq!(&open(&k, b"name-a", &blob).unwrap()[..], b"secret");
        assert!(open(&k, b"name-b", &blob).is_err());
        let k2 = random_key().unwrap();
        assert!(open(&k2, b"name-a", &blob).is_err());
        let mut t = blob.clone();
        t[20] ^= 1;
        assert!(open(&k, b"name-a", &t).is_err());
    }
}
