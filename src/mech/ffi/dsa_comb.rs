//! DSA verification with per-key fixed-base combs (Lim–Lee). g and y never change for a key, so
//! g^u1 · y^u2 mod p is read off tables built once per key instead of two full exponentiations
//! (aws-lc's DSA_do_check_signature: ~2 × (N squarings + N/5 multiplications)).
//!
//! An N-bit exponent u is cut into TEETH rows of `cols` bits (cols = ⌈N/TEETH⌉); bit j of every
//! row together form a TEETH-bit column index. With row bases B_i = B^(2^(i·cols)) and a table of
//! the 2^TEETH − 1 products of subsets of them, B^u is `cols` steps of one squaring and one table
//! multiplication, and the squarings are shared by g and y: for N = 256 and 8 teeth, 31 squarings
//! and at most 64 multiplications (vs ~630 operations), from 2 × 255 entries of p's size
//! (2048-bit p: 128 KiB per key; 3072-bit p: 192 KiB), built with ~950 multiplications the first
//! time a key verifies. At most MAX_TABLES keys hold tables at once (≤ 24 MiB with the 3072-bit
//! keys the mechanism layer allows at most); past that, keys verify through aws-lc as before.
//! Everything here is public (the signature, the digest, the key), so variable time is fine; the
//! arithmetic is aws-lc's Montgomery multiplication.

use super::bn::{bn_padded, inverse, mod_mul, nnmod, Bn, BnCtx, Mont};
use super::{Failed, R};
use std::cmp::Ordering;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Comb width: each table holds 2^TEETH − 1 entries. Measured through the mechanism layer
/// (DSA-2048, CKM_DSA_SHA256 verify): 4 teeth 155 µs, 6 teeth 107 µs, 8 teeth 86 µs.
const TEETH: usize = 8;

/// Keys holding tables at once: bounds the memory whatever the number of key objects.
const MAX_TABLES: usize = 128;

static TABLES: Slots = Slots::new(MAX_TABLES);

/// A counted pool: a `Slot` is held while a key's tables live.
struct Slots {
    live: AtomicUsize,
    max: usize,
}

struct Slot<'a>(&'a Slots);

impl Slots {
    const fn new(max: usize) -> Slots {
        Slots { live: AtomicUsize::new(0), max }
    }

    fn take(&self) -> Option<Slot<'_>> {
        self.live.fetch_update(Relaxed, Relaxed, |n| (n < self.max).then_some(n + 1)).ok().map(|_| Slot(self))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Relaxed);
    }
}

/// One base's table: entry `b − 1` is the product of the row bases B_i for the bits i set in b,
/// in the Montgomery domain.
struct Comb(Vec<Bn>);

/// What verification needs of one public key, built from copies of p, q, g and y.
pub(super) struct Verifier {
    p: Mont,
    q: Bn,
    /// N / 8: q's length, and the digest bytes used (N is 160, 224 or 256: whole bytes).
    q_len: usize,
    cols: usize,
    /// 1 in the Montgomery domain (R mod p).
    one: Bn,
    g: Comb,
    y: Comb,
    _slot: Slot<'static>,
}

// SAFETY: after `new` the verifier is only read: its BIGNUMs and Montgomery context are passed
// to aws-lc solely as `const` inputs, and every mutable value lives in the caller's frame.
unsafe impl Send for Verifier {}
// SAFETY: see `Send` above.
unsafe impl Sync for Verifier {}

impl Verifier {
    /// Tables for the key (p, q, g, y big-endian; the caller's key already passed aws-lc's
    /// bounds: p odd and at most 10000 bits, q of 160/224/256 bits, 0 < g, y < p). Fails when
    /// MAX_TABLES keys already hold tables.
    pub(super) fn new(p: &[u8], q: &[u8], g: &[u8], y: &[u8]) -> R<Verifier> {
        let slot = TABLES.take().ok_or(Failed)?;
        let (p, q, g, y) = (Bn::from_be(p)?, Bn::from_be(q)?, Bn::from_be(g)?, Bn::from_be(y)?);
        let n = q.bits() as usize;
        if n == 0 || n % 8 != 0 || g.cmp(&p) != Ordering::Less || y.cmp(&p) != Ordering::Less {
            return Err(Failed);
        }
        let ctx = BnCtx::new()?;
        let mont = Mont::new(&p, &ctx)?;
        let cols = n.div_ceil(TEETH);
        let mut one = Bn::new()?;
        mont.enter(&mut one, &Bn::from_be(&[1])?, &ctx)?;
        let g = Comb::new(&g, cols, &mont, &ctx)?;
        let y = Comb::new(&y, cols, &mont, &ctx)?;
        Ok(Verifier { p: mont, q, q_len: n / 8, cols, one, g, y, _slot: slot })
    }

    /// FIPS 186-4 §4.7 for r and s (big-endian, any length): Ok(false) for a signature that does
    /// not verify, Err only if the arithmetic fails (no inverse of s: q not prime).
    pub(super) fn verify(&self, digest: &[u8], r: &[u8], s: &[u8]) -> R<bool> {
        let (r, s) = (Bn::from_be(r)?, Bn::from_be(s)?);
        if !self.in_range(&r) || !self.in_range(&s) {
            return Ok(false);
        }
        let ctx = BnCtx::new()?;
        let mut w = Bn::new()?;
        inverse(&mut w, &s, &self.q, &ctx)?;
        // z: the leftmost min(N, outlen) bits of the digest.
        let z = Bn::from_be(&digest[..digest.len().min(self.q_len)])?;
        let (mut u1, mut u2) = (Bn::new()?, Bn::new()?);
        mod_mul(&mut u1, &z, &w, &self.q, &ctx)?;
        mod_mul(&mut u2, &r, &w, &self.q, &ctx)?;
        let acc = self.g_y_pow(&u1, &u2, &ctx)?;
        let (mut t, mut v) = (Bn::new()?, Bn::new()?);
        self.p.leave(&mut t, &acc, &ctx)?;
        nnmod(&mut v, &t, &self.q, &ctx)?;
        Ok(v.cmp(&r) == Ordering::Equal)
    }

    /// 0 < v < q.
    fn in_range(&self, v: &Bn) -> bool {
        !v.is_word(0) && v.cmp(&self.q) == Ordering::Less
    }

    /// g^u1 · y^u2 mod p in the Montgomery domain (u1, u2 < q).
    fn g_y_pow(&self, u1: &Bn, u2: &Bn, ctx: &BnCtx) -> R<Bn> {
        let (mut e1, mut e2) = (vec![0u8; self.q_len], vec![0u8; self.q_len]);
        bn_padded(u1.as_ptr(), &mut e1)?;
        bn_padded(u2.as_ptr(), &mut e2)?;
        let mut acc = self.one.try_clone()?;
        let mut started = false;
        for j in (0..self.cols).rev() {
            if started {
                self.p.square(&mut acc, ctx)?;
            }
            for (comb, e) in [(&self.g, &e1), (&self.y, &e2)] {
                let idx = self.column(e, j);
                if idx != 0 {
                    // `idx` < 2^TEETH: always within the table.
                    self.p.mul_assign(&mut acc, &comb.0[idx - 1], ctx)?;
                    started = true;
                }
            }
        }
        Ok(acc)
    }

    /// The TEETH-bit index of column j: bit j of each row of the big-endian exponent `e`.
    fn column(&self, e: &[u8], j: usize) -> usize {
        (0..TEETH).fold(0, |idx, i| idx | (bit(e, j + i * self.cols) << i))
    }
}

/// Bit k (0 = least significant) of big-endian `e`; 0 past its end.
fn bit(e: &[u8], k: usize) -> usize {
    match e.len().checked_sub(1 + k / 8) {
        Some(at) => usize::from((e[at] >> (k % 8)) & 1),
        None => 0,
    }
}

impl Comb {
    /// The table for `base` (0 < base < p).
    fn new(base: &Bn, cols: usize, mont: &Mont, ctx: &BnCtx) -> R<Comb> {
        // Row bases B_i = base^(2^(i·cols)), each the previous squared `cols` times.
        let mut rows = Vec::with_capacity(TEETH);
        let mut cur = Bn::new()?;
        mont.enter(&mut cur, base, ctx)?;
        for i in 0..TEETH {
            if i > 0 {
                for _ in 0..cols {
                    mont.square(&mut cur, ctx)?;
                }
            }
            rows.push(cur.try_clone()?);
        }
        // Entry for b: the entry for b without its top bit, times that bit's row base.
        let mut entries: Vec<Bn> = Vec::with_capacity((1 << TEETH) - 1);
        for b in 1usize..(1 << TEETH) {
            let top = b.ilog2() as usize;
            let rest = b & !(1 << top);
            let entry = if rest == 0 {
                rows[top].try_clone()?
            } else {
                let mut e = Bn::new()?;
                mont.mul(&mut e, &entries[rest - 1], &rows[top], ctx)?;
                e
            };
            entries.push(entry);
        }
        Ok(Comb(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Dsa;
    use super::{Slots, Verifier};

    #[test]
    fn slots_cap_and_are_given_back() {
        let pool = Slots::new(2);
        let (a, b) = (pool.take().unwrap(), pool.take().unwrap());
        assert!(pool.take().is_none());
        drop(a);
        let c = pool.take().unwrap();
        assert!(pool.take().is_none());
        drop((b, c));
        assert_eq!(pool.live.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    fn random(n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        aws_lc_rs::rand::fill(&mut v).unwrap();
        v
    }

    /// The tables and aws-lc's DSA_do_check_signature agree on `sig` over `digest`; returns the
    /// verdict.
    fn agree(key: &Dsa, v: &Verifier, digest: &[u8], sig: &[u8]) -> bool {
        let n = sig.len() / 2;
        let ours = v.verify(digest, &sig[..n], &sig[n..]).unwrap_or(false);
        assert_eq!(ours, key.verify_uncached(digest, sig), "digest {digest:02x?} sig {sig:02x?}");
        assert_eq!(ours, key.verify(digest, sig));
        ours
    }

    /// q − 1, q and q + 1 as big-endian numbers of q's length (q + 1 may need one more byte:
    /// such a value cannot be a signature half, so it is left out).
    fn near_q(q: &[u8]) -> Vec<Vec<u8>> {
        let mut minus = q.to_vec();
        let last = minus.len() - 1;
        minus[last] -= 1; // q is an odd prime: no borrow
        let mut plus = q.to_vec();
        plus[last] = plus[last].wrapping_add(1);
        let mut out = vec![minus, q.to_vec()];
        if plus[last] != 0 {
            out.push(plus);
        }
        out
    }

    fn compare_on(bits: u32, rounds: usize) {
        let params = Dsa::generate_params(bits).unwrap();
        let key = Dsa::generate_key(&params.p, &params.q, &params.g).unwrap();
        let k = key.parts().unwrap();
        let v = Verifier::new(&k.p, &k.q, &k.g, &k.y).unwrap();
        let n = key.sig_len() / 2;
        assert_eq!(n, params.q.len());
        let mut sig = vec![0u8; 2 * n];
        for round in 0..rounds {
            // Digests shorter than, equal to and longer than q.
            let digest = random([20, 28, 32, 48, 64, 1, 0][round % 7]);
            key.sign(&digest, &mut sig).unwrap();
            assert!(agree(&key, &v, &digest, &sig), "a fresh signature verifies");
            // Past N bits the digest is ignored; within them, any change is refused.
            if digest.len() > n {
                let mut longer = digest.clone();
                longer[n] ^= 1;
                assert!(agree(&key, &v, &longer, &sig));
            }
            if !digest.is_empty() {
                let mut changed = digest.clone();
                let at = round % digest.len().min(n);
                changed[at] ^= 1 << (round % 8);
                assert!(!agree(&key, &v, &changed, &sig));
            }
            let mut flipped = sig.clone();
            flipped[round % (2 * n)] ^= 1 << (round % 8);
            assert!(!agree(&key, &v, &digest, &flipped));
            assert!(!agree(&key, &v, &digest, &random(2 * n)));
        }
        // r or s of 0, q − 1, q, q + 1 and all ones, beside a valid other half.
        let digest = random(32);
        key.sign(&digest, &mut sig).unwrap();
        let mut edges = near_q(&params.q);
        edges.push(vec![0u8; n]);
        edges.push(vec![0xff; n]);
        for edge in &edges {
            for half in 0..2 {
                let mut bad = sig.clone();
                bad[half * n..(half + 1) * n].copy_from_slice(edge);
                assert!(!agree(&key, &v, &digest, &bad));
            }
        }
    }

    /// r + q and s + q (longer than a signature half, so only the verifier itself sees them)
    /// are refused although they are congruent to a valid r and s: the range check, not the
    /// arithmetic, refuses them.
    #[test]
    fn congruent_out_of_range_halves_are_refused() {
        use rsa::BigUint;
        let params = Dsa::generate_params(2048).unwrap();
        let key = Dsa::generate_key(&params.p, &params.q, &params.g).unwrap();
        let k = key.parts().unwrap();
        let v = Verifier::new(&k.p, &k.q, &k.g, &k.y).unwrap();
        let (digest, mut sig) = (random(32), vec![0u8; key.sig_len()]);
        key.sign(&digest, &mut sig).unwrap();
        let (r, s) = sig.split_at(sig.len() / 2);
        let plus_q = |x: &[u8]| (BigUint::from_bytes_be(x) + BigUint::from_bytes_be(&params.q)).to_bytes_be();
        assert!(v.verify(&digest, r, s).unwrap());
        assert!(!v.verify(&digest, &plus_q(r), s).unwrap());
        assert!(!v.verify(&digest, r, &plus_q(s)).unwrap());
        // Leading zero bytes change nothing.
        assert!(v.verify(&digest, &[&[0u8, 0][..], r].concat(), s).unwrap());
    }

    /// Threads verifying with a key that has no tables yet race to build them; all agree, and
    /// the key keeps one table.
    #[test]
    fn first_verifications_from_several_threads() {
        let params = Dsa::generate_params(1024).unwrap();
        let key = Dsa::generate_key(&params.p, &params.q, &params.g).unwrap();
        let (digest, mut sig) = (random(20), vec![0u8; key.sig_len()]);
        key.sign(&digest, &mut sig).unwrap();
        let mut bad = sig.clone();
        bad[3] ^= 0x10;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20 {
                        assert!(key.verify(&digest, &sig));
                        assert!(!key.verify(&digest, &bad));
                    }
                });
            }
        });
    }

    #[test]
    fn comb_agrees_with_aws_lc_on_n256() {
        compare_on(2048, 60);
    }

    #[test]
    fn comb_agrees_with_aws_lc_on_n160() {
        compare_on(1024, 60);
    }
}
