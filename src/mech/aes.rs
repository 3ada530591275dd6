//! AES: CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR and CKM_AES_GCM, all on aws-lc-rs,
//! plus the block-mode machinery (ECB/CBC chaining across calls, PKCS#7 padding, partial-block
//! buffering) that `des3` reuses with 8-byte blocks.
//!
//! Engine keys come from the [`SecretKey`] caches, so an operation costs one allocation (the boxed
//! operation) and no key schedule. aws-lc-rs binds one IV per call, so multi-part chaining keeps
//! the running IV/counter here: CBC carries the last ciphertext block, CTR the counter block.
//!
//! CTR: `ulCounterBits` (1..=128) is honoured by refusing, with `CKR_DATA_LEN_RANGE`
//! (`CKR_ENCRYPTED_DATA_LEN_RANGE` when decrypting), any input that would need the counter field
//! to go past its all-ones value; the bits above the counter field are never changed.
//!
//! GCM: any IV SP 800-38D allows, 1 to 4096 bytes: 96-bit IVs on aws-lc-rs's AEAD (which takes
//! 12-byte nonces only), other lengths through aws-lc's EVP interface (`ffi::gcm_seal`), which
//! hashes the IV into the pre-counter block. Tags of 96..=128 bits in steps of 8 are supported;
//! a truncated tag is the prefix of the full tag (SP 800-38D §7.1). With a 96-bit IV a truncated
//! tag is verified by decrypting with AES-CTR from J0+1 and recomputing the full tag over the
//! recovered plaintext; with another IV aws-lc compares it.

use super::ffi;
use super::key::SecretKey;
use super::{CipherOp, KeyMaterial, Mechanism, Params};
use crate::error::{err, Error, Result};
use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::constant_time;
use aws_lc_rs::iv::FixedLength;
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

pub(crate) const AES_BLOCK: usize = 16;

// ---------------------------------------------------------------------------------------------
// Shared block-mode machinery (AES and DES3)
// ---------------------------------------------------------------------------------------------

/// How blocks are chained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chain {
    Ecb,
    Cbc,
}

/// A cached engine key of one direction.
pub(crate) enum Engine {
    Enc(Arc<EncryptingKey>),
    Dec(Arc<DecryptingKey>),
}

/// Builds the unbound engine key of a cipher family from the key value (length already checked).
pub(crate) type MakeKey = fn(&[u8]) -> Result<UnboundCipherKey>;

/// The cached engine key of `sk` for a chaining mode and direction, built on first use.
/// `bad_key` is returned when the engine refuses the key material (DES3 degenerate keys).
pub(crate) fn engine(sk: &SecretKey, chain: Chain, decrypt: bool, make: MakeKey, bad_key: CK_RV) -> Result<Engine> {
    let c = &sk.cipher;
    let refuse = |_| Error::new(bad_key);
    Ok(match (chain, decrypt) {
        (Chain::Ecb, false) => Engine::Enc(
            c.ecb_enc.get_or_try_init(|| EncryptingKey::ecb(make(&sk.value)?).map(Arc::new).map_err(refuse))?.clone(),
        ),
        (Chain::Cbc, false) => Engine::Enc(
            c.cbc_enc.get_or_try_init(|| EncryptingKey::cbc(make(&sk.value)?).map(Arc::new).map_err(refuse))?.clone(),
        ),
        (Chain::Ecb, true) => Engine::Dec(
            c.ecb_dec.get_or_try_init(|| DecryptingKey::ecb(make(&sk.value)?).map(Arc::new).map_err(refuse))?.clone(),
        ),
        (Chain::Cbc, true) => Engine::Dec(
            c.cbc_dec.get_or_try_init(|| DecryptingKey::cbc(make(&sk.value)?).map(Arc::new).map_err(refuse))?.clone(),
        ),
    })
}

fn enc_ctx(iv: &[u8]) -> EncryptionContext {
    if iv.len() == 16 {
        let mut a = [0u8; 16];
        a.copy_from_slice(iv);
        EncryptionContext::Iv128(FixedLength::from(a))
    } else {
        let mut a = [0u8; 8];
        a.copy_from_slice(iv);
        EncryptionContext::Iv64(FixedLength::from(a))
    }
}

fn dec_ctx(iv: &[u8]) -> DecryptionContext {
    if iv.len() == 16 {
        let mut a = [0u8; 16];
        a.copy_from_slice(iv);
        DecryptionContext::Iv128(FixedLength::from(a))
    } else {
        let mut a = [0u8; 8];
        a.copy_from_slice(iv);
        DecryptionContext::Iv64(FixedLength::from(a))
    }
}

/// ECB / CBC / CBC-PAD encryption or decryption, single- or multi-part, for 8- or 16-byte blocks.
///
/// Partial blocks are buffered across `update` calls; padded decryption also holds back the last
/// complete block until `finalize`, where the padding is checked. `CKR_BUFFER_TOO_SMALL` leaves
/// the state untouched, so the call can be repeated with a larger buffer.
pub(crate) struct BlockOp {
    engine: Engine,
    chain: Chain,
    pad: bool,
    bs: usize,
    /// Running IV (CBC): the previous ciphertext block.
    iv: [u8; 16],
    buf: [u8; 16],
    buf_len: usize,
}

impl BlockOp {
    pub(crate) fn new(engine: Engine, chain: Chain, pad: bool, bs: usize, iv: Option<&[u8]>) -> BlockOp {
        debug_assert!(bs == 8 || bs == 16);
        let mut op = BlockOp { engine, chain, pad, bs, iv: [0; 16], buf: [0; 16], buf_len: 0 };
        if let Some(iv) = iv {
            op.iv[..bs].copy_from_slice(&iv[..bs]);
        }
        op
    }

    fn decrypting(&self) -> bool {
        matches!(self.engine, Engine::Dec(_))
    }

    /// Bytes an `update` with `n` more input bytes writes (the rest stays buffered).
    fn out_for(&self, n: usize) -> usize {
        let total = self.buf_len + n;
        let keep = if self.pad && self.decrypting() {
            // Hold back the last block (even a complete one) for the padding check.
            if total == 0 {
                0
            } else {
                (total - 1) % self.bs + 1
            }
        } else {
            total % self.bs
        };
        total - keep
    }

    fn len_error(&self) -> Error {
        Error::new(if self.decrypting() { CKR_ENCRYPTED_DATA_LEN_RANGE } else { CKR_DATA_LEN_RANGE })
    }

    /// Runs the cipher over whole blocks in place and advances the CBC chain.
    fn process(&mut self, data: &mut [u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let bs = self.bs;
        let last = data.len() - bs;
        match (&self.engine, self.chain) {
            (Engine::Enc(k), Chain::Ecb) => {
                k.less_safe_encrypt(data, EncryptionContext::None)?;
            }
            (Engine::Enc(k), Chain::Cbc) => {
                k.less_safe_encrypt(data, enc_ctx(&self.iv[..bs]))?;
                self.iv[..bs].copy_from_slice(&data[last..]);
            }
            (Engine::Dec(k), Chain::Ecb) => {
                k.decrypt(data, DecryptionContext::None)?;
            }
            (Engine::Dec(k), Chain::Cbc) => {
                let mut next = [0u8; 16];
                next[..bs].copy_from_slice(&data[last..]);
                k.decrypt(data, dec_ctx(&self.iv[..bs]))?;
                self.iv = next;
            }
        }
        Ok(())
    }
}

impl CipherOp for BlockOp {
    fn update_len(&self, input_len: usize) -> usize {
        self.out_for(input_len)
    }

    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let total = self.buf_len + input.len();
        let n = self.out_for(input.len());
        if out.len() < n {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        if n == 0 {
            self.buf[self.buf_len..total].copy_from_slice(input);
            self.buf_len = total;
            return Ok(0);
        }
        // n is a positive multiple of the block size, so n >= bs > buf_len (or == bs when a
        // padded decryption held back a whole block): the buffered bytes go first.
        let held = self.buf_len;
        let take = n - held;
        out[..held].copy_from_slice(&self.buf[..held]);
        out[held..n].copy_from_slice(&input[..take]);
        self.process(&mut out[..n])?;
        let rest = &input[take..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
        Ok(n)
    }

    fn final_len(&self) -> usize {
        match (self.pad, self.decrypting()) {
            (false, _) => 0,
            (true, false) => self.bs,
            (true, true) => self.bs - 1,
        }
    }

    fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        let bs = self.bs;
        if !self.pad {
            return if self.buf_len == 0 { Ok(0) } else { Err(self.len_error()) };
        }
        if !self.decrypting() {
            if out.len() < bs {
                return err(CKR_BUFFER_TOO_SMALL);
            }
            // PKCS#7: 1..=bs bytes, each holding the pad length.
            let padv = (bs - self.buf_len) as u8;
            out[..self.buf_len].copy_from_slice(&self.buf[..self.buf_len]);
            out[self.buf_len..bs].fill(padv);
            self.process(&mut out[..bs])?;
            self.buf.zeroize();
            self.buf_len = 0;
            return Ok(bs);
        }
        if self.buf_len != bs {
            return Err(self.len_error());
        }
        let saved_iv = self.iv;
        let mut blk = Zeroizing::new([0u8; 16]);
        blk[..bs].copy_from_slice(&self.buf[..bs]);
        self.process(&mut blk[..bs])?;
        let padv = blk[bs - 1] as usize;
        // Checked without branching on the pad bytes themselves.
        let mut diff = 0u8;
        for (i, b) in blk[..bs].iter().enumerate() {
            let in_pad = u8::from(i + padv >= bs);
            diff |= in_pad.wrapping_neg() & (b ^ blk[bs - 1]);
        }
        if (padv == 0) | (padv > bs) | (diff != 0) {
            return err(CKR_ENCRYPTED_DATA_INVALID);
        }
        let n = bs - padv;
        if out.len() < n {
            self.iv = saved_iv;
            return err(CKR_BUFFER_TOO_SMALL);
        }
        out[..n].copy_from_slice(&blk[..n]);
        self.buf.zeroize();
        self.buf_len = 0;
        Ok(n)
    }

    fn single(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = input.len();
        let fresh = self.buf_len == 0;
        if fresh && !self.pad {
            // One engine call over the whole input, and the length error before any work.
            if n % self.bs != 0 {
                return Err(self.len_error());
            }
            if out.len() < n {
                return err(CKR_BUFFER_TOO_SMALL);
            }
            out[..n].copy_from_slice(input);
            self.process(&mut out[..n])?;
            return Ok(n);
        }
        if fresh && self.decrypting() && (n == 0 || n % self.bs != 0) {
            return Err(self.len_error());
        }
        let bound = self.single_len(n);
        if out.len() >= bound {
            let a = self.update(input, out)?;
            let b = self.finalize(&mut out[a..])?;
            return Ok(a + b);
        }
        if !self.decrypting() {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        // Padded decryption into a buffer below the bound: the exact length is only known after
        // decrypting, so work in a scratch buffer and restore the state if it does not fit.
        let (iv, buf, buf_len) = (self.iv, self.buf, self.buf_len);
        let mut tmp = Zeroizing::new(vec![0u8; bound]);
        let a = self.update(input, &mut tmp)?;
        let b = self.finalize(&mut tmp[a..])?;
        if a + b > out.len() {
            (self.iv, self.buf, self.buf_len) = (iv, buf, buf_len);
            return err(CKR_BUFFER_TOO_SMALL);
        }
        out[..a + b].copy_from_slice(&tmp[..a + b]);
        Ok(a + b)
    }
}

impl Drop for BlockOp {
    fn drop(&mut self) {
        self.buf.zeroize();
        self.iv.zeroize();
    }
}

/// Maps key errors of a wrap (or unwrap) call to the wrapping-key return values.
pub(crate) fn wrapping_key_error(e: Error, unwrap: bool) -> Error {
    match (e.rv(), unwrap) {
        (CKR_KEY_TYPE_INCONSISTENT, false) => Error::new(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
        (CKR_KEY_SIZE_RANGE, false) => Error::new(CKR_WRAPPING_KEY_SIZE_RANGE),
        (CKR_KEY_TYPE_INCONSISTENT, true) => Error::new(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
        (CKR_KEY_SIZE_RANGE, true) => Error::new(CKR_UNWRAPPING_KEY_SIZE_RANGE),
        _ => e,
    }
}

/// Wraps with a block mode: the key value is encrypted as is. Without padding its length must be
/// a positive multiple of the block size (`CKR_KEY_SIZE_RANGE`).
pub(crate) fn block_wrap(mut op: BlockOp, plaintext: &[u8]) -> Result<Vec<u8>> {
    let bs = op.bs;
    if !op.pad && (plaintext.is_empty() || plaintext.len() % bs != 0) {
        return err(CKR_KEY_SIZE_RANGE);
    }
    let mut out = vec![0u8; op.single_len(plaintext.len())];
    let n = op.single(plaintext, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// Inverse of [`block_wrap`]: a bad length is `CKR_WRAPPED_KEY_LEN_RANGE`, bad padding
/// `CKR_WRAPPED_KEY_INVALID`.
pub(crate) fn block_unwrap(mut op: BlockOp, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if wrapped.is_empty() || wrapped.len() % op.bs != 0 {
        return err(CKR_WRAPPED_KEY_LEN_RANGE);
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = op.single(wrapped, &mut out).map_err(|e| match e.rv() {
        CKR_ENCRYPTED_DATA_INVALID => Error::new(CKR_WRAPPED_KEY_INVALID),
        CKR_ENCRYPTED_DATA_LEN_RANGE => Error::new(CKR_WRAPPED_KEY_LEN_RANGE),
        _ => e,
    })?;
    out.truncate(n);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// AES keys
// ---------------------------------------------------------------------------------------------

fn aes_cipher_alg(len: usize) -> Result<&'static cipher::Algorithm> {
    match len {
        16 => Ok(&cipher::AES_128),
        24 => Ok(&cipher::AES_192),
        32 => Ok(&cipher::AES_256),
        _ => err(CKR_KEY_SIZE_RANGE),
    }
}

fn make_aes(v: &[u8]) -> Result<UnboundCipherKey> {
    Ok(UnboundCipherKey::new(aes_cipher_alg(v.len())?, v)?)
}

/// The AES key of `key`: type CKK_AES (`CKR_KEY_TYPE_INCONSISTENT`), 16/24/32 bytes
/// (`CKR_KEY_SIZE_RANGE`).
pub(crate) fn aes_key(key: &KeyMaterial) -> Result<&SecretKey> {
    let sk = key.secret(&[CKK_AES])?;
    aes_cipher_alg(sk.value.len())?;
    Ok(sk)
}

/// The cached AES-CTR engine key.
pub(crate) fn ctr_engine(sk: &SecretKey) -> Result<Arc<EncryptingKey>> {
    Ok(sk.cipher.ctr.get_or_try_init(|| Ok::<_, Error>(Arc::new(EncryptingKey::ctr(make_aes(&sk.value)?)?)))?.clone())
}

/// The cached AES-GCM engine key.
pub(crate) fn gcm_engine(sk: &SecretKey) -> Result<Arc<LessSafeKey>> {
    Ok(sk
        .gcm
        .get_or_try_init(|| {
            let alg = match sk.value.len() {
                16 => &aead::AES_128_GCM,
                24 => &aead::AES_192_GCM,
                32 => &aead::AES_256_GCM,
                _ => return err(CKR_KEY_SIZE_RANGE),
            };
            Ok::<_, Error>(Arc::new(LessSafeKey::new(UnboundKey::new(alg, &sk.value)?)))
        })?
        .clone())
}

// ---------------------------------------------------------------------------------------------
// ECB / CBC / CBC-PAD
// ---------------------------------------------------------------------------------------------

/// A block cipher that ECB, CBC and CBC-PAD run over: AES here, triple DES in [`super::des3`].
pub(crate) struct BlockCipher {
    pub(crate) block: usize,
    /// The cipher's key in a mechanism's key material, its type and length checked.
    pub(crate) key: fn(&KeyMaterial) -> Result<&SecretKey>,
    pub(crate) make: MakeKey,
    /// What it is when the engine refuses a key value (DES3's degenerate keys).
    pub(crate) bad_key: CK_RV,
}

/// ECB, CBC or CBC-PAD over a block cipher: CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD and the
/// CKM_DES3_* ones.
pub struct BlockMech {
    cipher: &'static BlockCipher,
    chain: Chain,
    pad: bool,
}

static AES: BlockCipher = BlockCipher { block: AES_BLOCK, key: aes_key, make: make_aes, bad_key: CKR_FUNCTION_FAILED };

pub static AES_ECB: BlockMech = BlockMech::new(&AES, Chain::Ecb, false);
pub static AES_CBC: BlockMech = BlockMech::new(&AES, Chain::Cbc, false);
pub static AES_CBC_PAD: BlockMech = BlockMech::new(&AES, Chain::Cbc, true);

impl BlockMech {
    pub(crate) const fn new(cipher: &'static BlockCipher, chain: Chain, pad: bool) -> Self {
        BlockMech { cipher, chain, pad }
    }

    fn op(&self, p: &Params, key: &KeyMaterial, decrypt: bool) -> Result<BlockOp> {
        let c = self.cipher;
        let sk = (c.key)(key)?;
        let iv = match (self.chain, p) {
            (Chain::Ecb, Params::None) => None,
            (Chain::Cbc, Params::Iv(iv)) if iv.len() == c.block => Some(iv.as_slice()),
            _ => return err(CKR_MECHANISM_PARAM_INVALID),
        };
        let eng = engine(sk, self.chain, decrypt, c.make, c.bad_key)?;
        Ok(BlockOp::new(eng, self.chain, self.pad, c.block, iv))
    }
}

impl Mechanism for BlockMech {
    fn encrypt(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        Ok(Box::new(self.op(p, key, false)?))
    }
    fn decrypt(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        Ok(Box::new(self.op(p, key, true)?))
    }
    fn wrap(&self, p: &Params, key: &KeyMaterial, plaintext: &[u8]) -> Result<Vec<u8>> {
        let op = self.op(p, key, false).map_err(|e| wrapping_key_error(e, false))?;
        block_wrap(op, plaintext)
    }
    fn unwrap(&self, p: &Params, key: &KeyMaterial, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let op = self.op(p, key, true).map_err(|e| wrapping_key_error(e, true))?;
        block_unwrap(op, wrapped)
    }
}

// ---------------------------------------------------------------------------------------------
// CTR
// ---------------------------------------------------------------------------------------------

/// CKM_AES_CTR (`CK_AES_CTR_PARAMS`), a stream: any length, multi-part at any split.
pub struct AesCtr;
pub static AES_CTR: AesCtr = AesCtr;

struct CtrOp {
    key: Arc<EncryptingKey>,
    /// Next counter block.
    counter: [u8; 16],
    /// Keystream of the last, partly used block, and how much of it is used (16: none left).
    ks: [u8; 16],
    ks_used: usize,
    /// Counter blocks still available before the counter field wraps (`None`: 128-bit counter).
    blocks_left: Option<u128>,
    len_error: CK_RV,
}

impl AesCtr {
    fn op(&self, p: &Params, key: &KeyMaterial, decrypt: bool) -> Result<Box<dyn CipherOp>> {
        let sk = aes_key(key)?;
        let (bits, cb) = match p {
            Params::Ctr { counter_bits, cb } if (1..=128).contains(counter_bits) => (*counter_bits, *cb),
            _ => return err(CKR_MECHANISM_PARAM_INVALID),
        };
        let blocks_left = (bits < 128).then(|| {
            let field = 1u128 << bits;
            field - (u128::from_be_bytes(cb) & (field - 1))
        });
        Ok(Box::new(CtrOp {
            key: ctr_engine(sk)?,
            counter: cb,
            ks: [0; 16],
            ks_used: 16,
            blocks_left,
            len_error: if decrypt { CKR_ENCRYPTED_DATA_LEN_RANGE } else { CKR_DATA_LEN_RANGE },
        }))
    }
}

impl Mechanism for AesCtr {
    fn encrypt(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        self.op(p, key, false)
    }
    fn decrypt(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        self.op(p, key, true)
    }
}

impl CtrOp {
    fn advance(&mut self, blocks: usize) {
        let c = u128::from_be_bytes(self.counter).wrapping_add(blocks as u128);
        self.counter = c.to_be_bytes();
    }

    fn counter_ctx(&self) -> EncryptionContext {
        EncryptionContext::Iv128(FixedLength::from(self.counter))
    }
}

impl CipherOp for CtrOp {
    fn update_len(&self, input_len: usize) -> usize {
        input_len
    }

    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = input.len();
        if out.len() < n {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        let head = n.min(16 - self.ks_used);
        let rest = n - head;
        let need = rest.div_ceil(16);
        if let Some(left) = self.blocks_left {
            if need as u128 > left {
                return err(self.len_error);
            }
            self.blocks_left = Some(left - need as u128);
        }
        // Leftover keystream of the previous call first.
        for i in 0..head {
            out[i] = input[i] ^ self.ks[self.ks_used + i];
        }
        self.ks_used += head;
        if rest == 0 {
            return Ok(n);
        }
        let full = rest - rest % 16;
        if full > 0 {
            let span = &mut out[head..head + full];
            span.copy_from_slice(&input[head..head + full]);
            self.key.less_safe_encrypt(span, self.counter_ctx())?;
            self.advance(full / 16);
        }
        let tail = rest - full;
        if tail > 0 {
            // Keystream block for the tail, kept for the next call.
            self.ks = [0; 16];
            let ctx = self.counter_ctx();
            self.key.less_safe_encrypt(&mut self.ks, ctx)?;
            self.advance(1);
            let at = head + full;
            for i in 0..tail {
                out[at + i] = input[at + i] ^ self.ks[i];
            }
            self.ks_used = tail;
        }
        Ok(n)
    }

    fn final_len(&self) -> usize {
        0
    }

    fn finalize(&mut self, _out: &mut [u8]) -> Result<usize> {
        self.ks.zeroize();
        Ok(0)
    }
}

impl Drop for CtrOp {
    fn drop(&mut self) {
        self.ks.zeroize();
        self.counter.zeroize();
    }
}

// ---------------------------------------------------------------------------------------------
// GCM
// ---------------------------------------------------------------------------------------------

/// CKM_AES_GCM (`CK_GCM_PARAMS`). Output of encryption is ciphertext || tag.
pub struct AesGcm;
pub static AES_GCM: AesGcm = AesGcm;

const GCM_NONCE: usize = 12;
const GCM_TAG: usize = 16;
/// The longest IV taken (bytes): far beyond any protocol's, a bound on the work one call does.
const GCM_MAX_IV: usize = 4096;

struct GcmOp {
    key: Arc<LessSafeKey>,
    /// An IV other than 96 bits, with the key's value: such a message goes through aws-lc's EVP
    /// interface (`ffi::gcm_seal`/`gcm_open`), which hashes the IV into the pre-counter block.
    long_iv: Option<(Zeroizing<Vec<u8>>, Vec<u8>)>,
    /// AES-CTR key, for verifying a truncated tag only.
    ctr: Option<Arc<EncryptingKey>>,
    nonce: [u8; GCM_NONCE],
    aad: Vec<u8>,
    tag_len: usize,
    decrypt: bool,
    /// Multi-part input, processed in `finalize` (decryption must see the tag before releasing
    /// any plaintext; encryption buffers too, as aws-lc-rs has no incremental GCM).
    buf: Zeroizing<Vec<u8>>,
}

impl AesGcm {
    fn op(&self, p: &Params, key: &KeyMaterial, decrypt: bool) -> Result<Box<dyn CipherOp>> {
        let sk = aes_key(key)?;
        let Params::Gcm { iv, aad, tag_bits } = p else {
            return err(CKR_MECHANISM_PARAM_INVALID);
        };
        // SP 800-38D: any IV of 1 bit or more; PKCS#11 counts it in bytes. Bounded so a
        // hostile ulIvLen cannot make the hash of the IV a cost without limit.
        if iv.is_empty() || iv.len() > GCM_MAX_IV || !matches!(tag_bits, 96 | 104 | 112 | 120 | 128) {
            return err(CKR_MECHANISM_PARAM_INVALID);
        }
        let tag_len = tag_bits / 8;
        let mut nonce = [0u8; GCM_NONCE];
        let long_iv = if iv.len() == GCM_NONCE {
            nonce.copy_from_slice(iv);
            None
        } else {
            Some((Zeroizing::new(sk.value.to_vec()), iv.clone()))
        };
        let ctr = if decrypt && tag_len < GCM_TAG && long_iv.is_none() { Some(ctr_engine(sk)?) } else { None };
        Ok(Box::new(GcmOp {
            long_iv,
            key: gcm_engine(sk)?,
            ctr,
            nonce,
            aad: aad.clone(),
            tag_len,
            decrypt,
            buf: Zeroizing::new(Vec::new()),
        }))
    }
}

impl Mechanism for AesGcm {
    fn encrypt(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        self.op(p, key, false)
    }
    fn decrypt(&self, p: &Params, key: &KeyMaterial) -> Result<Box<dyn CipherOp>> {
        self.op(p, key, true)
    }
}

impl GcmOp {
    fn nonce(&self) -> Nonce {
        Nonce::assume_unique_for_key(self.nonce)
    }

    fn out_len(&self, input_len: usize) -> usize {
        if self.decrypt {
            input_len.saturating_sub(self.tag_len)
        } else {
            input_len.saturating_add(self.tag_len)
        }
    }

    /// Encrypts `input` into `out` (in place there): ciphertext || tag.
    fn seal(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let n = input.len();
        let total = n.checked_add(self.tag_len).ok_or(CKR_DATA_LEN_RANGE)?;
        if out.len() < total {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        if let Some((key, iv)) = &self.long_iv {
            return ffi::gcm_seal(key, iv, &self.aad, input, self.tag_len, out).map_err(|_| CKR_FUNCTION_FAILED.into());
        }
        let (body, tail) = out.split_at_mut(n);
        body.copy_from_slice(input);
        let tag = self.key.seal_in_place_separate_tag(self.nonce(), Aad::from(self.aad.as_slice()), body)?;
        tail[..self.tag_len].copy_from_slice(&tag.as_ref()[..self.tag_len]);
        Ok(total)
    }

    /// Decrypts ciphertext || tag into `out`; nothing but zeros is left there on failure.
    fn open(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let t = self.tag_len;
        if input.len() < t {
            return err(CKR_ENCRYPTED_DATA_LEN_RANGE);
        }
        let n = input.len() - t;
        if out.len() < n {
            return err(CKR_BUFFER_TOO_SMALL);
        }
        let (ct, tag) = input.split_at(n);
        let out = &mut out[..n];
        if let Some((key, iv)) = &self.long_iv {
            return ffi::gcm_open(key, iv, &self.aad, ct, tag, out).map_err(|_| CKR_ENCRYPTED_DATA_INVALID.into());
        }
        if t == GCM_TAG {
            return match self.key.open_separate_gather(self.nonce(), Aad::from(self.aad.as_slice()), ct, tag, out) {
                Ok(()) => Ok(n),
                Err(_) => {
                    out.zeroize();
                    err(CKR_ENCRYPTED_DATA_INVALID)
                }
            };
        }
        // Truncated tag: recover the plaintext with AES-CTR from J0 + 1 = IV || 0^31 || 1 + 1,
        // recompute the full tag by sealing it again, and compare the first t bytes.
        let ctr = self.ctr.as_ref().ok_or(CKR_GENERAL_ERROR)?;
        let mut pt = Zeroizing::new(ct.to_vec());
        if n > 0 {
            let mut j1 = [0u8; 16];
            j1[..GCM_NONCE].copy_from_slice(&self.nonce);
            j1[15] = 2;
            ctr.less_safe_encrypt(&mut pt, EncryptionContext::Iv128(FixedLength::from(j1)))?;
        }
        out.copy_from_slice(&pt);
        let full = self.key.seal_in_place_separate_tag(self.nonce(), Aad::from(self.aad.as_slice()), out)?;
        if constant_time::verify_slices_are_equal(&full.as_ref()[..t], tag).is_err() {
            out.zeroize();
            return err(CKR_ENCRYPTED_DATA_INVALID);
        }
        out.copy_from_slice(&pt);
        Ok(n)
    }

    fn run(&self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.decrypt {
            self.open(input, out)
        } else {
            self.seal(input, out)
        }
    }
}

impl CipherOp for GcmOp {
    fn update_len(&self, _input_len: usize) -> usize {
        0
    }

    fn update(&mut self, input: &[u8], _out: &mut [u8]) -> Result<usize> {
        self.buf.extend_from_slice(input);
        Ok(0)
    }

    fn final_len(&self) -> usize {
        self.out_len(self.buf.len())
    }

    fn finalize(&mut self, out: &mut [u8]) -> Result<usize> {
        let n = self.run(&self.buf, out)?;
        self.buf.zeroize();
        self.buf.clear();
        Ok(n)
    }

    fn single_len(&self, input_len: usize) -> usize {
        self.out_len(self.buf.len().saturating_add(input_len))
    }

    fn single(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.buf.is_empty() {
            return self.run(input, out);
        }
        self.buf.extend_from_slice(input);
        self.finalize(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mech::testutil::{h, multi, rv, secret, single};

    fn aes(v: &[u8]) -> KeyMaterial {
        secret(CKK_AES, v)
    }

    const CHUNKINGS: &[&[usize]] = &[&[1], &[3], &[5, 11], &[7, 16, 1], &[15], &[17], &[16], &[31, 2], &[64]];

    // NIST SP 800-38A Appendix F: the common plaintext and keys.
    const F_PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                        30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
    const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const K192: &str = "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
    const K256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    const CBC_IV: &str = "000102030405060708090a0b0c0d0e0f";

    /// F.1.1/F.1.3/F.1.5 (ECB) and F.2.1/F.2.3/F.2.5 (CBC).
    fn sp800_38a_block() -> Vec<(&'static str, &'static BlockMech, &'static str)> {
        vec![
            (K128, &AES_ECB, "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4"),
            (K192, &AES_ECB, "bd334f1d6e45f25ff712a214571fa5cc 974104846d0ad3ad7734ecb3ecee4eef ef7afd2270e2e60adce0ba2face6444e 9a4b41ba738d6c72fb16691603c18e0e"),
            (K256, &AES_ECB, "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870 b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7"),
            (K128, &AES_CBC, "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7"),
            (K192, &AES_CBC, "4f021db243bc633d7178183a9fa071e8 b4d9ada9ad7dedf4e5e738763f69145a 571b242012fb7ae07fa9baac3df102e0 08b0e27988598881d920a9e64f5615cd"),
            (K256, &AES_CBC, "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b"),
        ]
    }

    fn block_params(m: &BlockMech) -> Params {
        match m.chain {
            Chain::Ecb => Params::None,
            Chain::Cbc => Params::Iv(h(CBC_IV)),
        }
    }

    #[test]
    fn sp800_38a_ecb_cbc_single_and_multi() {
        let pt = h(F_PT);
        for (k, m, ct) in sp800_38a_block() {
            let key = aes(&h(k));
            let ct = h(ct);
            let p = block_params(m);
            assert_eq!(single(&mut *m.encrypt(&p, &key).unwrap(), &pt).unwrap(), ct);
            assert_eq!(single(&mut *m.decrypt(&p, &key).unwrap(), &ct).unwrap(), pt);
            for ch in CHUNKINGS {
                assert_eq!(multi(&mut *m.encrypt(&p, &key).unwrap(), &pt, ch).unwrap(), ct, "chunks {ch:?}");
                assert_eq!(multi(&mut *m.decrypt(&p, &key).unwrap(), &ct, ch).unwrap(), pt, "chunks {ch:?}");
            }
            // Wrap of a 64-byte "key" is the same encryption.
            assert_eq!(m.wrap(&p, &key, &pt).unwrap(), ct);
            assert_eq!(*m.unwrap(&p, &key, &ct).unwrap(), pt);
        }
    }

    #[test]
    fn block_length_errors() {
        let key = aes(&h(K128));
        for m in [&AES_ECB, &AES_CBC] {
            let p = block_params(m);
            for n in [1usize, 15, 17, 33] {
                let data = vec![0x5a; n];
                assert_eq!(rv(single(&mut *m.encrypt(&p, &key).unwrap(), &data)), CKR_DATA_LEN_RANGE);
                assert_eq!(rv(single(&mut *m.decrypt(&p, &key).unwrap(), &data)), CKR_ENCRYPTED_DATA_LEN_RANGE);
                assert_eq!(rv(multi(&mut *m.encrypt(&p, &key).unwrap(), &data, &[4])), CKR_DATA_LEN_RANGE);
                assert_eq!(rv(multi(&mut *m.decrypt(&p, &key).unwrap(), &data, &[4])), CKR_ENCRYPTED_DATA_LEN_RANGE);
                assert_eq!(rv(m.wrap(&p, &key, &data)), CKR_KEY_SIZE_RANGE);
                assert_eq!(rv(m.unwrap(&p, &key, &data)), CKR_WRAPPED_KEY_LEN_RANGE);
            }
            // Empty input is a valid (empty) message, but not a wrappable key.
            assert_eq!(single(&mut *m.encrypt(&p, &key).unwrap(), &[]).unwrap(), Vec::<u8>::new());
            assert_eq!(rv(m.wrap(&p, &key, &[])), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(m.unwrap(&p, &key, &[])), CKR_WRAPPED_KEY_LEN_RANGE);
            // Buffer too small leaves the operation usable.
            let mut op = m.encrypt(&p, &key).unwrap();
            let mut small = [0u8; 15];
            assert_eq!(rv(op.update(&[0; 16], &mut small)), CKR_BUFFER_TOO_SMALL);
            let mut out = [0u8; 16];
            assert_eq!(op.update(&[0; 16], &mut out).unwrap(), 16);
        }
    }

    #[test]
    fn cbc_pad_round_trips_every_length() {
        let key = aes(&h(K256));
        let iv = Params::Iv(h(CBC_IV));
        let no_pad = &AES_CBC;
        for len in 0..=33usize {
            let pt: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37).wrapping_add(1)).collect();
            let ct = single(&mut *AES_CBC_PAD.encrypt(&iv, &key).unwrap(), &pt).unwrap();
            assert_eq!(ct.len(), (len / 16 + 1) * 16);
            // The padding is PKCS#7: decrypting without padding shows it.
            let raw = single(&mut *no_pad.decrypt(&iv, &key).unwrap(), &ct).unwrap();
            let padv = 16 - len % 16;
            assert_eq!(&raw[..len], &pt[..]);
            assert!(raw[len..].iter().all(|&b| b as usize == padv));
            // And the padded ciphertext is CBC of the padded plaintext.
            assert_eq!(single(&mut *no_pad.encrypt(&iv, &key).unwrap(), &raw).unwrap(), ct);
            assert_eq!(single(&mut *AES_CBC_PAD.decrypt(&iv, &key).unwrap(), &ct).unwrap(), pt);
            for ch in CHUNKINGS {
                assert_eq!(multi(&mut *AES_CBC_PAD.encrypt(&iv, &key).unwrap(), &pt, ch).unwrap(), ct);
                assert_eq!(multi(&mut *AES_CBC_PAD.decrypt(&iv, &key).unwrap(), &ct, ch).unwrap(), pt);
            }
            assert_eq!(AES_CBC_PAD.wrap(&iv, &key, &pt).unwrap(), ct);
            assert_eq!(*AES_CBC_PAD.unwrap(&iv, &key, &ct).unwrap(), pt);
        }
    }

    #[test]
    fn cbc_pad_sp800_38a_prefix() {
        // CBC-PAD of the F.2.1 plaintext: the first four blocks are the published CBC output.
        let key = aes(&h(K128));
        let iv = Params::Iv(h(CBC_IV));
        let ct = single(&mut *AES_CBC_PAD.encrypt(&iv, &key).unwrap(), &h(F_PT)).unwrap();
        assert_eq!(ct.len(), 80);
        assert_eq!(&ct[..64], &h(sp800_38a_block()[3].2)[..]);
    }

    #[test]
    fn cbc_pad_bad_padding() {
        let key = aes(&h(K128));
        let iv = Params::Iv(h(CBC_IV));
        // Build blocks whose decrypted last byte/padding we control, through raw CBC encryption.
        let bad_plains: Vec<Vec<u8>> = vec![
            [vec![0u8; 15], vec![0u8]].concat(),           // pad byte 0
            [vec![0u8; 15], vec![17u8]].concat(),          // pad byte > 16
            [vec![0u8; 14], vec![3u8, 2u8]].concat(),      // 2 claimed, byte before differs
            [vec![7u8; 13], vec![3u8, 4u8, 3u8]].concat(), // 3 claimed, middle differs
            [vec![1u8; 16], vec![0xffu8; 16]].concat(),    // two blocks, last byte 0xff
        ];
        for raw in bad_plains {
            let ct = single(&mut *AES_CBC.encrypt(&iv, &key).unwrap(), &raw).unwrap();
            assert_eq!(rv(single(&mut *AES_CBC_PAD.decrypt(&iv, &key).unwrap(), &ct)), CKR_ENCRYPTED_DATA_INVALID);
            assert_eq!(rv(multi(&mut *AES_CBC_PAD.decrypt(&iv, &key).unwrap(), &ct, &[5])), CKR_ENCRYPTED_DATA_INVALID);
            assert_eq!(rv(AES_CBC_PAD.unwrap(&iv, &key, &ct)), CKR_WRAPPED_KEY_INVALID);
        }
        // Valid edge: a whole block of padding (16 x 0x10) decrypts to nothing.
        let ct = single(&mut *AES_CBC.encrypt(&iv, &key).unwrap(), &[16u8; 16]).unwrap();
        assert_eq!(single(&mut *AES_CBC_PAD.decrypt(&iv, &key).unwrap(), &ct).unwrap(), Vec::<u8>::new());
        // Ciphertext lengths that are not whole blocks, or empty.
        for n in [0usize, 1, 15, 17] {
            assert_eq!(
                rv(single(&mut *AES_CBC_PAD.decrypt(&iv, &key).unwrap(), &vec![0; n])),
                CKR_ENCRYPTED_DATA_LEN_RANGE
            );
            assert_eq!(
                rv(multi(&mut *AES_CBC_PAD.decrypt(&iv, &key).unwrap(), &vec![0; n], &[3])),
                CKR_ENCRYPTED_DATA_LEN_RANGE
            );
        }
        // Decrypt update holds back the last block.
        let ct = single(&mut *AES_CBC_PAD.encrypt(&iv, &key).unwrap(), &[9u8; 32]).unwrap();
        let mut op = AES_CBC_PAD.decrypt(&iv, &key).unwrap();
        assert_eq!(op.update_len(16), 0);
        let mut out = vec![0u8; 48];
        assert_eq!(op.update(&ct[..16], &mut out).unwrap(), 0);
        assert_eq!(op.update_len(32), 32);
        assert_eq!(op.update(&ct[16..], &mut out).unwrap(), 32);
        assert_eq!(&out[..32], &[9u8; 32]);
        // The held-back block was all padding: finalize has nothing left to write.
        assert_eq!(op.finalize(&mut []).unwrap(), 0);
    }

    #[test]
    fn cbc_pad_final_buffer_too_small_is_retryable() {
        let key = aes(&h(K128));
        let iv = Params::Iv(h(CBC_IV));
        let ct = single(&mut *AES_CBC_PAD.encrypt(&iv, &key).unwrap(), b"0123456789").unwrap();
        let mut op = AES_CBC_PAD.decrypt(&iv, &key).unwrap();
        let mut out = [0u8; 16];
        assert_eq!(op.update(&ct, &mut out).unwrap(), 0);
        assert_eq!(rv(op.finalize(&mut out[..9])), CKR_BUFFER_TOO_SMALL);
        assert_eq!(op.finalize(&mut out).unwrap(), 10);
        assert_eq!(&out[..10], b"0123456789");
    }

    #[test]
    fn cbc_pad_single_part_into_exact_or_small_buffer() {
        let key = aes(&h(K128));
        let iv = Params::Iv(h(CBC_IV));
        let pt = b"twenty byte message!";
        let ct = single(&mut *AES_CBC_PAD.encrypt(&iv, &key).unwrap(), pt).unwrap();
        assert_eq!(ct.len(), 32);
        // The bound is 31; a buffer of exactly the plaintext length also works.
        let mut op = AES_CBC_PAD.decrypt(&iv, &key).unwrap();
        assert_eq!(op.single_len(32), 31);
        let mut out = [0u8; 20];
        assert_eq!(op.single(&ct, &mut out).unwrap(), 20);
        assert_eq!(&out, pt);
        // One byte short: refused, and the same operation then succeeds with enough room.
        let mut op = AES_CBC_PAD.decrypt(&iv, &key).unwrap();
        let mut small = [0u8; 19];
        assert_eq!(rv(op.single(&ct, &mut small)), CKR_BUFFER_TOO_SMALL);
        assert_eq!(small, [0u8; 19]);
        let mut out = [0u8; 31];
        assert_eq!(op.single(&ct, &mut out).unwrap(), 20);
        assert_eq!(&out[..20], pt);
        // Encryption below the bound is refused up front.
        let mut op = AES_CBC_PAD.encrypt(&iv, &key).unwrap();
        let mut out = [0u8; 31];
        assert_eq!(rv(op.single(pt, &mut out)), CKR_BUFFER_TOO_SMALL);
        let mut out = [0u8; 32];
        assert_eq!(op.single(pt, &mut out).unwrap(), 32);
        assert_eq!(&out[..], &ct[..]);
    }

    /// SP 800-38A F.5.1/F.5.3/F.5.5 (CTR).
    const CTR_CB: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    fn sp800_38a_ctr() -> Vec<(&'static str, &'static str)> {
        vec![
            (K128, "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee"),
            (K192, "1abc932417521ca24f2b0459fe7e6e0b 090339ec0aa6faefd5ccc2c6f4ce8e94 1e36b26bd1ebc670d1bd1d665620abf7 4f78a7f6d29809585a97daec58c6b050"),
            (K256, "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6"),
        ]
    }

    fn ctr_params(bits: usize, cb: &str) -> Params {
        let mut a = [0u8; 16];
        a.copy_from_slice(&h(cb));
        Params::Ctr { counter_bits: bits, cb: a }
    }

    #[test]
    fn sp800_38a_ctr_vectors() {
        let pt = h(F_PT);
        for (k, ct) in sp800_38a_ctr() {
            let key = aes(&h(k));
            let ct = h(ct);
            // The F.5 counter's low 64 bits are far from wrapping; 128 and 64-bit fields agree.
            for bits in [128, 64, 32] {
                let p = ctr_params(bits, CTR_CB);
                assert_eq!(single(&mut *AES_CTR.encrypt(&p, &key).unwrap(), &pt).unwrap(), ct);
                assert_eq!(single(&mut *AES_CTR.decrypt(&p, &key).unwrap(), &ct).unwrap(), pt);
                for ch in CHUNKINGS {
                    assert_eq!(multi(&mut *AES_CTR.encrypt(&p, &key).unwrap(), &pt, ch).unwrap(), ct);
                    assert_eq!(multi(&mut *AES_CTR.decrypt(&p, &key).unwrap(), &ct, ch).unwrap(), pt);
                }
                // Any prefix (a stream cipher: no padding, no block alignment).
                for n in [0usize, 1, 15, 16, 17, 40, 63] {
                    assert_eq!(single(&mut *AES_CTR.encrypt(&p, &key).unwrap(), &pt[..n]).unwrap(), &ct[..n]);
                }
            }
        }
    }

    #[test]
    fn ctr_counter_field_limits() {
        let key = aes(&h(K128));
        let pt = h(F_PT);
        let all = single(&mut *AES_CTR.encrypt(&ctr_params(128, CTR_CB), &key).unwrap(), &pt).unwrap();
        // The F.5 counter block ends in ...fcfdfeff: an 8-bit field (0xff) has 1 block left,
        // a 16-bit field (0xfeff) has 0x10000 - 0xfeff = 257.
        let p8 = ctr_params(8, CTR_CB);
        assert_eq!(single(&mut *AES_CTR.encrypt(&p8, &key).unwrap(), &pt[..16]).unwrap(), &all[..16]);
        assert_eq!(rv(single(&mut *AES_CTR.encrypt(&p8, &key).unwrap(), &pt[..17])), CKR_DATA_LEN_RANGE);
        assert_eq!(rv(single(&mut *AES_CTR.decrypt(&p8, &key).unwrap(), &pt[..17])), CKR_ENCRYPTED_DATA_LEN_RANGE);
        // Multi-part: the limit counts blocks across calls, including a partial last block.
        let mut op = AES_CTR.encrypt(&p8, &key).unwrap();
        let mut out = [0u8; 16];
        assert_eq!(op.update(&pt[..10], &mut out).unwrap(), 10);
        assert_eq!(op.update(&pt[10..16], &mut out[10..]).unwrap(), 6);
        assert_eq!(&out[..], &all[..16]);
        assert_eq!(rv(op.update(&pt[16..17], &mut out)), CKR_DATA_LEN_RANGE);
        // 16-bit field: 0x10000 - 0xfeff = 257 blocks; the 4-block vector fits.
        let p16 = ctr_params(16, CTR_CB);
        assert_eq!(single(&mut *AES_CTR.encrypt(&p16, &key).unwrap(), &pt).unwrap(), all);
        // A 1-bit field with the low bit clear allows exactly two blocks.
        let p1 = ctr_params(1, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfefe");
        assert!(single(&mut *AES_CTR.encrypt(&p1, &key).unwrap(), &[0u8; 32]).is_ok());
        assert_eq!(rv(single(&mut *AES_CTR.encrypt(&p1, &key).unwrap(), &[0u8; 33])), CKR_DATA_LEN_RANGE);
        // Counter bits outside 1..=128.
        for bits in [0usize, 129, 1000] {
            assert_eq!(rv(AES_CTR.encrypt(&ctr_params(bits, CTR_CB), &key)), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(rv(AES_CTR.encrypt(&Params::Iv(h(CBC_IV)), &key)), CKR_MECHANISM_PARAM_INVALID);
    }

    #[test]
    fn ctr_128_bit_counter_wraps_whole_block() {
        // With a 128-bit field the whole block is the counter: ff..ff is followed by 00..00,
        // so the second keystream block equals the first keystream block of a zero counter.
        let key = aes(&h(K128));
        let two = single(&mut *AES_CTR.encrypt(&ctr_params(128, &"ff".repeat(16)), &key).unwrap(), &[0u8; 32]).unwrap();
        let zero =
            single(&mut *AES_CTR.encrypt(&ctr_params(128, &"00".repeat(16)), &key).unwrap(), &[0u8; 16]).unwrap();
        assert_eq!(&two[16..], &zero[..]);
        // And the keystream of counter block X is ECB(X) (SP 800-38A §6.5).
        let ecb = single(&mut *AES_ECB.encrypt(&Params::None, &key).unwrap(), &[0xffu8; 16]).unwrap();
        assert_eq!(&two[..16], &ecb[..]);
    }

    // ------------------------------------------------------------------ GCM

    fn gcm(iv: &str, aad: &str, tag_bits: usize) -> Params {
        Params::Gcm { iv: h(iv), aad: h(aad), tag_bits }
    }

    /// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 1-4, 7-10, 13-16
    /// (the 96-bit IV ones): (key, iv, plaintext, aad, ciphertext, tag).
    fn gcm_spec_vectors() -> Vec<[&'static str; 6]> {
        const K: &str = "feffe9928665731c6d6a8f9467308308";
        const IV: &str = "cafebabefacedbaddecaf888";
        const P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
        const P60: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
        const A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
        let k192: &'static str = "feffe9928665731c6d6a8f9467308308feffe9928665731c";
        let k256: &'static str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
        vec![
            ["00000000000000000000000000000000", "000000000000000000000000", "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"],
            ["00000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "", "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"],
            [K, IV, P, "", "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985", "4d5c2af327cd64a62cf35abd2ba6fab4"],
            [K, IV, P60, A, "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091", "5bc94fbc3221a5db94fae95ae7121a47"],
            ["000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "", "cd33b28ac773f74ba00ed1f312572435"],
            ["000000000000000000000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "", "98e7247c07f0fe411c267e4384b0f600", "2ff58d80033927ab8ef4d4587514f0fb"],
            [k192, IV, P, "", "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256", "9924a7c8587336bfb118024db8674a14"],
            [k192, IV, P60, A, "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710", "2519498e80f1478f37ba55bd6d27618c"],
            ["0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"],
            ["0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"],
            [k256, IV, P, "", "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad", "b094dac5d93471bdec1a502270e3cc6c"],
            [k256, IV, P60, A, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", "76fc6ece0f4e1768cddf8853bb2d551b"],
        ]
    }

    #[test]
    fn gcm_spec_test_cases() {
        for [k, iv, pt, aad, ct, tag] in gcm_spec_vectors() {
            let key = aes(&h(k));
            let p = gcm(iv, aad, 128);
            let pt = h(pt);
            let expect = [h(ct), h(tag)].concat();
            assert_eq!(single(&mut *AES_GCM.encrypt(&p, &key).unwrap(), &pt).unwrap(), expect);
            assert_eq!(single(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &expect).unwrap(), pt);
            for ch in CHUNKINGS {
                assert_eq!(multi(&mut *AES_GCM.encrypt(&p, &key).unwrap(), &pt, ch).unwrap(), expect);
                assert_eq!(multi(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &expect, ch).unwrap(), pt);
            }
            // Truncated tags are the leading bytes of the full tag (SP 800-38D §7.1 MSB_t).
            for bits in [96usize, 104, 112, 120] {
                let t = bits / 8;
                let p = gcm(iv, aad, bits);
                let short = [h(ct), h(tag)[..t].to_vec()].concat();
                assert_eq!(single(&mut *AES_GCM.encrypt(&p, &key).unwrap(), &pt).unwrap(), short);
                assert_eq!(single(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &short).unwrap(), pt);
                assert_eq!(multi(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &short, &[7]).unwrap(), pt);
                let mut bad = short.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                assert_eq!(rv(single(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &bad)), CKR_ENCRYPTED_DATA_INVALID);
                if !pt.is_empty() {
                    let mut bad = short.clone();
                    bad[0] ^= 0x80;
                    assert_eq!(rv(single(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &bad)), CKR_ENCRYPTED_DATA_INVALID);
                }
            }
        }
    }

    #[test]
    fn gcm_tamper_and_lengths() {
        let [k, iv, pt, aad, ct, tag] = gcm_spec_vectors()[3];
        let key = aes(&h(k));
        let p = gcm(iv, aad, 128);
        let good = [h(ct), h(tag)].concat();
        let pt = h(pt);
        // Flip a bit in the ciphertext, in the tag; change the AAD; change the IV.
        for pos in [0usize, 30, 59, 60, 75] {
            let mut bad = good.clone();
            bad[pos] ^= 0x04;
            let mut op = AES_GCM.decrypt(&p, &key).unwrap();
            let mut out = vec![0xeeu8; op.single_len(bad.len())];
            assert_eq!(rv(op.single(&bad, &mut out)), CKR_ENCRYPTED_DATA_INVALID);
            assert!(out.iter().all(|&b| b == 0), "no plaintext released on failure");
            assert_eq!(rv(multi(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &bad, &[16])), CKR_ENCRYPTED_DATA_INVALID);
        }
        let other_aad = gcm(iv, "feedfacedeadbeeffeedfacedeadbeefabaddad3", 128);
        assert_eq!(rv(single(&mut *AES_GCM.decrypt(&other_aad, &key).unwrap(), &good)), CKR_ENCRYPTED_DATA_INVALID);
        let other_iv = gcm("cafebabefacedbaddecaf889", aad, 128);
        assert_eq!(rv(single(&mut *AES_GCM.decrypt(&other_iv, &key).unwrap(), &good)), CKR_ENCRYPTED_DATA_INVALID);
        // Multi-part decryption releases nothing before finalize.
        let mut op = AES_GCM.decrypt(&p, &key).unwrap();
        assert_eq!(op.update_len(good.len()), 0);
        let mut out = vec![0u8; 100];
        assert_eq!(op.update(&good[..40], &mut out).unwrap(), 0);
        assert_eq!(op.update(&good[40..], &mut out).unwrap(), 0);
        assert_eq!(op.final_len(), 60);
        assert_eq!(op.finalize(&mut out).unwrap(), 60);
        assert_eq!(&out[..60], &pt[..]);
        // Shorter than the tag.
        for n in [0usize, 1, 15] {
            assert_eq!(rv(single(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &good[..n])), CKR_ENCRYPTED_DATA_LEN_RANGE);
            assert_eq!(
                rv(multi(&mut *AES_GCM.decrypt(&p, &key).unwrap(), &good[..n], &[1])),
                CKR_ENCRYPTED_DATA_LEN_RANGE
            );
        }
        let p96 = gcm(iv, aad, 96);
        assert_eq!(rv(single(&mut *AES_GCM.decrypt(&p96, &key).unwrap(), &good[..11])), CKR_ENCRYPTED_DATA_LEN_RANGE);
        // Output bounds.
        let enc = AES_GCM.encrypt(&p, &key).unwrap();
        assert_eq!(enc.single_len(60), 76);
        let dec = AES_GCM.decrypt(&p96, &key).unwrap();
        assert_eq!(dec.single_len(72), 60);
        // Buffer too small is reported before any work and leaves the operation usable.
        let mut op = AES_GCM.encrypt(&p, &key).unwrap();
        let mut out = vec![0u8; 75];
        assert_eq!(rv(op.single(&pt, &mut out)), CKR_BUFFER_TOO_SMALL);
        let mut out = vec![0u8; 76];
        assert_eq!(op.single(&pt, &mut out).unwrap(), 76);
        assert_eq!(out, good);
    }

    #[test]
    fn gcm_params() {
        let key = aes(&h(K128));
        for bits in [0usize, 32, 64, 95, 100, 127, 136] {
            assert_eq!(
                rv(AES_GCM.encrypt(&gcm("cafebabefacedbaddecaf888", "", bits), &key)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        // Any IV of 1 to 4096 bytes (SP 800-38D); none, or a longer one, is refused.
        let long = "ab".repeat(60);
        for iv in ["ab", "cafebabefacedbaddecaf8", "cafebabefacedbaddecaf88800", long.as_str()] {
            assert!(AES_GCM.encrypt(&gcm(iv, "", 128), &key).is_ok(), "{iv}");
            assert!(AES_GCM.decrypt(&gcm(iv, "", 128), &key).is_ok(), "{iv}");
        }
        let too_long = "ab".repeat(4097);
        for iv in ["", too_long.as_str()] {
            assert_eq!(rv(AES_GCM.encrypt(&gcm(iv, "", 128), &key)), CKR_MECHANISM_PARAM_INVALID);
            assert_eq!(rv(AES_GCM.decrypt(&gcm(iv, "", 128), &key)), CKR_MECHANISM_PARAM_INVALID);
        }
        assert_eq!(rv(AES_GCM.encrypt(&Params::Iv(vec![0; 12]), &key)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(AES_GCM.wrap(&gcm("cafebabefacedbaddecaf888", "", 128), &key, &[0; 16])), CKR_MECHANISM_INVALID);
    }

    #[test]
    fn key_checks() {
        let p_iv = Params::Iv(h(CBC_IV));
        for len in [0usize, 8, 15, 17, 31, 33, 64] {
            let key = aes(&vec![1u8; len]);
            assert_eq!(rv(AES_ECB.encrypt(&Params::None, &key)), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(AES_CBC.decrypt(&p_iv, &key)), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(AES_CTR.encrypt(&ctr_params(128, CTR_CB), &key)), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(AES_GCM.encrypt(&gcm("cafebabefacedbaddecaf888", "", 128), &key)), CKR_KEY_SIZE_RANGE);
            assert_eq!(rv(AES_CBC_PAD.wrap(&p_iv, &key, &[0; 16])), CKR_WRAPPING_KEY_SIZE_RANGE);
            assert_eq!(rv(AES_CBC_PAD.unwrap(&p_iv, &key, &[0; 16])), CKR_UNWRAPPING_KEY_SIZE_RANGE);
        }
        let des = secret(CKK_DES3, &[1u8; 24]);
        let gen = secret(CKK_GENERIC_SECRET, &[1u8; 16]);
        for k in [&des, &gen, &KeyMaterial::Unparsed] {
            assert_eq!(rv(AES_ECB.encrypt(&Params::None, k)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(AES_GCM.decrypt(&gcm("cafebabefacedbaddecaf888", "", 128), k)), CKR_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(AES_CBC.wrap(&p_iv, k, &[0; 16])), CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
            assert_eq!(rv(AES_CBC.unwrap(&p_iv, k, &[0; 16])), CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
        }
        // IV parameter shape.
        let key = aes(&h(K128));
        assert_eq!(rv(AES_CBC.encrypt(&Params::Iv(vec![0; 15]), &key)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(AES_CBC.encrypt(&Params::None, &key)), CKR_MECHANISM_PARAM_INVALID);
        assert_eq!(rv(AES_ECB.encrypt(&p_iv, &key)), CKR_MECHANISM_PARAM_INVALID);
    }

    #[test]
    fn engine_keys_are_cached_and_shared() {
        let key = aes(&h(K128));
        let KeyMaterial::Secret(sk) = &key else { unreachable!() };
        assert!(sk.cipher.cbc_enc.get().is_none() && sk.gcm.get().is_none());
        let a = AES_CBC.encrypt(&Params::Iv(h(CBC_IV)), &key).unwrap();
        let b = AES_CBC.encrypt(&Params::Iv(h(CBC_IV)), &key).unwrap();
        let cached = sk.cipher.cbc_enc.get().unwrap();
        assert_eq!(Arc::strong_count(cached), 3);
        drop((a, b));
        assert_eq!(Arc::strong_count(cached), 1);
        assert!(sk.cipher.cbc_dec.get().is_none(), "built lazily per direction");
        let _g = AES_GCM.encrypt(&gcm("cafebabefacedbaddecaf888", "", 128), &key).unwrap();
        assert_eq!(Arc::strong_count(sk.gcm.get().unwrap()), 2);
    }
}
