//! Key Exchange Keys: the RSA public key Azure Key Vault hands out (`az keyvault key download`
//! writes it as SPKI PEM) and the versioned key identifier (`kid`) naming it.

use crate::mech::asn1;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::fmt;

/// Why a KEK or kid was refused: a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekError(pub String);

impl fmt::Display for KekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KekError {}

fn bad<T>(msg: impl Into<String>) -> Result<T, KekError> {
    Err(KekError(msg.into()))
}

/// A validated KEK public key.
#[derive(Clone, Debug)]
pub struct Kek {
    /// SubjectPublicKeyInfo DER (rsaEncryption).
    pub spki_der: Vec<u8>,
    pub modulus_bits: usize,
}

impl Kek {
    /// Parses a KEK from what a user has: SPKI PEM (what Azure writes), SPKI DER, or PKCS#1
    /// `RSA PUBLIC KEY` PEM. Only RSA 2048, 3072 and 4096 are KEKs Azure issues.
    pub fn parse(input: &[u8]) -> Result<Kek, KekError> {
        let der = match std::str::from_utf8(input).ok().filter(|s| s.contains("-----BEGIN")) {
            Some(text) => pem_body(text)?,
            None => input.to_vec(),
        };
        let spki = if is_pkcs1_rsa_public(&der) { spki_from_pkcs1(&der) } else { der };
        let key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&spki).map_err(|_| {
            // aws-lc will not even load RSA encryption keys below 2048 bits: name the size.
            match rsa_modulus_bits(&spki) {
                Some(bits) if !matches!(bits, 2048 | 3072 | 4096) => {
                    KekError(format!("the KEK is RSA-{bits}; Azure Key Vault KEKs are RSA 2048, 3072 or 4096"))
                }
                _ => KekError(
                    "the KEK is not an RSA public key (expected the PEM file `az keyvault key download` writes)".into(),
                ),
            }
        })?;
        let bits = key.key_size_bits();
        if !matches!(bits, 2048 | 3072 | 4096) {
            return bad(format!("the KEK is RSA-{bits}; Azure Key Vault KEKs are RSA 2048, 3072 or 4096"));
        }
        Ok(Kek { spki_der: spki, modulus_bits: bits })
    }

    /// SHA-256 of the SPKI, hex: the name ACLs use for "export wrapped to this KEK".
    pub fn fingerprint(&self) -> String {
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.spki_der))
    }

    pub fn to_pem(&self) -> String {
        let b = B64.encode(&self.spki_der);
        let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }
}

fn pem_body(text: &str) -> Result<Vec<u8>, KekError> {
    let mut inside = false;
    let mut body = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("-----BEGIN") {
            if !(l.contains("PUBLIC KEY")) {
                return bad(format!("expected a public key, found `{l}`"));
            }
            inside = true;
        } else if l.starts_with("-----END") {
            break;
        } else if inside {
            body.push_str(l);
        }
    }
    B64.decode(body.as_bytes()).map_err(|_| KekError("the PEM body is not valid base64".into()))
}

/// rsaEncryption's AlgorithmIdentifier { 1.2.840.113549.1.1.1, NULL }.
const RSA_ALG: &[u8] = &[0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

/// The modulus size of an rsaEncryption SPKI, read from the DER alone (for error messages
/// about keys the engine will not load).
fn rsa_modulus_bits(spki: &[u8]) -> Option<usize> {
    let mut body = asn1::Reader::new(spki).seq()?;
    if body.read(0x30)? != &RSA_ALG[2..] {
        return None;
    }
    let n = asn1::Reader::new(body.bit_string()?).seq()?.uint()?;
    let first = n.iter().position(|b| *b != 0)?;
    Some((n.len() - first) * 8 - n[first].leading_zeros() as usize)
}

/// A PKCS#1 RSAPublicKey is a SEQUENCE of two INTEGERs; an SPKI's first element is a SEQUENCE.
fn is_pkcs1_rsa_public(der: &[u8]) -> bool {
    let mut outer = asn1::Reader::new(der);
    outer.seq().and_then(|inner| inner.peek_tag()) == Some(0x02)
}

/// SPKI { AlgorithmIdentifier { rsaEncryption, NULL }, BIT STRING { RSAPublicKey } }.
fn spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let mut bits = Vec::new();
    asn1::put_bit_string(&mut bits, pkcs1);
    asn1::sequence(&[RSA_ALG, &bits]).to_vec()
}

/// Checks a Key Vault key identifier: `https://<vault>.vault.azure.net/keys/<name>/<32-hex>`
/// (or a Managed HSM / sovereign-cloud host). The version is required: Azure imports against
/// one exact KEK version.
pub fn check_kid(kid: &str) -> Result<(), KekError> {
    const HOSTS: &[&str] = &[
        ".vault.azure.net",
        ".managedhsm.azure.net",
        ".vault.azure.cn",
        ".vault.usgovcloudapi.net",
        ".managedhsm.azure.cn",
        ".managedhsm.usgovcloudapi.net",
    ];
    let hint = "expected https://<vault>.vault.azure.net/keys/<kek-name>/<32-hex-version> \
                (the `kid` printed by `az keyvault key show`)";
    let Some(rest) = kid.strip_prefix("https://") else {
        return bad(format!("kid must start with https:// — {hint}"));
    };
    let Some((host, path)) = rest.split_once('/') else { return bad(format!("kid has no path — {hint}")) };
    let vault = HOSTS.iter().find_map(|h| host.strip_suffix(h));
    match vault {
        Some(v) if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {}
        _ => return bad(format!("kid host `{host}` is not a Key Vault or Managed HSM host — {hint}")),
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["keys", name, version]
            if !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && version.len() == 32
                && version.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            Ok(())
        }
        ["keys", _] | ["keys", _, ""] => bad(format!("kid has no key version — {hint}")),
        _ => bad(format!("kid path `/{path}` is not /keys/<name>/<version> — {hint}")),
    }
}

/// A KEK private key given as PKCS#1 (`BEGIN RSA PRIVATE KEY`) as PKCS#8:
/// PrivateKeyInfo { 0, rsaEncryption, OCTET STRING { RSAPrivateKey } }.
pub fn pkcs8_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    const VERSION_AND_ALG: &[u8] =
        &[0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let key = asn1::tlv(0x04, pkcs1);
    asn1::sequence(&[VERSION_AND_ALG, &key]).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample KEK of tests/data/byok (the KEK of the BYOK known-answer test).
    static EXAMPLE_KEK: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/byok/example-KEK.publickey.pem"))
            .expect("tests/data/byok/example-KEK.publickey.pem")
    });

    #[test]
    fn parses_the_azure_download_format() {
        let k = Kek::parse(EXAMPLE_KEK.as_bytes()).unwrap();
        assert_eq!(k.modulus_bits, 2048);
        // DER input and re-encoded PEM give the same key.
        assert_eq!(Kek::parse(&k.spki_der).unwrap().spki_der, k.spki_der);
        assert_eq!(Kek::parse(k.to_pem().as_bytes()).unwrap().spki_der, k.spki_der);
        assert_eq!(k.fingerprint().len(), 64);
    }

    #[test]
    fn accepts_pkcs1_public_keys() {
        let k = Kek::parse(EXAMPLE_KEK.as_bytes()).unwrap();
        // Pull the RSAPublicKey out of the SPKI's BIT STRING and re-wrap it as PKCS#1 PEM.
        let mut body = asn1::Reader::new(&k.spki_der).seq().unwrap();
        body.read(0x30).unwrap();
        let pkcs1 = body.bit_string().unwrap();
        let pem = format!("-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n", B64.encode(pkcs1));
        assert_eq!(Kek::parse(pem.as_bytes()).unwrap().spki_der, k.spki_der);
    }

    #[test]
    fn names_the_size_of_a_refused_kek() {
        let k = Kek::parse(EXAMPLE_KEK.as_bytes()).unwrap();
        assert_eq!(rsa_modulus_bits(&k.spki_der), Some(2048));
        // RSAPublicKey { n: 1024-bit, e: 65537 } as SPKI.
        let mut n = vec![0x00, 0xc5];
        n.extend([0x5a; 127]);
        let (mut n_der, mut e_der) = (Vec::new(), Vec::new());
        asn1::put_uint(&mut n_der, &n[1..]);
        asn1::put_uint(&mut e_der, &[0x01, 0x00, 0x01]);
        let spki = spki_from_pkcs1(&asn1::sequence(&[&n_der, &e_der]));
        assert_eq!(rsa_modulus_bits(&spki), Some(1024));
        assert!(Kek::parse(&spki).unwrap_err().0.contains("RSA-1024"));
    }

    #[test]
    fn refuses_what_is_not_an_rsa_public_key() {
        assert!(Kek::parse(b"not a key").is_err());
        let e = Kek::parse(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap_err();
        assert!(e.0.contains("expected a public key"));
    }

    #[test]
    fn kid_rules() {
        assert!(check_kid(
            "https://contosokeyvaulthsm.vault.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621"
        )
        .is_ok());
        assert!(check_kid("https://myhsm.managedhsm.azure.net/keys/kek-1/0123456789abcdef0123456789abcdef").is_ok());
        assert!(check_kid("https://contoso.vault.azure.net/keys/KEKforBYOK").unwrap_err().0.contains("no key version"));
        assert!(check_kid("http://contoso.vault.azure.net/keys/K/eba63d27e4e34e028839b53fac905621").is_err());
        assert!(check_kid("https://evil.example.com/keys/K/eba63d27e4e34e028839b53fac905621").is_err());
        assert!(check_kid("https://contoso.vault.azure.net/keys/K/xyz").is_err());
        assert!(check_kid("https://contoso.vault.azure.net/secrets/K/eba63d27e4e34e028839b53fac905621").is_err());
    }
}
