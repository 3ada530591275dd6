//! The Security World and the emulated module holding its module key (KM).
//!
//! `local/world` is public world metadata (as nShield's is); the module's secrets live in
//! `emu/modules/<ESN>/state.json`, which stands for the HSM's internal storage: owner-only, never
//! copied into `local/`. Formats are ours ("shieldhsm/…/1"), not nCipher's binary ones.

use super::store::{random_key, SecretKey32, Store, StoreLock};
use crate::error::Result;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub const WORLD_FILE: &str = "world";
pub const DEFAULT_CIPHERSUITE: &str = "DLf3072s256mAEScSP800131Ar1";

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct WorldFile {
    pub format: String,
    pub generation: u32,
    pub ciphersuite: String,
    pub mode: String,
    pub createtime: u64,
    /// ACS quorum K/N; 0/0 for a world made implicitly by the first C_InitToken.
    pub acs_k: u32,
    pub acs_n: u32,
    pub hknso: String,
    pub hkm: String,
    pub modules: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct ModuleStateFile {
    format: String,
    esn: String,
    mode: String,
    firmware: String,
    /// The world's module key as programmed into this module (base64).
    km: String,
    world_hkm: String,
}

/// A loaded world: its metadata and the module key from the (first) enrolled module.
pub struct World {
    pub file: WorldFile,
    pub esn: String,
    pub km: SecretKey32,
}

impl World {
    /// Loads the world, or `None` when the directory has none yet.
    pub fn load(store: &Store) -> Result<Option<World>> {
        if !store.exists(WORLD_FILE) {
            return Ok(None);
        }
        let file: WorldFile = serde_json::from_slice(&store.read(WORLD_FILE)?).map_err(|_| CKR_DEVICE_ERROR)?;
        let esn = file.modules.first().cloned().ok_or(CKR_DEVICE_ERROR)?;
        let raw = std::fs::read(store.emu().join("modules").join(&esn).join("state.json"))?;
        let st: ModuleStateFile = serde_json::from_slice(&raw).map_err(|_| CKR_DEVICE_ERROR)?;
        let km_bytes = Zeroizing::new(B64.decode(&st.km).map_err(|_| CKR_DEVICE_ERROR)?);
        let mut km = Zeroizing::new([0u8; 32]);
        if km_bytes.len() != 32 || st.world_hkm != file.hkm {
            return Err(CKR_DEVICE_ERROR.into());
        }
        km.copy_from_slice(&km_bytes);
        Ok(Some(World { file, esn, km }))
    }

    /// Creates a world with a fresh KM on one emulated module (the implicit world of the first
    /// C_InitToken; `new-world` builds the full one with an ACS).
    pub fn create_default(lock: &StoreLock<'_>) -> Result<World> {
        let km = random_key()?;
        let mut esn_bytes = [0u8; 6];
        aws_lc_rs::rand::fill(&mut esn_bytes)?;
        let h = hex::encode_upper(esn_bytes);
        let esn = format!("{}-{}-{}", &h[0..4], &h[4..8], &h[8..12]);
        let hkm = hash_hex(&[&km[..], b"emu-hkm"]);
        let mut knso = [0u8; 32];
        aws_lc_rs::rand::fill(&mut knso)?;
        let file = WorldFile {
            format: "shieldhsm/world/1".into(),
            generation: 1,
            ciphersuite: DEFAULT_CIPHERSUITE.into(),
            mode: "unrestricted".into(),
            createtime: now(),
            acs_k: 0,
            acs_n: 0,
            hknso: hash_hex(&[&knso, b"emu-hknso"]),
            hkm: hkm.clone(),
            modules: vec![esn.clone()],
        };
        let state = ModuleStateFile {
            format: "shieldhsm/module/1".into(),
            esn: esn.clone(),
            mode: "operational".into(),
            firmware: "emu-12.72.2".into(),
            km: B64.encode(&km[..]),
            world_hkm: hkm,
        };
        let state_json = Zeroizing::new(serde_json::to_vec_pretty(&state).map_err(|_| CKR_GENERAL_ERROR)?);
        lock.write_emu(&format!("modules/{esn}/state.json"), &state_json)?;
        lock.write(WORLD_FILE, &serde_json::to_vec_pretty(&file).map_err(|_| CKR_GENERAL_ERROR)?)?;
        Ok(World { file, esn, km })
    }
}

/// 40-hex (SHA-1-sized) identifier as nShield prints hashes; SHA-256 truncated.
pub fn hash_hex(parts: &[&[u8]]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    hex::encode(&ctx.finish().as_ref()[..20])
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
