//! DSA (FIPS 186) through aws-lc's DSA_* API: keys built from PKCS#11 components, domain
//! parameters and keys generated, and signatures over a digest as r || s.
//!
//! aws-lc bounds what it computes on (`dsa_check_key`: q of 160, 224 or 256 bits, p odd, above q
//! and at most 10000 bits, 0 < g < p, 0 < y < p) and caps signing retries, so no key makes it
//! loop; the mechanism layer narrows the sizes further.

use super::bn::{bn_bytes, bn_padded, mod_exp, probably_prime, Bn, BnCtx};
use super::dsa_comb::Verifier;
use super::{check, Failed, R};
use aws_lc_sys as sys;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Miller-Rabin rounds for caller-supplied primes (aws-lc's "validation" count: a composite
/// passes with probability at most 2^-128).
const VALIDATION_ROUNDS: i32 = 64;

/// A DSA key: domain parameters, the public value y, and x for private keys.
pub struct Dsa {
    dsa: NonNull<sys::DSA>,
    private: bool,
    /// Byte length of q (each half of a signature, the private value).
    q_len: usize,
    /// Fixed-base tables for verification, built at the first [`Dsa::verify`] that can have
    /// them (see dsa_comb.rs); until then aws-lc's own check is used.
    verifier: OnceLock<Verifier>,
}

// SAFETY: aws-lc's DSA objects may be used from several threads through const functions
// (DSA_do_sign, DSA_do_check_signature and the getters take `const DSA *`; the Montgomery
// contexts they cache are set under the object's own lock). Mutation happens only while
// constructing, before the value is shared.
unsafe impl Send for Dsa {}
// SAFETY: see `Send` above.
unsafe impl Sync for Dsa {}

impl Drop for Dsa {
    fn drop(&mut self) {
        // SAFETY: we own the key and free it once (aws-lc wipes the private value).
        unsafe { sys::DSA_free(self.dsa.as_ptr()) }
    }
}

/// Big-endian domain parameters and public value of a key.
pub struct DsaParts {
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub g: Zeroizing<Vec<u8>>,
    pub y: Zeroizing<Vec<u8>>,
}

impl Dsa {
    fn empty() -> R<NonNull<sys::DSA>> {
        // SAFETY: no preconditions; a new DSA we then own, or null.
        NonNull::new(unsafe { sys::DSA_new() }).ok_or(Failed)
    }

    /// Takes ownership of `dsa` once it holds a key, after aws-lc's bounds checks.
    fn adopt(dsa: NonNull<sys::DSA>, private: bool) -> R<Dsa> {
        let mut key = Dsa { dsa, private, q_len: 0, verifier: OnceLock::new() };
        let (mut p, mut q, mut g) = (ptr::null(), ptr::null(), ptr::null());
        // SAFETY: a valid DSA; the getter borrows its parameters (null when unset).
        unsafe { sys::DSA_get0_pqg(dsa.as_ptr(), &mut p, &mut q, &mut g) };
        if q.is_null() {
            return Err(Failed);
        }
        // SAFETY: `q` is non-null and owned by the live key.
        key.q_len = unsafe { sys::BN_num_bytes(q) } as usize;
        // DSA_do_check_signature runs `dsa_check_key` first: checking a dummy signature tells
        // whether the key is within aws-lc's bounds, without a signing key.
        key.check_bounds()?;
        Ok(key)
    }

    /// aws-lc's cheap key checks (q size, p odd and > q, g and y in range), reached through the
    /// one exported function that runs them and does not need a private key. The dummy
    /// signature has r = 0, which the function rejects right after those checks, before any
    /// arithmetic.
    fn check_bounds(&self) -> R<()> {
        let (r, s) = (Bn::from_be(&[0])?, Bn::from_be(&[0])?);
        // SAFETY: no preconditions.
        let sig = NonNull::new(unsafe { sys::DSA_SIG_new() }).ok_or(Failed)?;
        // SAFETY: `sig` is ours; set0 takes ownership of r and s (non-null, so it succeeds).
        unsafe { sys::DSA_SIG_set0(sig.as_ptr(), r.into_raw(), s.into_raw()) };
        let mut valid = 0;
        // SAFETY: valid signature and key, live one-byte digest; non-mutating for the key.
        let ok = unsafe { sys::DSA_do_check_signature(&mut valid, [0u8].as_ptr(), 1, sig.as_ptr(), self.dsa.as_ptr()) };
        // SAFETY: we own the signature and free it once.
        unsafe { sys::DSA_SIG_free(sig.as_ptr()) };
        check(ok)
    }

    /// Sets p, q, g on a fresh object (ownership passes to it).
    fn set_pqg(dsa: NonNull<sys::DSA>, p: &[u8], q: &[u8], g: &[u8]) -> R<()> {
        let (p, q, g) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?);
        // SAFETY: `dsa` is fresh and exclusively ours; set0 takes ownership of the three non-null
        // BIGNUMs (it fails, taking nothing, only for nulls).
        check(unsafe { sys::DSA_set0_pqg(dsa.as_ptr(), p.into_raw(), q.into_raw(), g.into_raw()) })
    }

    /// A public key from p, q, g and y.
    pub fn new_public(p: &[u8], q: &[u8], g: &[u8], y: &[u8]) -> R<Dsa> {
        let dsa = Self::empty()?;
        let built = (|| {
            Self::set_pqg(dsa, p, q, g)?;
            let y = Bn::from_be(y)?;
            // SAFETY: exclusively ours; set0 takes ownership of `y`; a null private key is allowed.
            check(unsafe { sys::DSA_set0_key(dsa.as_ptr(), y.into_raw(), ptr::null_mut()) })
        })();
        Self::finish(dsa, built, false)
    }

    /// A private key from p, q, g and x (1 <= x < q); y = g^x mod p is computed.
    pub fn new_private(p: &[u8], q: &[u8], g: &[u8], x: &[u8]) -> R<Dsa> {
        let (pb, qb, gb, xb) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?, Bn::from_be(x)?);
        if xb.is_word(0) || xb.cmp(&qb) != std::cmp::Ordering::Less || !pb.is_odd() {
            return Err(Failed);
        }
        let ctx = BnCtx::new()?;
        let mut y = Bn::new()?;
        mod_exp(&mut y, &gb, &xb, &pb, &ctx)?;
        let dsa = Self::empty()?;
        let built = (|| {
            Self::set_pqg(dsa, p, q, g)?;
            // SAFETY: exclusively ours; set0 takes ownership of both non-null BIGNUMs.
            check(unsafe { sys::DSA_set0_key(dsa.as_ptr(), y.into_raw(), xb.into_raw()) })
        })();
        Self::finish(dsa, built, true)
    }

    fn finish(dsa: NonNull<sys::DSA>, built: R<()>, private: bool) -> R<Dsa> {
        if built.is_err() {
            // SAFETY: still exclusively ours; freed once.
            unsafe { sys::DSA_free(dsa.as_ptr()) };
            return Err(Failed);
        }
        Self::adopt(dsa, private)
    }

    /// New domain parameters with a `bits`-bit p (FIPS 186-3 A.1.1.2 with SHA-256 for 2048 bits
    /// and more, giving a 256-bit q; SHA-1 and a 160-bit q below). Only parameters: no key.
    pub fn generate_params(bits: u32) -> R<DsaParts> {
        let dsa = Self::empty()?;
        // SAFETY: exclusively ours; null seed and outputs are allowed; a null callback too.
        let ok = unsafe {
            sys::DSA_generate_parameters_ex(
                dsa.as_ptr(),
                bits,
                ptr::null(),
                0,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        let parts = check(ok).and_then(|_| {
            let (mut p, mut q, mut g) = (ptr::null(), ptr::null(), ptr::null());
            // SAFETY: a valid DSA; borrowed parameters, copied before the key is freed.
            unsafe { sys::DSA_get0_pqg(dsa.as_ptr(), &mut p, &mut q, &mut g) };
            Ok(DsaParts { p: bn_bytes(p)?, q: bn_bytes(q)?, g: bn_bytes(g)?, y: Zeroizing::new(Vec::new()) })
        });
        // SAFETY: exclusively ours; freed once, after the copies above.
        unsafe { sys::DSA_free(dsa.as_ptr()) };
        parts
    }

    /// Checks caller-supplied domain parameters before a key is generated on them (FIPS 186-4
    /// A.1.1.1 and A.2.2, without the seed): p and q prime, q divides p - 1, 1 < g < p and
    /// g^q = 1 mod p. Bounded work: two primality tests and one exponentiation.
    pub fn validate_params(p: &[u8], q: &[u8], g: &[u8]) -> R<bool> {
        let (p, q, g) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?);
        let ctx = BnCtx::new()?;
        if !p.is_odd() || g.is_word(0) || g.is_word(1) || g.cmp(&p) != std::cmp::Ordering::Less {
            return Ok(false);
        }
        let mut rem = Bn::new()?;
        let mut pm1 = Bn::new()?;
        super::bn::copy_minus(&mut pm1, &p, 1)?;
        // SAFETY: valid BIGNUMs and context; `rem` exclusively ours; a null quotient is allowed.
        check(unsafe { sys::BN_div(ptr::null_mut(), rem.as_mut_ptr(), pm1.as_ptr(), q.as_ptr(), ctx.as_ptr()) })?;
        if !rem.is_word(0) {
            return Ok(false);
        }
        let mut t = Bn::new()?;
        mod_exp(&mut t, &g, &q, &p, &ctx)?;
        Ok(t.is_word(1) && probably_prime(&q, VALIDATION_ROUNDS, &ctx)? && probably_prime(&p, VALIDATION_ROUNDS, &ctx)?)
    }

    /// A new key pair on the given domain parameters (x uniform in [1, q-1]).
    pub fn generate_key(p: &[u8], q: &[u8], g: &[u8]) -> R<Dsa> {
        let dsa = Self::empty()?;
        let built = Self::set_pqg(dsa, p, q, g).and_then(|_| {
            // SAFETY: exclusively ours; the function checks the bounds first.
            check(unsafe { sys::DSA_generate_key(dsa.as_ptr()) })
        });
        Self::finish(dsa, built, true)
    }

    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Signature length: r || s, each q's length.
    pub fn sig_len(&self) -> usize {
        2 * self.q_len
    }

    /// p, q, g and y, minimal big-endian.
    pub fn parts(&self) -> R<DsaParts> {
        let (mut p, mut q, mut g) = (ptr::null(), ptr::null(), ptr::null());
        // SAFETY: a valid DSA; borrowed values, copied while the key lives.
        unsafe { sys::DSA_get0_pqg(self.dsa.as_ptr(), &mut p, &mut q, &mut g) };
        // SAFETY: as above.
        let y = unsafe { sys::DSA_get0_pub_key(self.dsa.as_ptr()) };
        Ok(DsaParts { p: bn_bytes(p)?, q: bn_bytes(q)?, g: bn_bytes(g)?, y: bn_bytes(y)? })
    }

    /// The private value x, q's length (fails for public keys).
    pub fn x(&self) -> R<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; self.q_len]);
        // SAFETY: a valid DSA; the getter borrows (null for public keys, refused by bn_padded).
        bn_padded(unsafe { sys::DSA_get0_priv_key(self.dsa.as_ptr()) }, &mut out)?;
        Ok(out)
    }

    /// Signs `digest` (its leftmost q bits are used, FIPS 186-4 §4.6) into `out`, exactly
    /// [`Dsa::sig_len`] bytes.
    pub fn sign(&self, digest: &[u8], out: &mut [u8]) -> R<()> {
        if out.len() != self.sig_len() {
            return Err(Failed);
        }
        // SAFETY: live digest slice with its length; valid key; const. An owned signature or null.
        let sig = unsafe { sys::DSA_do_sign(digest.as_ptr(), digest.len(), self.dsa.as_ptr()) };
        if sig.is_null() {
            return check(0);
        }
        let (mut r, mut s) = (ptr::null(), ptr::null());
        // SAFETY: `sig` is valid; the getter borrows r and s from it.
        unsafe { sys::DSA_SIG_get0(sig, &mut r, &mut s) };
        let (rh, sh) = out.split_at_mut(self.q_len);
        let res = bn_padded(r, rh).and_then(|_| bn_padded(s, sh));
        // SAFETY: we own `sig` and free it once, after the last use of r and s.
        unsafe { sys::DSA_SIG_free(sig) };
        res
    }

    /// Checks r || s (`sig` exactly [`Dsa::sig_len`] bytes) over `digest` (its leftmost q bits
    /// are used), with the key's fixed-base tables, built by the first call (dsa_comb.rs).
    pub fn verify(&self, digest: &[u8], sig: &[u8]) -> bool {
        let n = self.q_len;
        if sig.len() != 2 * n {
            return false;
        }
        match self.verifier() {
            Some(v) => v.verify(digest, &sig[..n], &sig[n..]).unwrap_or(false),
            None => self.verify_uncached(digest, sig),
        }
    }

    /// The key's tables, built now if need be; None when they cannot be (the pool of tables is
    /// full, or out of memory): the next call tries again. Two first calls at once may both
    /// build; one table is kept.
    fn verifier(&self) -> Option<&Verifier> {
        if let Some(v) = self.verifier.get() {
            return Some(v);
        }
        let k = self.parts().ok()?;
        let built = Verifier::new(&k.p, &k.q, &k.g, &k.y).ok()?;
        // A table another thread set first wins; ours is dropped, giving its slot back.
        let _ = self.verifier.set(built);
        self.verifier.get()
    }

    /// [`Dsa::verify`] through aws-lc's DSA_do_check_signature, without building tables: for a
    /// key checked once (the pairwise test of a new key).
    pub fn verify_uncached(&self, digest: &[u8], sig: &[u8]) -> bool {
        let n = self.q_len;
        if sig.len() != 2 * n {
            return false;
        }
        let (Ok(r), Ok(s)) = (Bn::from_be(&sig[..n]), Bn::from_be(&sig[n..])) else { return false };
        // SAFETY: no preconditions.
        let Some(ds) = NonNull::new(unsafe { sys::DSA_SIG_new() }) else { return false };
        // SAFETY: `ds` is ours; set0 takes ownership of the non-null r and s.
        unsafe { sys::DSA_SIG_set0(ds.as_ptr(), r.into_raw(), s.into_raw()) };
        let mut valid = 0;
        // SAFETY: valid signature and key, live digest slice; const for the key.
        let ok = unsafe {
            sys::DSA_do_check_signature(&mut valid, digest.as_ptr(), digest.len(), ds.as_ptr(), self.dsa.as_ptr())
        };
        // SAFETY: we own the signature (and through it r and s) and free it once.
        unsafe { sys::DSA_SIG_free(ds.as_ptr()) };
        if ok != 1 || valid != 1 {
            check(0).ok();
            return false;
        }
        true
    }
}
