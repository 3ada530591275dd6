//! The identifiers nShield prints as hashes (world, module, card set, softcard and key
//! hashes), shared by every kind of kmdata file.

/// The 20-byte (SHA-1-sized) hash nShield identifiers have: SHA-256 of `parts`, truncated.
pub fn hash20(parts: &[&[u8]]) -> [u8; 20] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(&ctx.finish().as_ref()[..20]);
    out
}

/// 40-hex identifier as nShield prints hashes: [`hash20`] in hex.
pub fn hash_hex(parts: &[&[u8]]) -> String {
    hex::encode(hash20(parts))
}

/// CKA_NFKM_HASH of a key object stored in file `name` (emulated: [`hash20`] of the file name),
/// for the keys the token makes and those `generatekey` makes alike.
pub fn key_hash(name: &str) -> Vec<u8> {
    hash20(&[name.as_bytes()]).to_vec()
}
