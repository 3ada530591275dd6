//! The identifiers nShield prints as hashes (world, module, card set, softcard and key
//! hashes), shared by every kind of kmdata file.

/// 40-hex (SHA-1-sized) identifier as nShield prints hashes; SHA-256 truncated.
pub fn hash_hex(parts: &[&[u8]]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    hex::encode(&ctx.finish().as_ref()[..20])
}
