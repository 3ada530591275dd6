//! The `.byok` transfer document Azure Key Vault imports (docs/nshield-emulation.md §1.5): exactly
//! four fields, `ciphertext` as unpadded base64url of `RSA-OAEP-SHA1(aes) || KWP(aes, target)`.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: &str = "1.0.0";
pub const ALG: &str = "dir";
pub const ENC: &str = "CKM_RSA_AES_KEY_WRAP";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub kid: String,
    pub alg: String,
    pub enc: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ByokDocument {
    pub schema_version: String,
    pub header: Header,
    pub ciphertext: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
}

impl ByokDocument {
    pub fn new(kid: &str, ciphertext: &[u8], generator: &str) -> ByokDocument {
        ByokDocument {
            schema_version: SCHEMA_VERSION.into(),
            header: Header { kid: kid.into(), alg: ALG.into(), enc: ENC.into() },
            ciphertext: URL_SAFE_NO_PAD.encode(ciphertext),
            generator: Some(generator.into()),
        }
    }

    /// The file's bytes: UTF-8 JSON, no BOM, pretty-printed with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses and checks the fixed fields; accepts padded base64url on read.
    pub fn parse(bytes: &[u8]) -> Result<(ByokDocument, Vec<u8>), String> {
        let doc: ByokDocument = serde_json::from_slice(bytes).map_err(|e| format!("not a .byok document: {e}"))?;
        if doc.schema_version != SCHEMA_VERSION {
            return Err(format!("schema_version is {:?}, expected \"1.0.0\"", doc.schema_version));
        }
        if doc.header.alg != ALG || doc.header.enc != ENC {
            return Err(format!(
                "header alg/enc are {:?}/{:?}, expected \"dir\"/\"CKM_RSA_AES_KEY_WRAP\"",
                doc.header.alg, doc.header.enc
            ));
        }
        let ct = URL_SAFE_NO_PAD
            .decode(doc.ciphertext.trim_end_matches('='))
            .or_else(|_| URL_SAFE.decode(&doc.ciphertext))
            .map_err(|_| "ciphertext is not base64url".to_string())?;
        Ok((doc, ct))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_example_and_round_trips() {
        let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/byok/example-EC-P256.byok")).unwrap();
        let (doc, ct) = ByokDocument::parse(&raw).unwrap();
        assert_eq!(
            doc.header.kid,
            "https://contosokeyvaulthsm.vault.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621"
        );
        // RSA-2048 KEK: 256 bytes of OAEP, then KWP of a 138-byte PKCS#8 (144 + 8).
        assert_eq!(ct.len(), 256 + 152);
        let again = ByokDocument::new(&doc.header.kid, &ct, doc.generator.as_deref().unwrap_or(""));
        assert_eq!(again.ciphertext, doc.ciphertext);
        let text = String::from_utf8(again.to_bytes()).unwrap();
        assert!(!text.contains('=') || !again.ciphertext.contains('='));
        assert!(!again.ciphertext.contains(['+', '/', '=']));
    }

    #[test]
    fn refuses_extra_fields_and_wrong_constants() {
        let bad = br#"{"schema_version":"1.0.0","header":{"kid":"k","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"AA","extra":1}"#;
        assert!(ByokDocument::parse(bad).is_err());
        let bad = br#"{"schema_version":"2.0.0","header":{"kid":"k","alg":"dir","enc":"CKM_RSA_AES_KEY_WRAP"},"ciphertext":"AA"}"#;
        assert!(ByokDocument::parse(bad).is_err());
    }
}
