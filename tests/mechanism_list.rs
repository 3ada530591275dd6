//! `pkcs11-tool -M` (OpenSC, a real client) lists the mechanisms issue #13 added, and lists the
//! legacy ones only where the security assurances allow weak algorithms. Each is exercised with
//! known answers elsewhere: tests/macs.rs (CMAC, MAC), tests/derive.rs (ENCRYPT_DATA, XOR,
//! CONCATENATE), tests/dsa_dh.rs (DSA, DH), tests/legacy.rs (DES, DES2, MD5, RIPEMD-160).

mod common;

use std::process::Command;

const ALWAYS: &[&str] = &[
    "AES-CMAC",
    "AES-MAC",
    "AES-MAC-GENERAL",
    "DES3-CMAC",
    "DES3-MAC",
    "DES3-MAC-GENERAL",
    "AES-ECB-ENCRYPT-DATA",
    "AES-CBC-ENCRYPT-DATA",
    "DES3-ECB-ENCRYPT-DATA",
    "DES3-CBC-ENCRYPT-DATA",
    "XOR-BASE-AND-DATA",
    "CONCATENATE-BASE-AND-KEY",
    "CONCATENATE-BASE-AND-DATA",
    "CONCATENATE-DATA-AND-BASE",
    "EXTRACT-KEY-FROM-KEY",
    "DSA-PARAMETER-GEN",
    "DSA-KEY-PAIR-GEN",
    "DSA",
    "DSA-SHA1",
    "DSA-SHA224",
    "DSA-SHA256",
    "DSA-SHA384",
    "DSA-SHA512",
    "DH-PKCS-KEY-PAIR-GEN",
    "DH-PKCS-DERIVE",
];

const WEAK: &[&str] = &[
    "DES-KEY-GEN",
    "DES2-KEY-GEN",
    "DES-ECB",
    "DES-CBC",
    "DES-CBC-PAD",
    "MD5",
    "MD5-HMAC",
    "MD5-RSA-PKCS",
    "RIPEMD160",
];

/// The mechanism names `pkcs11-tool -M` prints for the module slot, with `overrides` set.
fn listed(overrides: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new("pkcs11-tool");
    c.args(["--module", common::built_module().to_str().unwrap(), "--slot", "0", "-M"])
        .env("SHIELDHSM_KMDATA", dir.path().join("kmdata"))
        .env_remove("CKNFAST_OVERRIDE_SECURITY_ASSURANCES");
    if let Some(o) = overrides {
        c.env("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", o);
    }
    let out = c.output().expect("pkcs11-tool (OpenSC) is installed by scripts/install-deps test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split(',').next().map(str::to_string))
        .collect()
}

#[test]
fn pkcs11_tool_lists_the_new_mechanisms_and_the_legacy_ones_only_when_allowed() {
    let strict = listed(None);
    for m in ALWAYS {
        assert!(strict.iter().any(|l| l == m), "{m} missing: {strict:?}");
    }
    for m in WEAK {
        assert!(!strict.iter().any(|l| l == m), "{m} listed without an override");
    }
    let relaxed = listed(Some("weak_all"));
    for m in ALWAYS.iter().chain(WEAK) {
        assert!(relaxed.iter().any(|l| l == m), "{m} missing under weak_all: {relaxed:?}");
    }
    // weak_des turns on DES alone, not the weak digests.
    let des = listed(Some("weak_des"));
    assert!(des.iter().any(|l| l == "DES-CBC") && !des.iter().any(|l| l == "MD5"), "{des:?}");
}
