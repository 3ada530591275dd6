//! Key Exchange Keys: the RSA public key Azure Key Vault hands out (`az keyvault key download`
//! writes it as SPKI PEM), the versioned key identifier (`kid`) naming it, and the private half
//! a test or emulated KEK keeps on disk.

use super::write_new_file;
use crate::mech::asn1;
use crate::module::admin::{AdminError, AdminResult};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// Why a KEK, its private key or a kid was refused: what is wrong, and (where the refusal knows
/// better than its caller) what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KekError {
    pub what: String,
    pub todo: Option<&'static str>,
}

impl KekError {
    fn new(what: impl Into<String>) -> KekError {
        KekError { what: what.into(), todo: None }
    }

    fn with_todo(what: impl Into<String>, todo: &'static str) -> KekError {
        KekError { what: what.into(), todo: Some(todo) }
    }

    /// As an administrative error: its own advice, else `todo`.
    pub fn or_todo(self, todo: impl Into<String>) -> AdminError {
        match self.todo {
            Some(own) => AdminError::new(self.what, own),
            None => AdminError::new(self.what, todo),
        }
    }
}

impl fmt::Display for KekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.todo {
            Some(todo) => write!(f, "{} \u{2014} {todo}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for KekError {}

/// What to do with a refused KEK public key, unless the caller knows better.
pub const KEK_TODO: &str = "give the KEK `az keyvault key download` wrote (an RSA-HSM key of 2048, 3072 or 4096 bits)";

impl From<KekError> for AdminError {
    fn from(e: KekError) -> AdminError {
        e.or_todo(KEK_TODO)
    }
}

fn bad<T>(msg: impl Into<String>) -> Result<T, KekError> {
    Err(KekError::new(msg))
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
        let der = match asn1::looks_like_pem(input) {
            Some(text) => public_pem_body(text)?,
            None => input.to_vec(),
        };
        let spki = if is_pkcs1_rsa_public(&der) { spki_from_pkcs1(&der) } else { der };
        let key = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&spki).map_err(|_| {
            // aws-lc will not even load RSA encryption keys below 2048 bits: name the size.
            match rsa_modulus_bits(&spki) {
                Some(bits) if !matches!(bits, 2048 | 3072 | 4096) => {
                    KekError::new(format!("the KEK is RSA-{bits}; Azure Key Vault KEKs are RSA 2048, 3072 or 4096"))
                }
                _ => KekError::new(
                    "the KEK is not an RSA public key (expected the PEM file `az keyvault key download` writes)",
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

    /// SPKI PEM, the file `az keyvault key download` writes.
    pub fn to_pem(&self) -> String {
        asn1::pem_encode("PUBLIC KEY", &self.spki_der)
    }
}

/// The DER of a public key PEM (SPKI or PKCS#1).
fn public_pem_body(text: &str) -> Result<Vec<u8>, KekError> {
    // No BEGIN line at a line's start: nothing a parser would take for a key.
    let Some(block) = asn1::pem_block(text) else { return Ok(Vec::new()) };
    if !block.label.contains("PUBLIC KEY") {
        return bad(format!("expected a public key, found `-----BEGIN {}-----`", block.label));
    }
    block.der().ok_or_else(|| KekError::new("the PEM body is not valid base64"))
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
    const HINT: &str = "expected https://<vault>.vault.azure.net/keys/<kek-name>/<32-hex-version> \
                        (the `kid` printed by `az keyvault key show`)";
    let bad = |what: String| Err(KekError::with_todo(what, HINT));
    let Some(rest) = kid.strip_prefix("https://") else {
        return bad("kid must start with https://".into());
    };
    let Some((host, path)) = rest.split_once('/') else { return bad("kid has no path".into()) };
    let vault = HOSTS.iter().find_map(|h| host.strip_suffix(h));
    match vault {
        Some(v) if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {}
        _ => return bad(format!("kid host `{host}` is not a Key Vault or Managed HSM host")),
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
        ["keys", _] | ["keys", _, ""] => bad("kid has no key version".into()),
        _ => bad(format!("kid path `/{path}` is not /keys/<name>/<version>")),
    }
}

/// The vault (or Managed HSM) a kid is on, and whether it is a Managed HSM:
/// `https://contoso.vault.azure.net/keys/…` → `("contoso", false)`.
pub fn kid_vault(kid: &str) -> (&str, bool) {
    let host = kid.strip_prefix("https://").and_then(|r| r.split('/').next()).unwrap_or("");
    (host.split('.').next().unwrap_or("<vault>"), host.contains(".managedhsm."))
}

/// The key's name in a kid (`…/keys/<name>/<version>`), if it has one.
pub fn kid_key_name(kid: &str) -> Option<&str> {
    kid.split('/').nth(4)
}

/// A KEK private key given as PKCS#1 (`BEGIN RSA PRIVATE KEY`) as PKCS#8:
/// PrivateKeyInfo { 0, rsaEncryption, OCTET STRING { RSAPrivateKey } }.
pub fn pkcs8_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    const VERSION_AND_ALG: &[u8] =
        &[0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let key = asn1::tlv(asn1::OCTET_STRING, pkcs1);
    asn1::sequence(&[VERSION_AND_ALG, &key]).to_vec()
}

/// A KEK's private key file as PKCS#8 DER: `BEGIN PRIVATE KEY` (what byok-test-kek, byok-toolset
/// and openssl write), `BEGIN RSA PRIVATE KEY`, or DER.
pub fn read_private_key(path: &str) -> Result<Zeroizing<Vec<u8>>, KekError> {
    let raw = Zeroizing::new(std::fs::read(path).map_err(|e| {
        KekError::with_todo(format!("cannot read the KEK private key {path} ({e})"), "check the --kek-private path")
    })?);
    let Some(text) = asn1::looks_like_pem(&raw) else { return Ok(raw) };
    match asn1::pem_decode(text) {
        Some((l, der)) if l == "PRIVATE KEY" => Ok(Zeroizing::new(der)),
        Some((l, der)) if l == "RSA PRIVATE KEY" => Ok(Zeroizing::new(pkcs8_from_pkcs1(&Zeroizing::new(der)))),
        Some((l, _)) => Err(KekError::with_todo(
            format!("{path} holds a {l}, not an unencrypted RSA private key"),
            "give the KEK's private key PEM (BEGIN PRIVATE KEY), e.g. the one byok-test-kek wrote",
        )),
        None => {
            Err(KekError::with_todo(format!("{path} is not a readable PEM file"), "give the KEK's private key PEM"))
        }
    }
}

/// A fresh RSA key pair for a KEK: (PKCS#8 DER, SPKI DER). Only the sizes Azure issues.
pub fn generate(bits: usize) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), KekError> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => {
            return Err(KekError::with_todo(
                format!("KEK size {bits} is not one Azure issues"),
                "use --size 2048, 3072 or 4096",
            ))
        }
    };
    let failed = || KekError::with_todo("RSA key generation failed", "retry");
    let key = PrivateDecryptingKey::generate(size).map_err(|_| failed())?;
    let der = key.as_der().map_err(|_| failed())?;
    let spki = key.public_key().as_der().map_err(|_| failed())?;
    Ok((Zeroizing::new(der.as_ref().to_vec()), spki.as_ref().to_vec()))
}

/// `byok-test-kek`: a fresh KEK of `bits`, its private key written to `private_path` (PKCS#8
/// PEM, mode 0600) and its public key to `public_path` (SPKI PEM, mode 0644: the file
/// `az keyvault key download` writes). Neither file may exist; both or neither are written.
pub fn make_test_kek(bits: usize, private_path: &str, public_path: &str) -> AdminResult<Kek> {
    for f in [private_path, public_path] {
        if Path::new(f).exists() {
            return Err(AdminError::new(format!("{f} exists already"), "move it away or choose another file name"));
        }
    }
    if Path::new(private_path) == Path::new(public_path) {
        return Err(AdminError::new("--out and --pub name the same file", "give two file names"));
    }
    let (private, spki) = generate(bits)?;
    const TODO: &str = "check the directory and its permissions";
    let private_pem = Zeroizing::new(asn1::pem_encode("PRIVATE KEY", &private));
    write_new_file(private_path, 0o600, private_pem.as_bytes(), TODO)?;
    if let Err(e) = write_new_file(public_path, 0o644, asn1::pem_encode("PUBLIC KEY", &spki).as_bytes(), TODO) {
        let _ = std::fs::remove_file(private_path);
        return Err(e);
    }
    Kek::parse(&spki).map_err(|e| e.or_todo("report this"))
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
        let pem = asn1::pem_encode("RSA PUBLIC KEY", pkcs1);
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
        assert!(Kek::parse(&spki).unwrap_err().what.contains("RSA-1024"));
    }

    #[test]
    fn refuses_what_is_not_an_rsa_public_key() {
        assert!(Kek::parse(b"not a key").is_err());
        let e = Kek::parse(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap_err();
        assert_eq!(e.what, "expected a public key, found `-----BEGIN PRIVATE KEY-----`");
        assert_eq!(e.todo, None);
    }

    #[test]
    fn kid_rules() {
        assert!(check_kid(
            "https://contosokeyvaulthsm.vault.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621"
        )
        .is_ok());
        assert!(check_kid("https://myhsm.managedhsm.azure.net/keys/kek-1/0123456789abcdef0123456789abcdef").is_ok());
        let e = check_kid("https://contoso.vault.azure.net/keys/KEKforBYOK").unwrap_err();
        assert_eq!(e.what, "kid has no key version");
        assert!(e.todo.is_some_and(|t| t.contains("az keyvault key show")));
        // The advice travels as its own field, and reads as one sentence with the refusal.
        assert!(e.to_string().starts_with("kid has no key version \u{2014} expected https://"));
        let a = e.or_todo("ignored: the kid's own advice wins");
        assert!(a.todo.starts_with("expected https://"));
        assert_eq!(
            kid_key_name("https://c.vault.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621"),
            Some("KEKforBYOK")
        );
        assert_eq!(kid_vault("https://c.vault.azure.net/keys/K/1"), ("c", false));
        assert_eq!(kid_vault("https://h.managedhsm.azure.net/keys/K/1"), ("h", true));
        assert!(check_kid("http://contoso.vault.azure.net/keys/K/eba63d27e4e34e028839b53fac905621").is_err());
        assert!(check_kid("https://evil.example.com/keys/K/eba63d27e4e34e028839b53fac905621").is_err());
        assert!(check_kid("https://contoso.vault.azure.net/keys/K/xyz").is_err());
        assert!(check_kid("https://contoso.vault.azure.net/secrets/K/eba63d27e4e34e028839b53fac905621").is_err());
    }

    #[test]
    fn private_keys_are_read_as_pkcs8_whatever_their_wrapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        let kek = make_test_kek(2048, &path("priv.pem"), &path("pub.pem")).unwrap();
        assert_eq!(Kek::parse(&std::fs::read(path("pub.pem")).unwrap()).unwrap().spki_der, kek.spki_der);
        let pkcs8 = read_private_key(&path("priv.pem")).unwrap();
        // The same key as DER, and as PKCS#1 (`BEGIN RSA PRIVATE KEY`), reads the same.
        std::fs::write(path("priv.der"), &pkcs8[..]).unwrap();
        assert_eq!(read_private_key(&path("priv.der")).unwrap(), pkcs8);
        let mut pki = asn1::Reader::new(&pkcs8).seq().unwrap();
        pki.small_uint().unwrap();
        pki.read(asn1::SEQUENCE).unwrap();
        let pkcs1 = pki.read(asn1::OCTET_STRING).unwrap();
        std::fs::write(path("rsa.pem"), asn1::pem_encode("RSA PRIVATE KEY", pkcs1)).unwrap();
        assert_eq!(read_private_key(&path("rsa.pem")).unwrap(), pkcs8);
        // A public key is not a private key; a missing file says which option to check.
        let e = read_private_key(&path("pub.pem")).unwrap_err();
        assert!(e.what.contains("holds a PUBLIC KEY") && e.todo.is_some());
        assert_eq!(read_private_key(&path("none")).unwrap_err().todo, Some("check the --kek-private path"));
        // The files exist now: a second test KEK refuses to overwrite them, and writes nothing.
        assert!(make_test_kek(2048, &path("priv.pem"), &path("other.pem")).unwrap_err().what.contains("exists"));
        assert!(!dir.path().join("other.pem").exists());
        assert!(make_test_kek(1024, &path("a.pem"), &path("b.pem")).unwrap_err().what.contains("1024"));
    }
}
