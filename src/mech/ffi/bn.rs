//! Owned BIGNUMs and BN_CTXs, and the few big-number steps RSA key generation and EC keys
//! need.

use super::{check, Failed, R};
use aws_lc_sys as sys;
use std::os::raw::c_int;
use std::ptr::{self, NonNull};
use zeroize::Zeroizing;

/// An owned BIGNUM, wiped when freed.
pub(super) struct Bn(NonNull<sys::BIGNUM>);

impl Bn {
    pub(super) fn from_be(b: &[u8]) -> R<Bn> {
        // SAFETY: `b` is a live slice of `b.len()` bytes; a null `ret` asks for a new BIGNUM,
        // which we then own.
        let p = unsafe { sys::BN_bin2bn(b.as_ptr(), b.len(), ptr::null_mut()) };
        NonNull::new(p).map(Bn).ok_or(Failed)
    }

    /// Takes ownership of a BIGNUM an engine function returned.
    #[cfg(test)]
    pub(super) fn from_raw(p: NonNull<sys::BIGNUM>) -> Bn {
        Bn(p)
    }

    pub(super) fn as_ptr(&self) -> *const sys::BIGNUM {
        self.0.as_ptr()
    }

    /// Gives up ownership (to a function that takes it).
    pub(super) fn into_raw(self) -> *mut sys::BIGNUM {
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
    pub(super) fn new() -> R<Bn> {
        // SAFETY: no preconditions; a new BIGNUM we then own, or null.
        NonNull::new(unsafe { sys::BN_new() }).map(Bn).ok_or(Failed)
    }

    /// For a function that writes the value (`&mut self`: nothing else reads it meanwhile).
    pub(super) fn as_mut_ptr(&mut self) -> *mut sys::BIGNUM {
        self.0.as_ptr()
    }

    /// Bit length of the magnitude.
    pub(super) fn bits(&self) -> u32 {
        // SAFETY: a valid BIGNUM; non-mutating getter.
        unsafe { sys::BN_num_bits(self.as_ptr()) }
    }
}

/// An owned BN_CTX (scratch space for the arithmetic; aws-lc wipes what it frees).
pub(super) struct BnCtx(NonNull<sys::BN_CTX>);

impl BnCtx {
    pub(super) fn new() -> R<BnCtx> {
        // SAFETY: no preconditions; a new context we then own, or null.
        NonNull::new(unsafe { sys::BN_CTX_new() }).map(BnCtx).ok_or(Failed)
    }

    pub(super) fn as_ptr(&self) -> *mut sys::BN_CTX {
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
pub(super) fn bn_bytes(bn: *const sys::BIGNUM) -> R<Zeroizing<Vec<u8>>> {
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
pub(super) fn bn_padded(bn: *const sys::BIGNUM, out: &mut [u8]) -> R<()> {
    if bn.is_null() {
        return Err(Failed);
    }
    // SAFETY: `bn` is non-null and live (callers' key objects); `out` is writable for its length.
    check(unsafe { sys::BN_bn2bin_padded(out.as_mut_ptr(), out.len(), bn) })
}

/// r = a - w.
pub(super) fn copy_minus(r: &mut Bn, a: &Bn, w: sys::BN_ULONG) -> R<()> {
    // SAFETY: valid BIGNUMs, `r` exclusively ours and not `a`; BN_copy returns `r`, or null.
    if unsafe { sys::BN_copy(r.as_mut_ptr(), a.as_ptr()) }.is_null() {
        return check(0);
    }
    // SAFETY: as above.
    check(unsafe { sys::BN_sub_word(r.as_mut_ptr(), w) })
}

/// out = a^-1 mod m. For the even moduli used here aws-lc takes its constant-time path.
pub(super) fn inverse(out: &mut Bn, a: &Bn, m: &Bn, ctx: &BnCtx) -> R<()> {
    // SAFETY: valid BIGNUMs and context, `out` exclusively ours and distinct from the inputs;
    // returns `out`, or null (also when there is no inverse).
    if unsafe { sys::BN_mod_inverse(out.as_mut_ptr(), a.as_ptr(), m.as_ptr(), ctx.as_ptr()) }.is_null() {
        return check(0);
    }
    Ok(())
}

/// Whether gcd(a, b) = w (`g` is scratch). aws-lc's BN_gcd is constant-time.
pub(super) fn gcd_is(g: &mut Bn, a: &Bn, b: &Bn, w: sys::BN_ULONG, ctx: &BnCtx) -> R<bool> {
    // SAFETY: valid BIGNUMs and context; `g` exclusively ours and distinct from the inputs.
    check(unsafe { sys::BN_gcd(g.as_mut_ptr(), a.as_ptr(), b.as_ptr(), ctx.as_ptr()) })?;
    // SAFETY: a valid BIGNUM; non-mutating.
    Ok(unsafe { sys::BN_is_word(g.as_ptr(), w) } == 1)
}

impl Bn {
    /// Compares magnitudes: `a < b` is `Less` (both non-negative here).
    pub(super) fn cmp(&self, other: &Bn) -> std::cmp::Ordering {
        // SAFETY: valid BIGNUMs; non-mutating.
        unsafe { sys::BN_ucmp(self.as_ptr(), other.as_ptr()) }.cmp(&0)
    }

    pub(super) fn is_odd(&self) -> bool {
        // SAFETY: a valid BIGNUM; non-mutating.
        unsafe { sys::BN_is_odd(self.as_ptr()) == 1 }
    }

    /// Whether the value equals the small word `w`.
    pub(super) fn is_word(&self, w: sys::BN_ULONG) -> bool {
        // SAFETY: a valid BIGNUM; non-mutating.
        unsafe { sys::BN_is_word(self.as_ptr(), w) == 1 }
    }
}

/// out = a^e mod m, in constant time (the exponent may be secret; `m` must be odd).
pub(super) fn mod_exp(out: &mut Bn, a: &Bn, e: &Bn, m: &Bn, ctx: &BnCtx) -> R<()> {
    // SAFETY: valid BIGNUMs and context, `out` exclusively ours and distinct from the inputs; a
    // null Montgomery context asks the function to build its own.
    check(unsafe {
        sys::BN_mod_exp_mont_consttime(out.as_mut_ptr(), a.as_ptr(), e.as_ptr(), m.as_ptr(), ctx.as_ptr(), ptr::null())
    })
}

/// Whether `n` is probably prime: trial division, then `rounds` Miller-Rabin rounds (each one
/// modular exponentiation: the caller bounds the size, so the work is bounded). An adversarial
/// composite passes `rounds` rounds with probability at most 4^-rounds.
pub(super) fn probably_prime(n: &Bn, rounds: c_int, ctx: &BnCtx) -> R<bool> {
    let mut yes = 0;
    // SAFETY: valid BIGNUM and context; `yes` is a live int; a null callback is allowed.
    check(unsafe { sys::BN_primality_test(&mut yes, n.as_ptr(), rounds, ctx.as_ptr(), 1, ptr::null_mut()) })?;
    Ok(yes == 1)
}

impl Bn {
    /// A copy with the same width (aws-lc's BN_copy keeps it, so Montgomery operands stay on the
    /// fast full-width path).
    pub(super) fn try_clone(&self) -> R<Bn> {
        // SAFETY: a valid BIGNUM; a new BIGNUM we then own, or null.
        NonNull::new(unsafe { sys::BN_dup(self.as_ptr()) }).map(Bn).ok_or(Failed)
    }
}

/// out = a * b mod m (public values: aws-lc's variable-time path).
pub(super) fn mod_mul(out: &mut Bn, a: &Bn, b: &Bn, m: &Bn, ctx: &BnCtx) -> R<()> {
    // SAFETY: valid BIGNUMs and context, `out` exclusively ours and distinct from the inputs.
    check(unsafe { sys::BN_mod_mul(out.as_mut_ptr(), a.as_ptr(), b.as_ptr(), m.as_ptr(), ctx.as_ptr()) })
}

/// out = a mod m, in [0, m).
pub(super) fn nnmod(out: &mut Bn, a: &Bn, m: &Bn, ctx: &BnCtx) -> R<()> {
    // SAFETY: valid BIGNUMs and context, `out` exclusively ours and distinct from the inputs.
    check(unsafe { sys::BN_nnmod(out.as_mut_ptr(), a.as_ptr(), m.as_ptr(), ctx.as_ptr()) })
}

/// A Montgomery context for an odd public modulus, read only (`const BN_MONT_CTX *`) once made.
pub(super) struct Mont(NonNull<sys::BN_MONT_CTX>);

impl Drop for Mont {
    fn drop(&mut self) {
        // SAFETY: we own the context and free it once.
        unsafe { sys::BN_MONT_CTX_free(self.0.as_ptr()) }
    }
}

impl Mont {
    /// Fails for an even or zero modulus.
    pub(super) fn new(m: &Bn, ctx: &BnCtx) -> R<Mont> {
        // SAFETY: valid BIGNUM and context; a new context we then own, or null.
        let p = unsafe { sys::BN_MONT_CTX_new_for_modulus(m.as_ptr(), ctx.as_ptr()) };
        let Some(p) = NonNull::new(p) else { return check(0).and(Err(Failed)) };
        Ok(Mont(p))
    }

    /// out = a·R mod m, for 0 <= a < m: into the Montgomery domain.
    pub(super) fn enter(&self, out: &mut Bn, a: &Bn, ctx: &BnCtx) -> R<()> {
        // SAFETY: valid BIGNUMs, context and Montgomery context (const); `out` exclusively ours.
        check(unsafe { sys::BN_to_montgomery(out.as_mut_ptr(), a.as_ptr(), self.0.as_ptr(), ctx.as_ptr()) })
    }

    /// out = a·R^-1 mod m: leaves the Montgomery domain.
    pub(super) fn leave(&self, out: &mut Bn, a: &Bn, ctx: &BnCtx) -> R<()> {
        // SAFETY: as in `enter`.
        check(unsafe { sys::BN_from_montgomery(out.as_mut_ptr(), a.as_ptr(), self.0.as_ptr(), ctx.as_ptr()) })
    }

    /// out = a·b·R^-1 mod m (both in the Montgomery domain).
    pub(super) fn mul(&self, out: &mut Bn, a: &Bn, b: &Bn, ctx: &BnCtx) -> R<()> {
        // SAFETY: as in `enter`.
        check(unsafe {
            sys::BN_mod_mul_montgomery(out.as_mut_ptr(), a.as_ptr(), b.as_ptr(), self.0.as_ptr(), ctx.as_ptr())
        })
    }

    /// acc = acc·b·R^-1 mod m, in place.
    pub(super) fn mul_assign(&self, acc: &mut Bn, b: &Bn, ctx: &BnCtx) -> R<()> {
        let a = acc.as_mut_ptr();
        // SAFETY: as in `enter`; the output may alias an input (aws-lc's own exponentiation
        // calls BN_mod_mul_montgomery(r, r, x)), and `acc` is borrowed mutably, so nothing else
        // reads it meanwhile.
        check(unsafe { sys::BN_mod_mul_montgomery(a, a, b.as_ptr(), self.0.as_ptr(), ctx.as_ptr()) })
    }

    /// acc = acc²·R^-1 mod m, in place.
    pub(super) fn square(&self, acc: &mut Bn, ctx: &BnCtx) -> R<()> {
        let a = acc.as_mut_ptr();
        // SAFETY: as in `mul_assign` (aws-lc squares with BN_mod_mul_montgomery(r, r, r)).
        check(unsafe { sys::BN_mod_mul_montgomery(a, a, a, self.0.as_ptr(), ctx.as_ptr()) })
    }
}
