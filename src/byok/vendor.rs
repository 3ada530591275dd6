//! The seed's "toolset download", emulated: an **emulated vendor root** (never Entrust's; its
//! fingerprints are printed everywhere it is used) signs a KEK package and a Security World
//! package for a region, and the private half of that KEK stays in an emulated Key Vault store
//! under `emu/keyvault/`, so the whole 2016 workflow can be checked end to end offline.

use crate::module::store::{Store, StoreLock};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub const ROOT_LABEL: &str = "shieldhsm emulated vendor root (NOT Entrust/nCipher)";
const ROOT_FILE: &str = "vendor-root.json";

#[derive(Serialize, Deserialize)]
struct RootFile {
    format: String,
    label: String,
    alg: String,
    public_key: String,
    private_pkcs8: String,
}

/// The emulated vendor root: an ECDSA P-256 key made once per data directory.
pub struct VendorRoot {
    pair: EcdsaKeyPair,
}

impl VendorRoot {
    /// Loads the root if this data directory has one (never creates it).
    pub fn load(store: &Store) -> Result<Option<VendorRoot>, String> {
        let path = store.emu().join(ROOT_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let raw = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&path, &raw).map(Some)
    }

    fn parse(path: &std::path::Path, raw: &[u8]) -> Result<VendorRoot, String> {
        let f: RootFile = serde_json::from_slice(raw).map_err(|e| format!("{}: {e}", path.display()))?;
        let der = B64.decode(&f.private_pkcs8).map_err(|_| "vendor root key is not base64".to_string())?;
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &der)
            .map_err(|_| "vendor root key does not parse".to_string())?;
        Ok(VendorRoot { pair })
    }

    /// Loads the root, creating it on first use.
    pub fn load_or_create(store: &Store, lock: &StoreLock<'_>) -> Result<VendorRoot, String> {
        let path = store.emu().join(ROOT_FILE);
        if let Ok(raw) = std::fs::read(&path) {
            return Self::parse(&path, &raw);
        }
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| "cannot generate the vendor root".to_string())?;
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref())
            .map_err(|_| "cannot load the vendor root".to_string())?;
        let f = RootFile {
            format: "shieldhsm/vendor-root/1".into(),
            label: ROOT_LABEL.into(),
            alg: "ECDSA-P256-SHA256".into(),
            public_key: B64.encode(pair.public_key().as_ref()),
            private_pkcs8: B64.encode(doc.as_ref()),
        };
        let json = serde_json::to_vec_pretty(&f).map_err(|e| e.to_string())?;
        lock.write_emu(ROOT_FILE, &json).map_err(|e| format!("cannot write the vendor root: {e}"))?;
        Ok(VendorRoot { pair })
    }

    /// The public key as an uncompressed point.
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair.sign(&rng, msg).map(|s| s.as_ref().to_vec()).map_err(|_| "signing failed".to_string())
    }
}

/// SHA-1 and SHA-256 fingerprints of a root public key, as `verifykeypackage` prints them.
pub fn fingerprints(public_key: &[u8]) -> (String, String) {
    let s1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, public_key);
    let s256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_key);
    (hex::encode(s1.as_ref()), hex::encode(s256.as_ref()))
}

/// A signed package body: what is claimed, and by whom.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PackageBody {
    /// [`super::kekpkg::KEK_PKG_FORMAT`] or [`super::toolset::WORLD_PKG_FORMAT`].
    pub format: String,
    pub region: String,
    /// KEK packages: the Key Vault key identifier and the KEK's SPKI (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kek_spki: Option<String>,
    /// World packages: the destination world's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hknso: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphersuite: Option<String>,
    /// Attested properties ("generated-in-hsm", "non-exportable", "genuine-hsm-world").
    pub claims: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SignedPackage {
    pub body: PackageBody,
    pub signer: String,
    /// Root public key (uncompressed P-256 point, base64) that signed `body`.
    pub root_public_key: String,
    pub signature: String,
}

impl SignedPackage {
    pub fn sign(body: PackageBody, root: &VendorRoot) -> Result<SignedPackage, String> {
        let msg = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        Ok(SignedPackage {
            signer: ROOT_LABEL.into(),
            root_public_key: B64.encode(root.public_key()),
            signature: B64.encode(root.sign(&msg)?),
            body,
        })
    }

    /// Checks the signature against `trusted_root` (the root this installation trusts) and
    /// returns the root's fingerprints. A package signed by any other key fails.
    pub fn verify(&self, trusted_root: &[u8]) -> Result<(String, String), String> {
        let claimed = B64.decode(&self.root_public_key).map_err(|_| "root key is not base64".to_string())?;
        if claimed != trusted_root {
            return Err("signed by a root this installation does not trust".into());
        }
        let msg = serde_json::to_vec(&self.body).map_err(|e| e.to_string())?;
        let sig = B64.decode(&self.signature).map_err(|_| "signature is not base64".to_string())?;
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, trusted_root)
            .verify(&msg, &sig)
            .map_err(|_| "signature does not verify: the package was altered or forged".to_string())?;
        Ok(fingerprints(trusted_root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_verify_only_unaltered_and_under_the_trusted_root() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(dir.path()).unwrap();
        let root = {
            let l = st.lock().unwrap();
            VendorRoot::load_or_create(&st, &l).unwrap()
        };
        // Loading again gives the same root.
        let again = {
            let l = st.lock().unwrap();
            VendorRoot::load_or_create(&st, &l).unwrap()
        };
        assert_eq!(root.public_key(), again.public_key());
        let body = PackageBody {
            format: super::super::kekpkg::KEK_PKG_FORMAT.into(),
            region: "EU".into(),
            kid: Some("https://x.vault.azure.net/keys/K/0123456789abcdef0123456789abcdef".into()),
            kek_spki: Some("AAAA".into()),
            hknso: None,
            ciphersuite: None,
            claims: vec!["generated-in-hsm".into(), "non-exportable".into()],
        };
        let p = SignedPackage::sign(body, &root).unwrap();
        let (s1, s256) = p.verify(&root.public_key()).unwrap();
        assert_eq!((s1.len(), s256.len()), (40, 64));
        // The real nShield root hash must never be ours.
        assert_ne!(s1, "59178a47de508c3f291277ee184f46c4f1d9c639");
        let mut altered = p.clone();
        altered.body.claims.pop();
        assert!(altered.verify(&root.public_key()).unwrap_err().contains("altered"));
        let other_dir = tempfile::tempdir().unwrap();
        let other_st = Store::open(other_dir.path()).unwrap();
        let other = {
            let l = other_st.lock().unwrap();
            VendorRoot::load_or_create(&other_st, &l).unwrap()
        };
        assert!(p.verify(&other.public_key()).unwrap_err().contains("does not trust"));
    }
}
