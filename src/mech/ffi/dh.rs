//! Diffie-Hellman (PKCS #3) through aws-lc's DH_* API: keys from a prime p, a base g and a
//! private value x or public value y, key generation, and the shared secret.
//!
//! aws-lc refuses even or oversized p (over 10000 bits) and g outside (0, p) before computing;
//! the peer's value must satisfy 1 < y < p - 1 and the result must not be 1 or p - 1
//! (SP 800-56A 5.7.1.1), so a hostile public value yields an error, never a secret.

use super::bn::{bn_bytes, mod_exp, nnmod, probably_prime, Bn, BnCtx};
use super::{check, Failed, R};
use aws_lc_sys as sys;
use std::ptr::{self, NonNull};
use zeroize::Zeroizing;

/// Miller-Rabin rounds for a caller's prime before a key is generated on it: p may be 8192
/// bits, where each round is one full exponentiation, so this stays well below aws-lc's 64
/// validation rounds (an adversarial composite passes with probability at most 2^-32; nothing
/// secret depends on that beyond the caller's own choice of group).
const DH_PRIME_ROUNDS: i32 = 16;

/// A generated key named by [`key_id`] (never by x itself), and its public value y.
type MadeKey = ([u8; 32], Zeroizing<Vec<u8>>);

thread_local! {
    /// The key this thread generated last.
    static JUST_MADE: std::cell::RefCell<Option<MadeKey>> = const { std::cell::RefCell::new(None) };
}

/// What names a private key without holding it: SHA-256 over the length-prefixed p, g and x.
fn key_id(p: &[u8], g: &[u8], x: &[u8]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in [p, g, x] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(ctx.finish().as_ref());
    id
}

/// A DH key: p, g, the public value y, and x for private keys.
pub struct Dh {
    dh: NonNull<sys::DH>,
    private: bool,
    /// Byte length of p (of y and of the shared secret).
    p_len: usize,
}

// SAFETY: after construction only DH_compute_key_padded and getters are called. The former takes
// a `DH *` but mutates only the Montgomery context it caches, under the object's own lock
// (BN_MONT_CTX_set_locked), as aws-lc's dh.h documents for concurrent use; construction happens
// before the value is shared.
unsafe impl Send for Dh {}
// SAFETY: see `Send` above.
unsafe impl Sync for Dh {}

impl Drop for Dh {
    fn drop(&mut self) {
        // SAFETY: we own the key and free it once (aws-lc wipes the private value).
        unsafe { sys::DH_free(self.dh.as_ptr()) }
    }
}

impl Dh {
    /// A fresh object holding p, g and, if given, the subgroup order q (checked: p odd,
    /// 1 < g < p - 1, q < p). With q set, aws-lc draws x in [1, q - 1] and checks every public
    /// value y (the peer's at derivation, an imported key's) for y^q = 1 mod p.
    fn with_group(p: &[u8], q: Option<&[u8]>, g: &[u8]) -> R<Dh> {
        let (pb, gb) = (Bn::from_be(p)?, Bn::from_be(g)?);
        let mut pm1 = Bn::new()?;
        super::bn::copy_minus(&mut pm1, &pb, 1)?;
        if !pb.is_odd() || gb.is_word(0) || gb.is_word(1) || gb.cmp(&pm1) != std::cmp::Ordering::Less {
            return Err(Failed);
        }
        // SAFETY: no preconditions; a new DH we then own, or null.
        let dh = NonNull::new(unsafe { sys::DH_new() }).ok_or(Failed)?;
        // Owned from here, so freed on every early return.
        let mut key = Dh { dh, private: false, p_len: 0 };
        let qb = match q {
            Some(q) => {
                let qb = Bn::from_be(q)?;
                if qb.cmp(&pb) != std::cmp::Ordering::Less {
                    return Err(Failed);
                }
                Some(qb)
            }
            None => None,
        };
        let qraw = qb.map_or(ptr::null_mut(), Bn::into_raw);
        // SAFETY: exclusively ours; set0 takes ownership of the non-null p, g and q (a null q
        // stays unset).
        check(unsafe { sys::DH_set0_pqg(dh.as_ptr(), pb.into_raw(), qraw, gb.into_raw()) })?;
        // SAFETY: a valid DH with p set.
        key.p_len = unsafe { sys::DH_size(dh.as_ptr()) } as usize;
        Ok(key)
    }

    /// A public key (1 < y < p - 1; with q, y^q = 1).
    pub fn new_public(p: &[u8], q: Option<&[u8]>, g: &[u8], y: &[u8]) -> R<Dh> {
        let key = Self::with_group(p, q, g)?;
        let yb = Bn::from_be(y)?;
        key.check_public(&yb)?;
        // SAFETY: exclusively ours (not shared yet); set0 takes ownership of `y`; a null private
        // value is allowed.
        check(unsafe { sys::DH_set0_key(key.dh.as_ptr(), yb.into_raw(), ptr::null_mut()) })?;
        Ok(key)
    }

    /// A private key from x (0 < x < p - 1); y = g^x mod p is computed (or, for the key this
    /// thread just generated, taken from [`Dh::generate`]).
    pub fn new_private(p: &[u8], q: Option<&[u8]>, g: &[u8], x: &[u8]) -> R<Dh> {
        let mut key = Self::with_group(p, q, g)?;
        let (pb, gb, xb) = (Bn::from_be(p)?, Bn::from_be(g)?, Bn::from_be(x)?);
        let mut pm1 = Bn::new()?;
        super::bn::copy_minus(&mut pm1, &pb, 1)?;
        if xb.is_word(0) || xb.cmp(&pm1) != std::cmp::Ordering::Less {
            return Err(Failed);
        }
        let id = key_id(&bn_bytes(pb.as_ptr())?, &bn_bytes(gb.as_ptr())?, &bn_bytes(xb.as_ptr())?);
        let known = JUST_MADE.with(|m| m.borrow_mut().take()).filter(|(made, _)| *made == id).map(|(_, y)| y);
        let y = match known {
            Some(y) => Bn::from_be(&y)?,
            None => {
                let mut y = Bn::new()?;
                mod_exp(&mut y, &gb, &xb, &pb, &BnCtx::new()?)?;
                y
            }
        };
        // SAFETY: exclusively ours; set0 takes ownership of both non-null BIGNUMs.
        check(unsafe { sys::DH_set0_key(key.dh.as_ptr(), y.into_raw(), xb.into_raw()) })?;
        key.private = true;
        Ok(key)
    }

    /// Whether p is probably prime (trial division and [`DH_PRIME_ROUNDS`] Miller-Rabin rounds).
    pub fn prime_plausible(p: &[u8]) -> R<bool> {
        probably_prime(&Bn::from_be(p)?, DH_PRIME_ROUNDS, &BnCtx::new()?)
    }

    /// Whether p is a safe prime: (p - 1) / 2 and p both pass [`DH_PRIME_ROUNDS`] rounds
    /// (q first: for a p - 1 with small factors, trial division refuses q at once).
    pub fn safe_prime(p: &[u8]) -> R<bool> {
        let (pb, ctx) = (Bn::from_be(p)?, BnCtx::new()?);
        let mut q = Bn::new()?;
        // SAFETY: valid BIGNUMs, `q` exclusively ours and distinct from `pb`.
        check(unsafe { sys::BN_rshift1(q.as_mut_ptr(), pb.as_ptr()) })?;
        Ok(pb.is_odd() && probably_prime(&q, DH_PRIME_ROUNDS, &ctx)? && probably_prime(&pb, DH_PRIME_ROUNDS, &ctx)?)
    }

    /// Whether (p, q, g) is a group with a prime-order subgroup: p odd, 1 < g < p, q | p - 1,
    /// g^q = 1 mod p (so g, not 1, has order q), q and p probably prime. All public values.
    pub fn subgroup_valid(p: &[u8], q: &[u8], g: &[u8]) -> R<bool> {
        let (pb, qb, gb, ctx) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?, BnCtx::new()?);
        if !pb.is_odd() || gb.is_word(0) || gb.is_word(1) || gb.cmp(&pb) != std::cmp::Ordering::Less {
            return Ok(false);
        }
        if qb.is_word(0) || qb.cmp(&pb) != std::cmp::Ordering::Less {
            return Ok(false);
        }
        let (mut pm1, mut rem, mut t) = (Bn::new()?, Bn::new()?, Bn::new()?);
        super::bn::copy_minus(&mut pm1, &pb, 1)?;
        nnmod(&mut rem, &pm1, &qb, &ctx)?;
        if !rem.is_word(0) {
            return Ok(false);
        }
        mod_exp(&mut t, &gb, &qb, &pb, &ctx)?;
        Ok(t.is_word(1) && probably_prime(&qb, DH_PRIME_ROUNDS, &ctx)? && probably_prime(&pb, DH_PRIME_ROUNDS, &ctx)?)
    }

    /// A new key pair on (p, g). With q, x is uniform in [1, q - 1] (or below 2^value_bits if
    /// that is shorter); without, x < 2^value_bits (PKCS #3's private-value length) or
    /// x < (p - 1) / 2.
    pub fn generate(p: &[u8], q: Option<&[u8]>, g: &[u8], value_bits: Option<u32>) -> R<Dh> {
        // aws-lc ignores the length when q is set: a shorter x is drawn with q unset, which is
        // set afterwards (x < 2^bits < q is as valid in the order-q subgroup).
        let q_bits = q.map(Bn::from_be).transpose()?.map(|q| q.bits());
        let shorter = matches!((q_bits, value_bits), (Some(n), Some(b)) if b < n);
        let mut key = Self::with_group(p, if shorter { None } else { q }, g)?;
        if let Some(bits) = value_bits {
            // SAFETY: exclusively ours.
            check(unsafe { sys::DH_set_length(key.dh.as_ptr(), bits) })?;
        }
        // SAFETY: exclusively ours; the function checks p and g first.
        check(unsafe { sys::DH_generate_key(key.dh.as_ptr()) })?;
        if let (true, Some(q)) = (shorter, q) {
            let qb = Bn::from_be(q)?;
            // SAFETY: exclusively ours, p and g already set (left unchanged by the nulls); set0
            // takes ownership of q.
            check(unsafe { sys::DH_set0_pqg(key.dh.as_ptr(), ptr::null_mut(), qb.into_raw(), ptr::null_mut()) })?;
        }
        key.private = true;
        // The new private key object is built from (p, g, x) again right away (its public half
        // for CKA_PUBLIC_KEY_INFO): remember y for it, by a hash, so that costs no second
        // full-length exponentiation.
        let [p, g, y] = key.parts()?;
        let id = key_id(&p, &g, &key.x()?);
        JUST_MADE.with(|m| *m.borrow_mut() = Some((id, y)));
        Ok(key)
    }

    fn check_public(&self, y: &Bn) -> R<()> {
        let mut flags = 0;
        // SAFETY: valid DH and BIGNUM, live int; const. Without q only the range 1 < y < p - 1
        // is checked (one comparison each); with q also y^q = 1 mod p.
        check(unsafe { sys::DH_check_pub_key(self.dh.as_ptr(), y.as_ptr(), &mut flags) })?;
        if flags != 0 {
            return Err(Failed);
        }
        Ok(())
    }

    pub fn is_private(&self) -> bool {
        self.private
    }

    /// Byte length of p.
    pub fn p_len(&self) -> usize {
        self.p_len
    }

    /// The subgroup order q the key checks public values against, if it has one.
    pub fn q(&self) -> Option<Zeroizing<Vec<u8>>> {
        // SAFETY: a valid DH; the getter borrows (null when q is unset, refused by bn_bytes).
        bn_bytes(unsafe { sys::DH_get0_q(self.dh.as_ptr()) }).ok()
    }

    /// p, g and y, minimal big-endian.
    pub fn parts(&self) -> R<[Zeroizing<Vec<u8>>; 3]> {
        let (mut p, mut q, mut g) = (ptr::null(), ptr::null(), ptr::null());
        // SAFETY: a valid DH; borrowed values, copied while the key lives.
        unsafe { sys::DH_get0_pqg(self.dh.as_ptr(), &mut p, &mut q, &mut g) };
        // SAFETY: as above.
        let y = unsafe { sys::DH_get0_pub_key(self.dh.as_ptr()) };
        Ok([bn_bytes(p)?, bn_bytes(g)?, bn_bytes(y)?])
    }

    /// The private value x, minimal big-endian (fails for public keys).
    pub fn x(&self) -> R<Zeroizing<Vec<u8>>> {
        // SAFETY: a valid DH; the getter borrows (null for public keys, refused by bn_bytes).
        bn_bytes(unsafe { sys::DH_get0_priv_key(self.dh.as_ptr()) })
    }

    /// The shared secret y_peer^x mod p, left-padded to p's length (PKCS #3 §8.2). Fails for a
    /// peer value outside 1 < y < p - 1, with q for one outside the order-q subgroup (aws-lc's
    /// DH_check_pub_key, called by the computation), and for a degenerate result.
    pub fn agree(&self, peer: &[u8]) -> R<Zeroizing<Vec<u8>>> {
        if !self.private || peer.len() > self.p_len + 1 {
            return Err(Failed);
        }
        let y = Bn::from_be(peer)?;
        let mut out = Zeroizing::new(vec![0u8; self.p_len]);
        // SAFETY: valid DH with a private value and a valid BIGNUM; `out` holds DH_size bytes,
        // what the function writes. It mutates only its cached Montgomery context, under lock
        // (see the `Sync` argument above). Returns the length written, or -1.
        let n = unsafe { sys::DH_compute_key_padded(out.as_mut_ptr(), y.as_ptr(), self.dh.as_ptr()) };
        if n < 0 || n as usize != out.len() {
            check(0)?;
        }
        Ok(out)
    }
}

/// p, and q and g where aws-lc has them.
#[cfg(test)]
pub type AwsLcGroup = (Zeroizing<Vec<u8>>, Option<Zeroizing<Vec<u8>>>, Option<Zeroizing<Vec<u8>>>);

/// The groups aws-lc itself carries, by the names of [`crate::mech::dh_groups`]: p, and q and g
/// where it has them (tests cross-check our constants with them).
#[cfg(test)]
pub fn aws_lc_group(name: &str) -> Option<AwsLcGroup> {
    let prime = |f: unsafe extern "C" fn(*mut sys::BIGNUM) -> *mut sys::BIGNUM| {
        // SAFETY: a null argument asks for a new BIGNUM, which we then own (and free).
        let bn = NonNull::new(unsafe { f(ptr::null_mut()) })?;
        let owned = Bn::from_raw(bn);
        bn_bytes(owned.as_ptr()).ok()
    };
    let group = |f: unsafe extern "C" fn() -> *mut sys::DH| {
        // SAFETY: no preconditions; a new DH we own, freed by the wrapper.
        let dh = NonNull::new(unsafe { f() })?;
        let key = Dh { dh, private: false, p_len: 0 };
        let (mut p, mut q, mut g) = (ptr::null(), ptr::null(), ptr::null());
        // SAFETY: a valid DH; borrowed values copied while it lives.
        unsafe { sys::DH_get0_pqg(key.dh.as_ptr(), &mut p, &mut q, &mut g) };
        Some((bn_bytes(p).ok()?, bn_bytes(q).ok(), bn_bytes(g).ok()))
    };
    match name {
        "modp2048" => prime(sys::BN_get_rfc3526_prime_2048).map(|p| (p, None, None)),
        "modp3072" => prime(sys::BN_get_rfc3526_prime_3072).map(|p| (p, None, None)),
        "modp4096" => prime(sys::BN_get_rfc3526_prime_4096).map(|p| (p, None, None)),
        "modp6144" => prime(sys::BN_get_rfc3526_prime_6144).map(|p| (p, None, None)),
        "modp8192" => prime(sys::BN_get_rfc3526_prime_8192).map(|p| (p, None, None)),
        "ffdhe2048" => group(sys::DH_get_rfc7919_2048),
        "ffdhe4096" => group(sys::DH_get_rfc7919_4096),
        "rfc5114-2048-256" => group(sys::DH_get_2048_256),
        _ => None,
    }
}
