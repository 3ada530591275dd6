//! The little DER the key encodings need (PKCS#8, SubjectPublicKeyInfo, RSAPrivateKey,
//! ECPrivateKey, CKA_EC_PARAMS / CKA_EC_POINT): a strict reader and a writer; and PEM
//! ([`pem_encode`], [`pem_decode`]), the armour key files travel in (RFC 7468).
//!
//! The reader accepts only DER: definite, minimally encoded lengths, and minimally encoded
//! non-negative INTEGERs. Failures are `None`; callers pick the CK_RV that fits their context
//! (`CKR_WRAPPED_KEY_INVALID` for unwrapped PKCS#8, `CKR_ATTRIBUTE_VALUE_INVALID` for attributes).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use zeroize::Zeroizing;

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const PRINTABLE_STRING: u8 = 0x13;
pub const SEQUENCE: u8 = 0x30;
/// `[0]` constructed (ECPrivateKey parameters) and `[1]` constructed (ECPrivateKey publicKey).
pub const CTX0: u8 = 0xA0;
pub const CTX1: u8 = 0xA1;
/// `[1]` primitive (OneAsymmetricKey publicKey, RFC 5958).
pub const CTX1_PRIM: u8 = 0x81;

/// A cursor over DER TLVs.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// The next TLV: (tag, contents). Only single-byte tags (all this module needs).
    pub fn any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.buf.split_first()?;
        if tag & 0x1F == 0x1F {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7F) as usize;
            // 0x80 is the indefinite form (BER only); more than 4 length bytes is absurd here.
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            // Minimal: no leading zero byte, and the long form only for lengths >= 128.
            if rest[0] == 0 || len < 0x80 {
                return None;
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (contents, rest) = rest.split_at(len);
        self.buf = rest;
        Some((tag, contents))
    }

    /// The next TLV, which must have tag `tag`.
    pub fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.any()? {
            (t, c) if t == tag => Some(c),
            _ => None,
        }
    }

    /// The next TLV if it has tag `tag` (else nothing is consumed).
    pub fn optional(&mut self, tag: u8) -> Option<Option<&'a [u8]>> {
        if self.peek_tag() == Some(tag) {
            self.read(tag).map(Some)
        } else {
            Some(None)
        }
    }

    /// A SEQUENCE's contents, as a reader.
    pub fn seq(&mut self) -> Option<Reader<'a>> {
        self.read(SEQUENCE).map(Reader::new)
    }

    /// A non-negative INTEGER's magnitude: big-endian, without the sign byte (zero is `[0]`).
    pub fn uint(&mut self) -> Option<&'a [u8]> {
        let c = self.read(INTEGER)?;
        match c {
            [] => None,
            [b, ..] if b & 0x80 != 0 => None,
            [0] => Some(c),
            [0, b, ..] if b & 0x80 == 0 => None,
            [0, rest @ ..] => Some(rest),
            _ => Some(c),
        }
    }

    /// A small non-negative INTEGER (versions).
    pub fn small_uint(&mut self) -> Option<u32> {
        let m = self.uint()?;
        if m.len() > 4 {
            return None;
        }
        Some(m.iter().fold(0u32, |a, &b| (a << 8) | b as u32))
    }

    /// A BIT STRING without unused bits: its bytes.
    pub fn bit_string(&mut self) -> Option<&'a [u8]> {
        match self.read(BIT_STRING)? {
            [0, rest @ ..] => Some(rest),
            _ => None,
        }
    }

    /// `Some(())` when everything was consumed.
    pub fn end(&self) -> Option<()> {
        self.buf.is_empty().then_some(())
    }
}

/// Parses `der` as exactly one TLV with tag `tag`: its contents.
pub fn single(der: &[u8], tag: u8) -> Option<&[u8]> {
    let mut r = Reader::new(der);
    let c = r.read(tag)?;
    r.end()?;
    Some(c)
}

fn len_bytes(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

/// Encoded size of a TLV with `len` content bytes.
pub fn tlv_len(len: usize) -> usize {
    let hdr = if len < 0x80 { 1 } else { 1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize };
    1 + hdr + len
}

/// Appends a TLV.
pub fn put(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    len_bytes(contents.len(), out);
    out.extend_from_slice(contents);
}

/// A TLV in a buffer of its own, wiped on drop (contents may be key material).
pub fn tlv(tag: u8, contents: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(tlv_len(contents.len())));
    put(&mut out, tag, contents);
    out
}

/// Appends a non-negative INTEGER given as big-endian magnitude (leading zeros allowed).
pub fn put_uint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    let m = &magnitude[skip..];
    if m.is_empty() {
        put(out, INTEGER, &[0]);
        return;
    }
    let pad = m[0] & 0x80 != 0;
    out.push(INTEGER);
    len_bytes(m.len() + pad as usize, out);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(m);
}

/// Encoded size of [`put_uint`].
pub fn uint_len(magnitude: &[u8]) -> usize {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    let m = &magnitude[skip..];
    match m.first() {
        None => 3,
        Some(b) => tlv_len(m.len() + (b & 0x80 != 0) as usize),
    }
}

/// Appends a BIT STRING with no unused bits.
pub fn put_bit_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(BIT_STRING);
    len_bytes(bytes.len() + 1, out);
    out.push(0);
    out.extend_from_slice(bytes);
}

/// A SEQUENCE of already-encoded elements, in a wiped buffer.
pub fn sequence(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Zeroizing::new(Vec::with_capacity(tlv_len(len)));
    out.push(SEQUENCE);
    len_bytes(len, &mut out);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// Strips leading zero bytes of a big-endian integer (keeps one byte for zero).
pub fn trim_be(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|&&x| x == 0).count();
    if skip == b.len() {
        &b[b.len().saturating_sub(1)..]
    } else {
        &b[skip..]
    }
}

// ---------------------------------------------------------------------------------------------
// PEM (RFC 7468)

/// `der` as a PEM block: `-----BEGIN <label>-----`, base64 in lines of 64, `-----END <label>-----`.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b = Zeroizing::new(B64.encode(der));
    let mut out = String::with_capacity(b.len() + b.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b.as_bytes().chunks(64) {
        // Base64 is ASCII: every chunk is UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The first PEM block of a text, not yet decoded: its label and base64 body.
pub struct PemBlock<'a> {
    /// What the BEGIN line names: `PUBLIC KEY`, `RSA PRIVATE KEY`...
    pub label: &'a str,
    body: Zeroizing<String>,
}

impl PemBlock<'_> {
    /// The DER inside; `None` when the body is not base64.
    pub fn der(&self) -> Option<Vec<u8>> {
        B64.decode(self.body.as_bytes()).ok()
    }
}

/// Finds the first PEM block of `text` (text before it is ignored; header lines such as
/// `Proc-Type:` are skipped; surrounding white space on each line is allowed). `None` when
/// there is no BEGIN line.
pub fn pem_block(text: &str) -> Option<PemBlock<'_>> {
    let mut label = None;
    let mut body = Zeroizing::new(String::new());
    for line in text.lines() {
        let l = line.trim();
        if label.is_none() {
            if let Some(rest) = l.strip_prefix("-----BEGIN ") {
                label = Some(rest.trim_end_matches('-'));
            }
        } else if l.starts_with("-----END") {
            break;
        } else if !l.contains(':') {
            body.push_str(l);
        }
    }
    Some(PemBlock { label: label?, body })
}

/// The first PEM block of `text`, decoded: (label, DER). `None` when there is no block or its
/// body is not base64.
pub fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let block = pem_block(text)?;
    Some((block.label.to_string(), block.der()?))
}

/// Whether `bytes` look like PEM text (a BEGIN line somewhere) rather than DER.
pub fn looks_like_pem(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok().filter(|t| t.contains("-----BEGIN"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_integers_are_canonical() {
        for n in [0usize, 1, 127, 128, 255, 256, 65535, 65536] {
            let body = vec![7u8; n];
            let t = tlv(OCTET_STRING, &body);
            assert_eq!(t.len(), tlv_len(n));
            assert_eq!(single(&t, OCTET_STRING), Some(&body[..]));
        }
        // Non-minimal lengths and indefinite forms are refused.
        assert!(single(&[0x04, 0x81, 0x01, 0xAA], OCTET_STRING).is_none());
        assert!(single(&[0x04, 0x82, 0x00, 0x81], OCTET_STRING).is_none());
        assert!(single(&[0x30, 0x80, 0x00, 0x00], SEQUENCE).is_none());
        // Trailing bytes are refused by `single`.
        assert!(single(&[0x05, 0x00, 0x00], NULL).is_none());

        for (mag, der, back) in [
            (&[][..], &[0x02, 0x01, 0x00][..], &[0u8][..]),
            (&[0x00, 0x00], &[0x02, 0x01, 0x00], &[0]),
            (&[0x7F], &[0x02, 0x01, 0x7F], &[0x7F]),
            (&[0x80], &[0x02, 0x02, 0x00, 0x80], &[0x80]),
            (&[0x00, 0x01, 0x00], &[0x02, 0x02, 0x01, 0x00], &[0x01, 0x00]),
        ] {
            let mut out = Vec::new();
            put_uint(&mut out, mag);
            assert_eq!(out, der);
            assert_eq!(uint_len(mag), der.len());
            assert_eq!(Reader::new(der).uint(), Some(back));
        }
        // Negative and non-minimal INTEGERs are refused.
        assert!(Reader::new(&[0x02, 0x01, 0x80]).uint().is_none());
        assert!(Reader::new(&[0x02, 0x02, 0x00, 0x7F]).uint().is_none());
        assert!(Reader::new(&[0x02, 0x00]).uint().is_none());
    }

    #[test]
    fn pem_round_trips_and_reads_what_tools_write() {
        for n in [0usize, 1, 47, 48, 49, 300] {
            let der: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let text = pem_encode("PUBLIC KEY", &der);
            assert!(text.starts_with("-----BEGIN PUBLIC KEY-----\n") && text.ends_with("-----END PUBLIC KEY-----\n"));
            assert!(text.lines().all(|l| l.len() <= 64));
            assert_eq!(pem_decode(&text), Some(("PUBLIC KEY".to_string(), der)));
        }
        // Text before the block, indentation, CRLF and RFC 1421 headers are tolerated.
        let text = "Bag Attributes\r\n  -----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\n  AAEC\r\n-----END RSA PRIVATE KEY-----\r\n";
        assert_eq!(pem_decode(text), Some(("RSA PRIVATE KEY".to_string(), vec![0, 1, 2])));
        // Only the first block counts.
        let two = format!("{}{}", pem_encode("A", &[1]), pem_encode("B", &[2]));
        assert_eq!(pem_decode(&two), Some(("A".to_string(), vec![1])));
        // No block, or a body that is not base64.
        assert_eq!(pem_decode("hello"), None);
        let bad = pem_block("-----BEGIN X-----\n!!!!\n-----END X-----\n").unwrap();
        assert_eq!((bad.label, bad.der()), ("X", None));
        assert!(looks_like_pem(b"-----BEGIN X-----").is_some());
        assert!(looks_like_pem(&[0x30, 0x82, 0xff]).is_none());
    }
}
