//! Elliptic-curve keys on the short Weierstrass curves: ECDSA over a digest of any length, and
//! ECDH.

use super::bn::{bn_padded, Bn};
use super::{check, Failed, R};
use aws_lc_sys as sys;
use std::os::raw::c_int;
use std::ptr::{self, NonNull};
use zeroize::Zeroizing;

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
