//! Direct calls into aws-lc — the same C library aws-lc-rs wraps, through `aws-lc-sys` — for
//! what the safe aws-lc-rs API does not offer and the public-key mechanisms need:
//!
//! * RSA keys of any size aws-lc handles (aws-lc-rs refuses below 2048 bits), built from
//!   PKCS#11 components and generated with any public exponent;
//! * raw RSA: PKCS#1 v1.5 type-1 padding over caller data (CKM_RSA_PKCS sign over a DigestInfo),
//!   no padding (CKM_RSA_X_509), PSS with any salt length and MGF1 digest, OAEP with SHA-224 and
//!   labels on every key size;
//! * ECDSA over a digest of any length (truncated to the group order as FIPS 186 / SEC 1 say),
//!   ECDH on every supported curve including secp256k1;
//! * Ed25519ctx and Ed25519ph (RFC 8032 §5.1: a context, and a SHA-512 prehash).
//!
//! This is the only `unsafe` in `mech` (rsa, ec, eddsa, rsa_aes and pkcs8 `forbid` it). Every
//! block carries its `SAFETY:` argument; the types below own their engine objects and free them
//! on drop. Functions report failure as [`Failed`]; callers pick the CK_RV that fits.

#![deny(clippy::undocumented_unsafe_blocks)]

use aws_lc_sys as sys;
use std::os::raw::c_int;
use std::ptr::{self, NonNull};
use zeroize::Zeroizing;

/// The shape shared by aws-lc's raw RSA operations.
type RawRsaOp = unsafe extern "C" fn(
    *mut sys::RSA,
    *mut usize,
    *mut u8,
    usize,
    *const u8,
    usize,
    std::os::raw::c_int,
) -> std::os::raw::c_int;

/// An engine call failed (bad key, bad padding, out of memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed;

pub type R<T> = std::result::Result<T, Failed>;

fn check(ok: c_int) -> R<()> {
    if ok == 1 {
        Ok(())
    } else {
        // The engine queued an error; it is not ours to report and would only pile up.
        // SAFETY: no preconditions; clears this thread's error queue.
        unsafe { sys::ERR_clear_error() };
        Err(Failed)
    }
}

// ---------------------------------------------------------------------------------------------
// Digests and big numbers
// ---------------------------------------------------------------------------------------------

/// The SHA digests PSS, OAEP and MGF1 use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Md {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Md {
    fn evp(self) -> *const sys::EVP_MD {
        // SAFETY: these return pointers to static, immutable method tables; no preconditions.
        unsafe {
            match self {
                Md::Sha1 => sys::EVP_sha1(),
                Md::Sha224 => sys::EVP_sha224(),
                Md::Sha256 => sys::EVP_sha256(),
                Md::Sha384 => sys::EVP_sha384(),
                Md::Sha512 => sys::EVP_sha512(),
            }
        }
    }

    /// The digest of a hash mechanism (CKM_SHA_1, CKM_SHA224, ... CKM_SHA512).
    pub fn from_mech(m: cryptoki_sys::CK_MECHANISM_TYPE) -> Option<Md> {
        use cryptoki_sys::*;
        Some(match m {
            CKM_SHA_1 => Md::Sha1,
            CKM_SHA224 => Md::Sha224,
            CKM_SHA256 => Md::Sha256,
            CKM_SHA384 => Md::Sha384,
            CKM_SHA512 => Md::Sha512,
            _ => return None,
        })
    }

    /// The digest of an MGF1 generator (CKG_MGF1_SHA1, ... CKG_MGF1_SHA512).
    pub fn from_mgf(g: cryptoki_sys::CK_RSA_PKCS_MGF_TYPE) -> Option<Md> {
        use cryptoki_sys::*;
        Some(match g {
            CKG_MGF1_SHA1 => Md::Sha1,
            CKG_MGF1_SHA224 => Md::Sha224,
            CKG_MGF1_SHA256 => Md::Sha256,
            CKG_MGF1_SHA384 => Md::Sha384,
            CKG_MGF1_SHA512 => Md::Sha512,
            _ => return None,
        })
    }

    /// The aws-lc-rs algorithm, for hashing data before signing.
    pub fn algorithm(self) -> &'static aws_lc_rs::digest::Algorithm {
        use aws_lc_rs::digest;
        match self {
            Md::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Md::Sha224 => &digest::SHA224,
            Md::Sha256 => &digest::SHA256,
            Md::Sha384 => &digest::SHA384,
            Md::Sha512 => &digest::SHA512,
        }
    }

    /// Output length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            Md::Sha1 => 20,
            Md::Sha224 => 28,
            Md::Sha256 => 32,
            Md::Sha384 => 48,
            Md::Sha512 => 64,
        }
    }
}

/// An owned BIGNUM, wiped when freed.
struct Bn(NonNull<sys::BIGNUM>);

impl Bn {
    fn from_be(b: &[u8]) -> R<Bn> {
        // SAFETY: `b` is a live slice of `b.len()` bytes; a null `ret` asks for a new BIGNUM,
        // which we then own.
        let p = unsafe { sys::BN_bin2bn(b.as_ptr(), b.len(), ptr::null_mut()) };
        NonNull::new(p).map(Bn).ok_or(Failed)
    }

    fn as_ptr(&self) -> *const sys::BIGNUM {
        self.0.as_ptr()
    }

    /// Gives up ownership (to a function that takes it).
    fn into_raw(self) -> *mut sys::BIGNUM {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own this BIGNUM and free it exactly once.
        unsafe { sys::BN_clear_free(self.0.as_ptr()) }
    }
}

impl Bn {
    /// A new BIGNUM holding zero.
    fn new() -> R<Bn> {
        // SAFETY: no preconditions; a new BIGNUM we then own, or null.
        NonNull::new(unsafe { sys::BN_new() }).map(Bn).ok_or(Failed)
    }

    /// For a function that writes the value (`&mut self`: nothing else reads it meanwhile).
    fn as_mut_ptr(&mut self) -> *mut sys::BIGNUM {
        self.0.as_ptr()
    }

    /// Bit length of the magnitude.
    fn bits(&self) -> u32 {
        // SAFETY: a valid BIGNUM; non-mutating getter.
        unsafe { sys::BN_num_bits(self.as_ptr()) }
    }
}

/// An owned BN_CTX (scratch space for the arithmetic; aws-lc wipes what it frees).
struct BnCtx(NonNull<sys::BN_CTX>);

impl BnCtx {
    fn new() -> R<BnCtx> {
        // SAFETY: no preconditions; a new context we then own, or null.
        NonNull::new(unsafe { sys::BN_CTX_new() }).map(BnCtx).ok_or(Failed)
    }

    fn as_ptr(&self) -> *mut sys::BN_CTX {
        self.0.as_ptr()
    }
}

impl Drop for BnCtx {
    fn drop(&mut self) {
        // SAFETY: we own the context and free it once.
        unsafe { sys::BN_CTX_free(self.0.as_ptr()) }
    }
}

/// Minimal big-endian bytes of a BIGNUM owned by an engine object that outlives the call.
fn bn_bytes(bn: *const sys::BIGNUM) -> R<Zeroizing<Vec<u8>>> {
    if bn.is_null() {
        return Err(Failed);
    }
    // SAFETY: `bn` is non-null and, per the callers, points into a live key object.
    let n = unsafe { sys::BN_num_bytes(bn) } as usize;
    let mut v = Zeroizing::new(vec![0u8; n]);
    // SAFETY: `v` holds exactly BN_num_bytes(bn) bytes, what BN_bn2bin writes.
    unsafe { sys::BN_bn2bin(bn, v.as_mut_ptr()) };
    Ok(v)
}

/// A BIGNUM left-padded into `out` (fails if it does not fit).
fn bn_padded(bn: *const sys::BIGNUM, out: &mut [u8]) -> R<()> {
    if bn.is_null() {
        return Err(Failed);
    }
    // SAFETY: `bn` is non-null and live (callers' key objects); `out` is writable for its length.
    check(unsafe { sys::BN_bn2bin_padded(out.as_mut_ptr(), out.len(), bn) })
}

// ---------------------------------------------------------------------------------------------
// RSA
// ---------------------------------------------------------------------------------------------

/// RSA padding for the raw operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pad {
    /// PKCS#1 v1.5: type 1 for private-key operations, type 2 for encryption.
    Pkcs1,
    /// None: the input is exactly the modulus length and below the modulus.
    None,
}

impl Pad {
    fn raw(self) -> c_int {
        match self {
            Pad::Pkcs1 => sys::RSA_PKCS1_PADDING,
            Pad::None => sys::RSA_NO_PADDING,
        }
    }
}

/// Big-endian components of an RSA key. Private parts are wiped on drop.
pub struct RsaParts {
    pub n: Zeroizing<Vec<u8>>,
    pub e: Zeroizing<Vec<u8>>,
    /// d, p, q, d mod (p-1), d mod (q-1), q^-1 mod p.
    pub private: Option<[Zeroizing<Vec<u8>>; 6]>,
}

/// An RSA key (public, or private with CRT values) and an EVP_PKEY view of it for OAEP.
pub struct Rsa {
    rsa: NonNull<sys::RSA>,
    pkey: NonNull<sys::EVP_PKEY>,
    private: bool,
}

// SAFETY: aws-lc documents RSA and EVP_PKEY objects as usable from several threads at once
// through non-mutating functions (rsa.h, "Allocation and destruction"). After construction this
// type only calls functions rsa.h lists as non-mutating for thread-safety purposes (encryption,
// decryption, signing, verification, getters), and EVP_PKEY_CTX_new, which takes its own
// reference with an atomic count. Construction happens before the value is shared.
unsafe impl Send for Rsa {}
// SAFETY: see `Send` above.
unsafe impl Sync for Rsa {}

impl Drop for Rsa {
    fn drop(&mut self) {
        // SAFETY: we hold one reference to each; the EVP_PKEY holds its own to the RSA, so the
        // order does not matter and each is released exactly once.
        unsafe {
            sys::EVP_PKEY_free(self.pkey.as_ptr());
            sys::RSA_free(self.rsa.as_ptr());
        }
    }
}

impl Rsa {
    /// Takes ownership of `rsa` (freed on failure).
    fn adopt(rsa: *mut sys::RSA, private: bool) -> R<Rsa> {
        let rsa = NonNull::new(rsa).ok_or(Failed)?;
        // SAFETY: no preconditions.
        let pkey = unsafe { sys::EVP_PKEY_new() };
        let Some(pkey) = NonNull::new(pkey) else {
            // SAFETY: we own `rsa` and nothing else refers to it.
            unsafe { sys::RSA_free(rsa.as_ptr()) };
            return Err(Failed);
        };
        let key = Rsa { rsa, pkey, private };
        // SAFETY: both objects are valid and exclusively ours; set1 takes its own reference.
        check(unsafe { sys::EVP_PKEY_set1_RSA(pkey.as_ptr(), rsa.as_ptr()) })?;
        Ok(key)
    }

    /// A public key; aws-lc checks n (odd, at most 16384 bits) and e (odd, 2..=33 bits).
    pub fn new_public(n: &[u8], e: &[u8]) -> R<Rsa> {
        let (n, e) = (Bn::from_be(n)?, Bn::from_be(e)?);
        // SAFETY: both BIGNUMs are valid; the function copies them and returns a new RSA or null.
        let rsa = unsafe { sys::RSA_new_public_key(n.as_ptr(), e.as_ptr()) };
        Self::adopt(rsa, false)
    }

    /// A private key from all eight components; aws-lc's RSA_check_key verifies that they are
    /// consistent (n = pq, de = 1 mod p-1 and q-1, the CRT values).
    pub fn new_private(n: &[u8], e: &[u8], crt: [&[u8]; 6]) -> R<Rsa> {
        let [d, p, q, dp, dq, qi] = crt;
        let bns = [n, e, d, p, q, dp, dq, qi].map(Bn::from_be);
        let mut v = Vec::with_capacity(8);
        for b in bns {
            v.push(b?);
        }
        // SAFETY: eight valid BIGNUMs, copied by the function, which returns a checked key or null.
        let rsa = unsafe {
            sys::RSA_new_private_key(
                v[0].as_ptr(),
                v[1].as_ptr(),
                v[2].as_ptr(),
                v[3].as_ptr(),
                v[4].as_ptr(),
                v[5].as_ptr(),
                v[6].as_ptr(),
                v[7].as_ptr(),
            )
        };
        Self::adopt(rsa, true)
    }

    /// A new key with public exponent `e` (odd, at most 32 bits) from aws-lc's own generator
    /// (FIPS 186-5 A.1.3 primes, constant-time arithmetic). It rounds `bits` *down* to a multiple
    /// of 128 without saying so: callers pass only multiples of 128 (see [`Rsa::generate_exact`]).
    pub fn generate(bits: u32, e: &[u8]) -> R<Rsa> {
        let e = Bn::from_be(e)?;
        // SAFETY: no preconditions.
        let rsa = NonNull::new(unsafe { sys::RSA_new() }).ok_or(Failed)?;
        // SAFETY: `rsa` is fresh and exclusively ours (mutation is fine); `e` is valid; a null
        // callback is allowed.
        let ok = unsafe { sys::RSA_generate_key_ex(rsa.as_ptr(), bits as c_int, e.as_ptr(), ptr::null_mut()) };
        if check(ok).is_err() {
            // SAFETY: still exclusively ours.
            unsafe { sys::RSA_free(rsa.as_ptr()) };
            return Err(Failed);
        }
        Self::adopt(rsa.as_ptr(), true)
    }

    /// A new key whose modulus has exactly `bits` bits (1024..=16384, any value; for the sizes
    /// [`Rsa::generate`] would round) with public exponent `e` (odd, from 3, at most 32 bits),
    /// built from aws-lc's primitives the way its own generator works (FIPS 186-5 A.1.3):
    ///
    /// * p of ceil(bits/2) and q of floor(bits/2) bits, each drawn with its top two bits set (so
    ///   p >= 1.5 * 2^(len-1) > sqrt(2) * 2^(len-1), and n = pq has exactly `bits` bits), tested
    ///   with trial division and Miller-Rabin (`BN_prime_checks_for_generation`), with
    ///   gcd(p-1, e) = gcd(q-1, e) = 1 and |p-q| > 2^(bits/2 - 100);
    /// * additionally gcd(p-1, q-1) = 2, so that lambda = lcm(p-1, q-1) = (p-1)(q-1)/2 needs no
    ///   division of secret values (BN_div is not constant-time): d = e^-1 mod lambda,
    ///   d mod (p-1) = e^-1 mod (p-1) and d mod (q-1) come from aws-lc's constant-time inverse
    ///   (even moduli), q^-1 mod p = q^(p-2) mod p from its constant-time exponentiation. About
    ///   half of all prime pairs qualify (3/4 for the factor 2, times the twin prime constant
    ///   0.66 for odd ones), so q is drawn twice on average: this path takes about 1.5 times as
    ///   long as RSA_generate_key_ex for a similar size. Testing the gcd before Miller-Rabin
    ///   instead would cost more: the constant-time gcd is run on every candidate then;
    /// * d > 2^(bits/2), else new primes.
    ///
    /// Rejected candidates are discarded, so what their tests reveal is of no use. Every
    /// intermediate is a [`Bn`], wiped when freed; `RSA_new_private_key` runs RSA_check_key on
    /// the result.
    pub fn generate_exact(bits: u32, e: &[u8]) -> R<Rsa> {
        if !(1024..=16384).contains(&bits) {
            return Err(Failed);
        }
        let e = Bn::from_be(e)?;
        // SAFETY: a valid BIGNUM; non-mutating getters.
        if unsafe { sys::BN_is_odd(e.as_ptr()) } != 1 || e.bits() < 2 || e.bits() > 32 {
            return Err(Failed);
        }
        let ctx = BnCtx::new()?;
        let (p_bits, q_bits) = (bits - bits / 2, bits / 2);
        // |p - q| > 2^(bits/2 - 100) holds when |p - q| has at least floor(bits/2) - 98 bits.
        let min_diff_bits = q_bits - 98;
        let (mut n, mut pm1, mut qm1, mut lambda) = (Bn::new()?, Bn::new()?, Bn::new()?, Bn::new()?);
        let (mut d, mut dp, mut dq, mut pm2, mut qinv) = (Bn::new()?, Bn::new()?, Bn::new()?, Bn::new()?, Bn::new()?);
        // A retry needs d <= 2^(bits/2), which random primes essentially never give.
        for _ in 0..8 {
            let (mut p, mut q) = (Bn::new()?, Bn::new()?);
            rsa_prime(&mut p, p_bits, &e, None, &ctx)?;
            copy_minus(&mut pm1, &p, 1)?;
            rsa_prime(&mut q, q_bits, &e, Some(&Other { p: &p, pm1: &pm1, min_diff_bits }), &ctx)?;
            // p > q (for q^-1 mod p below); which one is larger reveals nothing of either.
            // SAFETY: valid BIGNUMs; non-mutating.
            if unsafe { sys::BN_cmp(p.as_ptr(), q.as_ptr()) } < 0 {
                std::mem::swap(&mut p, &mut q);
            }
            copy_minus(&mut pm1, &p, 1)?;
            copy_minus(&mut qm1, &q, 1)?;
            // SAFETY: valid BIGNUMs and context; each output is exclusively ours and distinct
            // from the inputs except for BN_rshift1, which works in place.
            unsafe {
                check(sys::BN_mul(n.as_mut_ptr(), p.as_ptr(), q.as_ptr(), ctx.as_ptr()))?;
                check(sys::BN_mul(lambda.as_mut_ptr(), pm1.as_ptr(), qm1.as_ptr(), ctx.as_ptr()))?;
                let l = lambda.as_mut_ptr();
                check(sys::BN_rshift1(l, l))?;
            }
            if n.bits() != bits {
                // Impossible with top-two-bit primes; never return a key of another size.
                continue;
            }
            inverse(&mut d, &e, &lambda, &ctx)?;
            if d.bits() <= p_bits {
                continue;
            }
            inverse(&mut dp, &e, &pm1, &ctx)?;
            inverse(&mut dq, &e, &qm1, &ctx)?;
            copy_minus(&mut pm2, &p, 2)?;
            // SAFETY: valid BIGNUMs and context, 0 <= q < p as required; `qinv` exclusively
            // ours; a null Montgomery context makes the function build its own.
            check(unsafe {
                sys::BN_mod_exp_mont_consttime(
                    qinv.as_mut_ptr(),
                    q.as_ptr(),
                    pm2.as_ptr(),
                    p.as_ptr(),
                    ctx.as_ptr(),
                    ptr::null(),
                )
            })?;
            // SAFETY: eight valid BIGNUMs, copied by the function, which returns a key that passed
            // RSA_check_key, or null.
            let rsa = unsafe {
                sys::RSA_new_private_key(
                    n.as_ptr(),
                    e.as_ptr(),
                    d.as_ptr(),
                    p.as_ptr(),
                    q.as_ptr(),
                    dp.as_ptr(),
                    dq.as_ptr(),
                    qinv.as_ptr(),
                )
            };
            if rsa.is_null() {
                check(0)?;
            }
            return Self::adopt(rsa, true);
        }
        Err(Failed)
    }

    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Modulus length in bytes (k).
    pub fn size(&self) -> usize {
        // SAFETY: valid key; non-mutating getter.
        unsafe { sys::RSA_size(self.rsa.as_ptr()) as usize }
    }

    /// Modulus length in bits.
    pub fn bits(&self) -> usize {
        // SAFETY: valid key; non-mutating getter.
        unsafe { sys::RSA_bits(self.rsa.as_ptr()) as usize }
    }

    /// The key's components (private ones only for a private key).
    pub fn parts(&self) -> R<RsaParts> {
        let r = self.rsa.as_ptr();
        let mut g: [*const sys::BIGNUM; 8] = [ptr::null(); 8];
        // SAFETY: valid key; the getters store borrowed pointers (or null) into our array.
        unsafe {
            sys::RSA_get0_key(r, &mut g[0], &mut g[1], &mut g[2]);
            sys::RSA_get0_factors(r, &mut g[3], &mut g[4]);
            sys::RSA_get0_crt_params(r, &mut g[5], &mut g[6], &mut g[7]);
        }
        let private = if self.private {
            Some([bn_bytes(g[2])?, bn_bytes(g[3])?, bn_bytes(g[4])?, bn_bytes(g[5])?, bn_bytes(g[6])?, bn_bytes(g[7])?])
        } else {
            None
        };
        Ok(RsaParts { n: bn_bytes(g[0])?, e: bn_bytes(g[1])?, private })
    }

    /// Runs one of aws-lc's raw RSA operations, which share one shape:
    /// `(rsa, &out_len, out, max_out, in, in_len, padding)`.
    fn raw_op(&self, op: RawRsaOp, pad: Pad, input: &[u8], out: &mut [u8]) -> R<usize> {
        let mut n = 0usize;
        // SAFETY: live slices with their lengths; the key is valid for the life of `self`, and
        // the four operations passed here (sign_raw, verify_raw, encrypt, decrypt) do not
        // mutate it, so concurrent calls on one key are safe.
        check(unsafe {
            op(self.rsa.as_ptr(), &mut n, out.as_mut_ptr(), out.len(), input.as_ptr(), input.len(), pad.raw())
        })?;
        Ok(n)
    }

    /// Private-key operation (signature): PKCS#1 type-1 padding of `input`, or none (`input`
    /// exactly k bytes, below n). `out` must hold k bytes; returns k.
    pub fn sign_raw(&self, pad: Pad, input: &[u8], out: &mut [u8]) -> R<usize> {
        self.raw_op(sys::RSA_sign_raw, pad, input, out)
    }

    /// Public-key operation on a signature, checking and removing the padding: the recovered
    /// data. `out` must hold k bytes.
    pub fn verify_raw(&self, pad: Pad, sig: &[u8], out: &mut [u8]) -> R<usize> {
        self.raw_op(sys::RSA_verify_raw, pad, sig, out)
    }

    /// Encryption: PKCS#1 type-2 padding (random), or none. `out` must hold k bytes.
    pub fn encrypt(&self, pad: Pad, input: &[u8], out: &mut [u8]) -> R<usize> {
        self.raw_op(sys::RSA_encrypt, pad, input, out)
    }

    /// Decryption (the padding check is constant-time in aws-lc). `out` must hold k bytes.
    pub fn decrypt(&self, pad: Pad, input: &[u8], out: &mut [u8]) -> R<usize> {
        self.raw_op(sys::RSA_decrypt, pad, input, out)
    }

    /// RSASSA-PSS over `digest` (its length must be `md`'s) with salt length `salt`.
    pub fn sign_pss(&self, md: Md, mgf1: Md, salt: usize, digest: &[u8], out: &mut [u8]) -> R<usize> {
        let salt = c_int::try_from(salt).map_err(|_| Failed)?;
        let mut n = 0usize;
        // SAFETY: live slices with their lengths; static digest tables; non-mutating function.
        check(unsafe {
            sys::RSA_sign_pss_mgf1(
                self.rsa.as_ptr(),
                &mut n,
                out.as_mut_ptr(),
                out.len(),
                digest.as_ptr(),
                digest.len(),
                md.evp(),
                mgf1.evp(),
                salt,
            )
        })?;
        Ok(n)
    }

    /// RSASSA-PSS verification with an exact salt length.
    pub fn verify_pss(&self, md: Md, mgf1: Md, salt: usize, digest: &[u8], sig: &[u8]) -> bool {
        let Ok(salt) = c_int::try_from(salt) else { return false };
        // SAFETY: as in `sign_pss`.
        check(unsafe {
            sys::RSA_verify_pss_mgf1(
                self.rsa.as_ptr(),
                digest.as_ptr(),
                digest.len(),
                md.evp(),
                mgf1.evp(),
                salt,
                sig.as_ptr(),
                sig.len(),
            )
        })
        .is_ok()
    }

    /// RSAES-OAEP encryption (`decrypt == false`) or decryption. `out` must hold k bytes.
    pub fn oaep(&self, decrypt: bool, md: Md, mgf1: Md, label: &[u8], input: &[u8], out: &mut [u8]) -> R<usize> {
        // SAFETY: the EVP_PKEY is valid; the context takes its own reference and is freed by
        // `PkeyCtx`'s drop.
        let ctx =
            PkeyCtx(NonNull::new(unsafe { sys::EVP_PKEY_CTX_new(self.pkey.as_ptr(), ptr::null_mut()) }).ok_or(Failed)?);
        let c = ctx.0.as_ptr();
        // SAFETY: `c` is a valid context we own; the digest tables are static.
        unsafe {
            check(if decrypt { sys::EVP_PKEY_decrypt_init(c) } else { sys::EVP_PKEY_encrypt_init(c) })?;
            check(sys::EVP_PKEY_CTX_set_rsa_padding(c, sys::RSA_PKCS1_OAEP_PADDING))?;
            check(sys::EVP_PKEY_CTX_set_rsa_oaep_md(c, md.evp()))?;
            check(sys::EVP_PKEY_CTX_set_rsa_mgf1_md(c, mgf1.evp()))?;
        }
        if !label.is_empty() {
            // The context takes ownership of an OPENSSL_malloc'd label on success.
            // SAFETY: no preconditions; null on failure.
            let p = unsafe { sys::OPENSSL_malloc(label.len()) } as *mut u8;
            if p.is_null() {
                return Err(Failed);
            }
            // SAFETY: `p` has room for label.len() bytes and does not overlap `label`.
            unsafe { ptr::copy_nonoverlapping(label.as_ptr(), p, label.len()) };
            // SAFETY: valid context (in OAEP mode, so the call succeeds and owns `p`); on failure
            // ownership stays with us and we free it.
            if check(unsafe { sys::EVP_PKEY_CTX_set0_rsa_oaep_label(c, p, label.len()) }).is_err() {
                // SAFETY: `p` came from OPENSSL_malloc and was not taken.
                unsafe { sys::OPENSSL_free(p as *mut _) };
                return Err(Failed);
            }
        }
        let mut n = out.len();
        // SAFETY: valid, initialised context; live slices with their lengths (`n` is the room in
        // `out`, updated to the bytes written).
        check(unsafe {
            if decrypt {
                sys::EVP_PKEY_decrypt(c, out.as_mut_ptr(), &mut n, input.as_ptr(), input.len())
            } else {
                sys::EVP_PKEY_encrypt(c, out.as_mut_ptr(), &mut n, input.as_ptr(), input.len())
            }
        })?;
        Ok(n)
    }
}

/// r = a - w.
fn copy_minus(r: &mut Bn, a: &Bn, w: sys::BN_ULONG) -> R<()> {
    // SAFETY: valid BIGNUMs, `r` exclusively ours and not `a`; BN_copy returns `r`, or null.
    if unsafe { sys::BN_copy(r.as_mut_ptr(), a.as_ptr()) }.is_null() {
        return check(0);
    }
    // SAFETY: as above.
    check(unsafe { sys::BN_sub_word(r.as_mut_ptr(), w) })
}

/// out = a^-1 mod m. For the even moduli used here aws-lc takes its constant-time path.
fn inverse(out: &mut Bn, a: &Bn, m: &Bn, ctx: &BnCtx) -> R<()> {
    // SAFETY: valid BIGNUMs and context, `out` exclusively ours and distinct from the inputs;
    // returns `out`, or null (also when there is no inverse).
    if unsafe { sys::BN_mod_inverse(out.as_mut_ptr(), a.as_ptr(), m.as_ptr(), ctx.as_ptr()) }.is_null() {
        return check(0);
    }
    Ok(())
}

/// Whether gcd(a, b) = w (`g` is scratch). aws-lc's BN_gcd is constant-time.
fn gcd_is(g: &mut Bn, a: &Bn, b: &Bn, w: sys::BN_ULONG, ctx: &BnCtx) -> R<bool> {
    // SAFETY: valid BIGNUMs and context; `g` exclusively ours and distinct from the inputs.
    check(unsafe { sys::BN_gcd(g.as_mut_ptr(), a.as_ptr(), b.as_ptr(), ctx.as_ptr()) })?;
    // SAFETY: a valid BIGNUM; non-mutating.
    Ok(unsafe { sys::BN_is_word(g.as_ptr(), w) } == 1)
}

/// The first prime, as the second must relate to it.
struct Other<'a> {
    p: &'a Bn,
    pm1: &'a Bn,
    /// |q - p| must have at least this many bits.
    min_diff_bits: u32,
}

/// A random prime of exactly `bits` bits with its top two bits set and gcd(out - 1, e) = 1; for
/// the second prime also far enough from the first and gcd(out - 1, p - 1) = 2. Rejection
/// sampling: every candidate is independent, and a rejected one is discarded.
fn rsa_prime(out: &mut Bn, bits: u32, e: &Bn, other: Option<&Other<'_>>, ctx: &BnCtx) -> R<()> {
    let (mut t, mut g) = (Bn::new()?, Bn::new()?);
    // An odd `bits`-bit number is prime with probability about 2 / (bits ln 2); the gcd conditions
    // keep at least a quarter of the primes (e = 3: one half, then about one half), so about one
    // candidate in 1.4 * bits qualifies, and 64 * bits of them all fail with probability e^-45.
    for _ in 0..64 * bits {
        // SAFETY: `out` is exclusively ours; valid flags.
        check(unsafe { sys::BN_rand(out.as_mut_ptr(), bits as c_int, sys::BN_RAND_TOP_TWO, sys::BN_RAND_BOTTOM_ODD) })?;
        if let Some(o) = other {
            // SAFETY: valid BIGNUMs; `t` exclusively ours and distinct from the inputs.
            check(unsafe { sys::BN_sub(t.as_mut_ptr(), out.as_ptr(), o.p.as_ptr()) })?;
            if t.bits() < o.min_diff_bits {
                continue;
            }
        }
        let mut prime: c_int = 0;
        // SAFETY: a valid candidate and context; a null callback is allowed. Trial division
        // first, then Miller-Rabin with the rounds aws-lc's own generator uses.
        check(unsafe {
            sys::BN_primality_test(
                &mut prime,
                out.as_ptr(),
                sys::BN_prime_checks_for_generation,
                ctx.as_ptr(),
                1,
                ptr::null_mut(),
            )
        })?;
        if prime != 1 {
            continue;
        }
        copy_minus(&mut t, out, 1)?;
        if !gcd_is(&mut g, &t, e, 1, ctx)? {
            continue;
        }
        if let Some(o) = other {
            if !gcd_is(&mut g, &t, o.pm1, 2, ctx)? {
                continue;
            }
        }
        return Ok(());
    }
    Err(Failed)
}

struct PkeyCtx(NonNull<sys::EVP_PKEY_CTX>);

impl Drop for PkeyCtx {
    fn drop(&mut self) {
        // SAFETY: we own the context and free it once (this also drops its label copy).
        unsafe { sys::EVP_PKEY_CTX_free(self.0.as_ptr()) }
    }
}

// ---------------------------------------------------------------------------------------------
// Elliptic curves (short Weierstrass)
// ---------------------------------------------------------------------------------------------

pub const NID_P256: c_int = sys::NID_X9_62_prime256v1;
pub const NID_P384: c_int = sys::NID_secp384r1;
pub const NID_P521: c_int = sys::NID_secp521r1;
pub const NID_SECP256K1: c_int = sys::NID_secp256k1;

/// An EC key on a named curve: public point, and the private scalar for private keys.
pub struct Ec {
    key: NonNull<sys::EC_KEY>,
    private: bool,
    /// Byte length of the group order (scalars, each half of an r||s signature).
    order_len: usize,
    /// Byte length of a field element (the ECDH x-coordinate).
    field_len: usize,
    /// The uncompressed public point, encoded on first use (an encoding costs a field
    /// inversion) or taken from the caller's bytes when they were already in that form.
    point: once_cell::sync::OnceCell<Vec<u8>>,
}

// SAFETY: aws-lc documents EC_KEY objects as usable from several threads at once through
// non-mutating functions (ec_key.h). Mutation happens only while constructing, before the value
// is shared; afterwards only const-taking functions are called (ECDSA_do_sign/verify,
// ECDH_compute_key, getters).
unsafe impl Send for Ec {}
// SAFETY: see `Send` above.
unsafe impl Sync for Ec {}

impl Drop for Ec {
    fn drop(&mut self) {
        // SAFETY: we own the key and free it once (the private scalar is wiped by aws-lc).
        unsafe { sys::EC_KEY_free(self.key.as_ptr()) }
    }
}

/// An EC point owned by us.
struct Point(NonNull<sys::EC_POINT>);

impl Point {
    fn new(group: *const sys::EC_GROUP) -> R<Point> {
        // SAFETY: `group` is the valid, static group of a live key.
        NonNull::new(unsafe { sys::EC_POINT_new(group) }).map(Point).ok_or(Failed)
    }

    /// Decodes an encoded point (uncompressed or compressed) and checks it is on the curve.
    fn decode(group: *const sys::EC_GROUP, bytes: &[u8]) -> R<Point> {
        let p = Point::new(group)?;
        // SAFETY: valid group and point; live slice with its length; null BN_CTX is allowed.
        check(unsafe { sys::EC_POINT_oct2point(group, p.0.as_ptr(), bytes.as_ptr(), bytes.len(), ptr::null_mut()) })?;
        Ok(p)
    }
}

impl Drop for Point {
    fn drop(&mut self) {
        // SAFETY: we own the point and free it once.
        unsafe { sys::EC_POINT_free(self.0.as_ptr()) }
    }
}

impl Ec {
    fn empty(nid: c_int, private: bool) -> R<Ec> {
        // SAFETY: no preconditions; null for unknown curves.
        let key = NonNull::new(unsafe { sys::EC_KEY_new_by_curve_name(nid) }).ok_or(Failed)?;
        let mut ec = Ec { key, private, order_len: 0, field_len: 0, point: once_cell::sync::OnceCell::new() };
        let group = ec.group();
        // SAFETY: the group of a live key; both getters are non-mutating.
        unsafe {
            ec.order_len = sys::BN_num_bytes(sys::EC_GROUP_get0_order(group)) as usize;
            ec.field_len = (sys::EC_GROUP_get_degree(group) as usize).div_ceil(8);
        }
        Ok(ec)
    }

    fn group(&self) -> *const sys::EC_GROUP {
        // SAFETY: valid key; non-mutating getter.
        unsafe { sys::EC_KEY_get0_group(self.key.as_ptr()) }
    }

    /// A private key from its scalar `d` (1 <= d < order; leading zeros allowed); the public
    /// point is computed.
    pub fn from_private(nid: c_int, d: &[u8]) -> R<Ec> {
        let ec = Ec::empty(nid, true)?;
        let d = Bn::from_be(d)?;
        let group = ec.group();
        let public = Point::new(group)?;
        // SAFETY: `ec.key` is exclusively ours (not shared yet), so mutating it is fine; `d`,
        // `group` and `public` are valid; null BN_CTX and unused operands are allowed. The setters
        // copy their arguments; EC_KEY_set_private_key rejects d outside [1, order).
        unsafe {
            check(sys::EC_KEY_set_private_key(ec.key.as_ptr(), d.as_ptr()))?;
            check(sys::EC_POINT_mul(group, public.0.as_ptr(), d.as_ptr(), ptr::null(), ptr::null(), ptr::null_mut()))?;
            check(sys::EC_KEY_set_public_key(ec.key.as_ptr(), public.0.as_ptr()))?;
            check(sys::EC_KEY_check_key(ec.key.as_ptr()))?;
        }
        Ok(ec)
    }

    /// A private key from its scalar `d` and its claimed public point `point` (encoded,
    /// uncompressed or compressed). `EC_KEY_check_key` checks that the point is on the curve,
    /// not infinity, and that d·G equals it (the SP 800-56A 5.6.2.1.4 (b) pairwise test), so
    /// this costs one scalar multiplication where [`Ec::from_private`] then a comparison cost two.
    pub fn from_private_and_public(nid: c_int, d: &[u8], point: &[u8]) -> R<Ec> {
        let ec = Ec::empty(nid, true)?;
        let d = Bn::from_be(d)?;
        let public = Point::decode(ec.group(), point)?;
        // SAFETY: `ec.key` is exclusively ours (not shared yet); `d` and `public` are valid and
        // copied by the setters; EC_KEY_set_private_key rejects d outside [1, order).
        unsafe {
            check(sys::EC_KEY_set_private_key(ec.key.as_ptr(), d.as_ptr()))?;
            check(sys::EC_KEY_set_public_key(ec.key.as_ptr(), public.0.as_ptr()))?;
            check(sys::EC_KEY_check_key(ec.key.as_ptr()))?;
        }
        ec.keep_uncompressed(point);
        Ok(ec)
    }

    /// Remembers `encoded`, a point this key was just built from, as its encoding when it is in
    /// uncompressed form: a point that decoded (coordinates below p, on the curve) has exactly
    /// one uncompressed encoding, so these bytes are what `point` would compute.
    fn keep_uncompressed(&self, encoded: &[u8]) {
        if encoded.len() == 1 + 2 * self.field_len && encoded[0] == 0x04 {
            let _ = self.point.set(encoded.to_vec());
        }
    }

    /// A public key from an encoded point (checked: on the curve, not infinity).
    pub fn from_public(nid: c_int, point: &[u8]) -> R<Ec> {
        let ec = Ec::empty(nid, false)?;
        let p = Point::decode(ec.group(), point)?;
        // SAFETY: `ec.key` is exclusively ours; the point is valid and copied by the setter.
        unsafe {
            check(sys::EC_KEY_set_public_key(ec.key.as_ptr(), p.0.as_ptr()))?;
            check(sys::EC_KEY_check_key(ec.key.as_ptr()))?;
        }
        ec.keep_uncompressed(point);
        Ok(ec)
    }

    /// A new random key pair.
    pub fn generate(nid: c_int) -> R<Ec> {
        let ec = Ec::empty(nid, true)?;
        // SAFETY: `ec.key` is exclusively ours.
        check(unsafe { sys::EC_KEY_generate_key(ec.key.as_ptr()) })?;
        Ok(ec)
    }

    pub fn is_private(&self) -> bool {
        self.private
    }

    pub fn order_len(&self) -> usize {
        self.order_len
    }

    /// The public point, uncompressed (04 || X || Y).
    pub fn point(&self) -> R<Vec<u8>> {
        self.point.get_or_try_init(|| self.encode_point()).cloned()
    }

    fn encode_point(&self) -> R<Vec<u8>> {
        let mut out = vec![0u8; 1 + 2 * self.field_len];
        // SAFETY: valid key, group and point (set at construction); `out` is writable for its
        // length; null BN_CTX allowed. Returns the bytes written, 0 on failure.
        let n = unsafe {
            sys::EC_POINT_point2oct(
                self.group(),
                sys::EC_KEY_get0_public_key(self.key.as_ptr()),
                sys::point_conversion_form_t::POINT_CONVERSION_UNCOMPRESSED,
                out.as_mut_ptr(),
                out.len(),
                ptr::null_mut(),
            )
        };
        if n != out.len() {
            return Err(Failed);
        }
        Ok(out)
    }

    /// The private scalar, fixed length (the order's byte length).
    pub fn scalar(&self) -> R<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; self.order_len]);
        // SAFETY: valid key; the getter borrows (or is null for public keys, refused by bn_padded).
        bn_padded(unsafe { sys::EC_KEY_get0_private_key(self.key.as_ptr()) }, &mut out)?;
        Ok(out)
    }

    /// ECDSA over `digest` (any length: truncated to the order's bit length by the engine).
    /// Writes r || s, each `order_len` bytes, into `out` (exactly 2 * order_len).
    pub fn sign(&self, digest: &[u8], out: &mut [u8]) -> R<()> {
        let n = self.order_len;
        if out.len() != 2 * n {
            return Err(Failed);
        }
        // SAFETY: live slice with its length; valid key; non-mutating. Returns an owned
        // signature or null.
        let sig = unsafe { sys::ECDSA_do_sign(digest.as_ptr(), digest.len(), self.key.as_ptr()) };
        if sig.is_null() {
            return check(0);
        }
        let (mut r, mut s) = (ptr::null(), ptr::null());
        // SAFETY: `sig` is valid; the getter borrows r and s from it.
        unsafe { sys::ECDSA_SIG_get0(sig, &mut r, &mut s) };
        let (rh, sh) = out.split_at_mut(n);
        let res = bn_padded(r, rh).and_then(|_| bn_padded(s, sh));
        // SAFETY: we own `sig` and free it once, after the last use of r and s.
        unsafe { sys::ECDSA_SIG_free(sig) };
        res
    }

    /// ECDSA verification of r || s (`sig` exactly 2 * order_len bytes) over `digest`.
    pub fn verify(&self, digest: &[u8], sig: &[u8]) -> bool {
        let n = self.order_len;
        if sig.len() != 2 * n {
            return false;
        }
        let (Ok(r), Ok(s)) = (Bn::from_be(&sig[..n]), Bn::from_be(&sig[n..])) else { return false };
        // SAFETY: no preconditions.
        let Some(es) = NonNull::new(unsafe { sys::ECDSA_SIG_new() }) else { return false };
        // SAFETY: `es` is ours; set0 takes ownership of r and s on success (which always holds
        // for non-null arguments).
        let ok = unsafe { sys::ECDSA_SIG_set0(es.as_ptr(), r.into_raw(), s.into_raw()) } == 1
            // SAFETY: valid signature and key, live digest slice; non-mutating.
            && unsafe { sys::ECDSA_do_verify(digest.as_ptr(), digest.len(), es.as_ptr(), self.key.as_ptr()) } == 1;
        // SAFETY: we own the signature (and, through it, r and s) and free it once.
        unsafe { sys::ECDSA_SIG_free(es.as_ptr()) };
        if !ok {
            check(0).ok();
        }
        ok
    }

    /// ECDH: the x-coordinate of d * peer (`field_len` bytes). `peer` is an encoded point on
    /// this key's curve (checked).
    pub fn ecdh(&self, peer: &[u8]) -> R<Zeroizing<Vec<u8>>> {
        let p = Point::decode(self.group(), peer)?;
        let mut out = Zeroizing::new(vec![0u8; self.field_len]);
        // SAFETY: valid point and private key; `out` is writable for its length; without a KDF
        // the function copies the x-coordinate and returns its length, or -1.
        let n = unsafe {
            sys::ECDH_compute_key(out.as_mut_ptr() as *mut _, out.len(), p.0.as_ptr(), self.key.as_ptr(), None)
        };
        if n < 0 || n as usize != out.len() {
            check(0)?;
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Ed25519ctx and Ed25519ph (RFC 8032 §5.1), which aws-lc-rs does not expose
// ---------------------------------------------------------------------------------------------

/// aws-lc's Ed25519 private key: the RFC 8032 seed followed by the public key.
fn ed25519_private(seed: &[u8; 32], public: &[u8; 32]) -> Zeroizing<[u8; 64]> {
    let mut k = Zeroizing::new([0u8; 64]);
    k[..32].copy_from_slice(seed);
    k[32..].copy_from_slice(public);
    k
}

/// Ed25519ctx signature of `msg` with a context of 1 to 255 bytes.
pub fn ed25519ctx_sign(seed: &[u8; 32], public: &[u8; 32], msg: &[u8], ctx: &[u8]) -> R<[u8; 64]> {
    if ctx.is_empty() || ctx.len() > 255 {
        return Err(Failed);
    }
    let key = ed25519_private(seed, public);
    let mut sig = [0u8; 64];
    // SAFETY: `sig` has room for the 64-byte signature, `key` is the 64-byte private key, and
    // the message and context slices are live for the call with their lengths.
    check(unsafe {
        sys::ED25519ctx_sign(sig.as_mut_ptr(), msg.as_ptr(), msg.len(), key.as_ptr(), ctx.as_ptr(), ctx.len())
    })?;
    Ok(sig)
}

/// Ed25519ctx verification (context of 1 to 255 bytes).
pub fn ed25519ctx_verify(public: &[u8; 32], msg: &[u8], sig: &[u8; 64], ctx: &[u8]) -> bool {
    if ctx.is_empty() || ctx.len() > 255 {
        return false;
    }
    // SAFETY: fixed-size signature and key arrays, live message and context slices; read only.
    let ok = unsafe {
        sys::ED25519ctx_verify(msg.as_ptr(), msg.len(), sig.as_ptr(), public.as_ptr(), ctx.as_ptr(), ctx.len())
    };
    check(ok).is_ok()
}

/// Ed25519ph signature of a message given by its SHA-512 digest, with a context of 0 to 255
/// bytes.
pub fn ed25519ph_sign_digest(seed: &[u8; 32], public: &[u8; 32], digest: &[u8; 64], ctx: &[u8]) -> R<[u8; 64]> {
    if ctx.len() > 255 {
        return Err(Failed);
    }
    let key = ed25519_private(seed, public);
    let mut sig = [0u8; 64];
    // SAFETY: `sig` has room for 64 bytes, the digest and key are fixed-size arrays, and the
    // context slice is live for the call with its length.
    check(unsafe {
        sys::ED25519ph_sign_digest(sig.as_mut_ptr(), digest.as_ptr(), key.as_ptr(), ctx.as_ptr(), ctx.len())
    })?;
    Ok(sig)
}

/// Ed25519ph verification of a SHA-512 digest (context of 0 to 255 bytes).
pub fn ed25519ph_verify_digest(public: &[u8; 32], digest: &[u8; 64], sig: &[u8; 64], ctx: &[u8]) -> bool {
    if ctx.len() > 255 {
        return false;
    }
    // SAFETY: fixed-size digest, signature and key arrays, a live context slice; read only.
    let ok = unsafe {
        sys::ED25519ph_verify_digest(digest.as_ptr(), sig.as_ptr(), public.as_ptr(), ctx.as_ptr(), ctx.len())
    };
    check(ok).is_ok()
}
