//! RSA through aws-lc's C API: keys of any size it handles, built from PKCS#11 components or
//! generated (to the bit, with any public exponent), and the raw, PSS and OAEP operations.

use super::bn::{bn_bytes, copy_minus, gcd_is, inverse, Bn, BnCtx};
use super::{check, Failed, Md, R};
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
