//! Message digests: CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512.

use super::{DigestOp, Mechanism, Params};
use crate::error::{err, Result};
use aws_lc_rs::digest::{self, Algorithm, Context};
use cryptoki_sys::*;

/// One digest mechanism.
pub struct Digest {
    alg: &'static Algorithm,
}

pub static SHA1: Digest = Digest { alg: &digest::SHA1_FOR_LEGACY_USE_ONLY };
pub static SHA224: Digest = Digest { alg: &digest::SHA224 };
pub static SHA256: Digest = Digest { alg: &digest::SHA256 };
pub static SHA384: Digest = Digest { alg: &digest::SHA384 };
pub static SHA512: Digest = Digest { alg: &digest::SHA512 };

/// The engine algorithm of a digest mechanism type (for OAEP/PSS hashes, signatures, ...).
pub fn algorithm_for(mech: CK_MECHANISM_TYPE) -> Option<&'static Algorithm> {
    match mech {
        CKM_SHA_1 => Some(&digest::SHA1_FOR_LEGACY_USE_ONLY),
        CKM_SHA224 => Some(&digest::SHA224),
        CKM_SHA256 => Some(&digest::SHA256),
        CKM_SHA384 => Some(&digest::SHA384),
        CKM_SHA512 => Some(&digest::SHA512),
        _ => None,
    }
}

impl Mechanism for Digest {
    fn digest(&self, p: &Params) -> Result<Box<dyn DigestOp>> {
        if !matches!(p, Params::None) {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        Ok(Box::new(DigestCtx { ctx: Context::new(self.alg) }))
    }
}

struct DigestCtx {
    ctx: Context,
}

impl DigestOp for DigestCtx {
    fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    fn len(&self) -> usize {
        self.ctx.algorithm().output_len()
    }

    /// Writes the digest and resets the context. `out` must hold [`DigestOp::len`] bytes; when
    /// it is shorter nothing is written, the state is kept, and 0 is returned.
    fn finalize(&mut self, out: &mut [u8]) -> usize {
        let n = self.len();
        if out.len() < n {
            return 0;
        }
        let alg = self.ctx.algorithm();
        let ctx = std::mem::replace(&mut self.ctx, Context::new(alg));
        out[..n].copy_from_slice(ctx.finish().as_ref());
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2 Appendix A/B/C one-block message.
    const ABC: &[u8] = b"abc";
    /// FIPS 180-2 Appendix A.2/B.2 multi-block message (448 bits).
    const M448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    /// FIPS 180-2 Appendix C.2 / D.2 message (896 bits).
    const M896: &[u8] = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

    fn run(m: &Digest, data: &[u8]) -> Vec<u8> {
        let mut op = m.digest(&Params::None).unwrap();
        op.update(data);
        let mut out = vec![0u8; op.len()];
        let n = op.finalize(&mut out);
        assert_eq!(n, out.len());
        out
    }

    fn check(m: &Digest, data: &[u8], expect: &str) {
        assert_eq!(hex::encode(run(m, data)), expect);
        // Same answer when fed one byte at a time and in uneven pieces.
        let mut op = m.digest(&Params::None).unwrap();
        for b in data {
            op.update(std::slice::from_ref(b));
        }
        let mut out = vec![0u8; op.len()];
        op.finalize(&mut out);
        assert_eq!(hex::encode(&out), expect);
        let mut op = m.digest(&Params::None).unwrap();
        for c in data.chunks(7) {
            op.update(c);
        }
        op.finalize(&mut out);
        assert_eq!(hex::encode(&out), expect);
    }

    #[test]
    fn sha1_fips180() {
        check(&SHA1, ABC, "a9993e364706816aba3e25717850c26c9cd0d89d");
        check(&SHA1, M448, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    }

    #[test]
    fn sha224_fips180() {
        check(&SHA224, ABC, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7");
        check(&SHA224, M448, "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525");
    }

    #[test]
    fn sha256_fips180() {
        check(&SHA256, ABC, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        check(&SHA256, M448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    }

    #[test]
    fn sha256_million_a() {
        let mut op = SHA256.digest(&Params::None).unwrap();
        let chunk = [b'a'; 1000];
        for _ in 0..1000 {
            op.update(&chunk);
        }
        let mut out = [0u8; 32];
        assert_eq!(op.finalize(&mut out), 32);
        assert_eq!(hex::encode(out), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    }

    #[test]
    fn sha384_fips180() {
        check(
            &SHA384,
            ABC,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        );
        check(
            &SHA384,
            M448,
            "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6b0455a8520bc4e6f5fe95b1fe3c8452b",
        );
        check(
            &SHA384,
            M896,
            "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039",
        );
    }

    #[test]
    fn sha512_fips180() {
        check(
            &SHA512,
            ABC,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        );
        check(
            &SHA512,
            M448,
            "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445",
        );
        check(
            &SHA512,
            M896,
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
        );
    }

    #[test]
    fn empty_message_and_reuse_after_finalize() {
        // FIPS 180 family digests of the empty string (NIST CAVP ShortMsg Len = 0).
        assert_eq!(hex::encode(run(&SHA1, b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex::encode(run(&SHA256, b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        // After finalize the context is fresh again.
        let mut op = SHA256.digest(&Params::None).unwrap();
        op.update(b"ignored");
        let mut out = [0u8; 32];
        op.finalize(&mut out);
        op.update(ABC);
        op.finalize(&mut out);
        assert_eq!(hex::encode(out), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn short_output_keeps_state() {
        let mut op = SHA1.digest(&Params::None).unwrap();
        op.update(ABC);
        let mut small = [0u8; 19];
        assert_eq!(op.finalize(&mut small), 0);
        assert_eq!(small, [0u8; 19]);
        let mut out = [0u8; 20];
        assert_eq!(op.finalize(&mut out), 20);
        assert_eq!(hex::encode(out), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn lengths_params_and_lookup() {
        for (m, len) in [(&SHA1, 20), (&SHA224, 28), (&SHA256, 32), (&SHA384, 48), (&SHA512, 64)] {
            assert_eq!(m.digest(&Params::None).unwrap().len(), len);
            assert_eq!(m.digest(&Params::Raw(vec![1])).err().map(|e| e.rv()), Some(CKR_MECHANISM_PARAM_INVALID));
        }
        for (t, len) in [(CKM_SHA_1, 20), (CKM_SHA224, 28), (CKM_SHA256, 32), (CKM_SHA384, 48), (CKM_SHA512, 64)] {
            assert_eq!(algorithm_for(t).map(|a| a.output_len()), Some(len));
        }
        assert!(algorithm_for(CKM_MD5).is_none());
        assert!(algorithm_for(CKM_SHA256_HMAC).is_none());
    }
}
