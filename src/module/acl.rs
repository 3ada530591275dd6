//! Key ACLs: a simplified nCore model (docs/nshield-emulation.md §2.6, §3.3). An ACL is a list of
//! permission groups; a group grants its actions when its certifier (if any) is present and its
//! limits hold. Stored as JSON in a key's `CKA_SHSM_ACL` attribute.
//!
//! The token layer asks [`permits`] (uncertified groups only) before an operation, e.g.
//! `permits_json(obj.attrs.bytes(CKA_SHSM_ACL), &Permission::Op(Op::Sign))`; administrative
//! tools holding the ACS ask [`permits_as`] with `Certifier::Knso`.

use cryptoki_sys::*;
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "shieldhsm/acl/1";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    pub format: String,
    pub groups: Vec<Group>,
    #[serde(default)]
    pub flags: AclFlags,
}

/// nCore ACL flags.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct AclFlags {
    /// The key may be blobbed under a module key other than KM0 (every world-KM key needs it).
    #[serde(default)]
    pub allow_non_km0: bool,
    /// The key may be blobbed under the well-known null token (never set by our tools).
    #[serde(default)]
    pub allow_null_km_token: bool,
}

/// Who must vouch for a group's use.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Certifier {
    /// Anyone holding the key may use the group.
    None,
    /// Only with the Security World's KNSO authority (the ACS): nShield's "trump operations".
    Knso,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Uses left; `Some(0)` means exhausted. Counting is the caller's job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<u64>,
    /// Unix time after which the group no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub certifier: Certifier,
    #[serde(default)]
    pub limits: Limits,
    pub actions: Vec<Action>,
}

/// What protects a blob of the key: the world module key, or a logical token (card set or
/// softcard) named by its hash. JSON: `"km"` or `"lt:<hash>"`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(into = "String", try_from = "String")]
pub enum BlobProtector {
    Km,
    Lt(String),
}

impl Acl {
    /// The same ACL with blobs under logical token `old` allowed under `new` instead: what
    /// `rocs` does when it moves a key to a replacement card set.
    pub fn with_token_replaced(mut self, old: &str, new: &str) -> Acl {
        for a in self.groups.iter_mut().flat_map(|g| g.actions.iter_mut()) {
            if let Action::MakeBlob { protector: BlobProtector::Lt(h) } = a {
                if h == old {
                    *h = new.to_string();
                }
            }
        }
        self
    }
}

impl From<BlobProtector> for String {
    fn from(p: BlobProtector) -> String {
        match p {
            BlobProtector::Km => "km".into(),
            BlobProtector::Lt(h) => format!("lt:{h}"),
        }
    }
}

impl TryFrom<String> for BlobProtector {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "km" => Ok(BlobProtector::Km),
            _ => match s.strip_prefix("lt:") {
                Some(h) if !h.is_empty() => Ok(BlobProtector::Lt(h.to_string())),
                _ => Err(format!("bad blob protector {s:?}")),
            },
        }
    }
}

/// One action of a group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    OpPermissions(OpPermissions),
    /// Make a working blob under this protector.
    MakeBlob {
        protector: BlobProtector,
    },
    /// Make a recovery blob under the world's KRE (`kre` = hkre).
    MakeArchiveBlob {
        kre: String,
    },
    /// Export wrapped under this key-exchange key (`kek` = SHA-256 hex of its SPKI DER).
    ExportWrapped {
        kek: String,
    },
}

/// nCore operation permissions (a subset; only `true` ones are written).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct OpPermissions {
    #[serde(default, skip_serializing_if = "is_false")]
    pub sign: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub verify: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub encrypt: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub decrypt: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub wrap: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unwrap: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub derive: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub export_as_plain: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub reduce_acl: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub expand_acl: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub get_acl: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub get_appdata: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub set_appdata: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub duplicate_handle: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_as_blob_key: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A single operation permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Sign,
    Verify,
    Encrypt,
    Decrypt,
    Wrap,
    Unwrap,
    Derive,
    ExportAsPlain,
    ReduceAcl,
    ExpandAcl,
    GetAcl,
    GetAppData,
    SetAppData,
    DuplicateHandle,
    UseAsBlobKey,
}

pub const ALL_OPS: [Op; 15] = [
    Op::Sign,
    Op::Verify,
    Op::Encrypt,
    Op::Decrypt,
    Op::Wrap,
    Op::Unwrap,
    Op::Derive,
    Op::ExportAsPlain,
    Op::ReduceAcl,
    Op::ExpandAcl,
    Op::GetAcl,
    Op::GetAppData,
    Op::SetAppData,
    Op::DuplicateHandle,
    Op::UseAsBlobKey,
];

impl Op {
    /// nCore's spelling, for printing.
    pub fn name(self) -> &'static str {
        match self {
            Op::Sign => "Sign",
            Op::Verify => "Verify",
            Op::Encrypt => "Encrypt",
            Op::Decrypt => "Decrypt",
            Op::Wrap => "Wrap",
            Op::Unwrap => "Unwrap",
            Op::Derive => "Derive",
            Op::ExportAsPlain => "ExportAsPlain",
            Op::ReduceAcl => "ReduceACL",
            Op::ExpandAcl => "ExpandACL",
            Op::GetAcl => "GetACL",
            Op::GetAppData => "GetAppData",
            Op::SetAppData => "SetAppData",
            Op::DuplicateHandle => "DuplicateHandle",
            Op::UseAsBlobKey => "UseAsBlobKey",
        }
    }
}

impl OpPermissions {
    pub fn has(&self, op: Op) -> bool {
        match op {
            Op::Sign => self.sign,
            Op::Verify => self.verify,
            Op::Encrypt => self.encrypt,
            Op::Decrypt => self.decrypt,
            Op::Wrap => self.wrap,
            Op::Unwrap => self.unwrap,
            Op::Derive => self.derive,
            Op::ExportAsPlain => self.export_as_plain,
            Op::ReduceAcl => self.reduce_acl,
            Op::ExpandAcl => self.expand_acl,
            Op::GetAcl => self.get_acl,
            Op::GetAppData => self.get_appdata,
            Op::SetAppData => self.set_appdata,
            Op::DuplicateHandle => self.duplicate_handle,
            Op::UseAsBlobKey => self.use_as_blob_key,
        }
    }

    pub fn with(ops: &[Op]) -> OpPermissions {
        let mut p = OpPermissions::default();
        for op in ops {
            let f = match op {
                Op::Sign => &mut p.sign,
                Op::Verify => &mut p.verify,
                Op::Encrypt => &mut p.encrypt,
                Op::Decrypt => &mut p.decrypt,
                Op::Wrap => &mut p.wrap,
                Op::Unwrap => &mut p.unwrap,
                Op::Derive => &mut p.derive,
                Op::ExportAsPlain => &mut p.export_as_plain,
                Op::ReduceAcl => &mut p.reduce_acl,
                Op::ExpandAcl => &mut p.expand_acl,
                Op::GetAcl => &mut p.get_acl,
                Op::GetAppData => &mut p.get_appdata,
                Op::SetAppData => &mut p.set_appdata,
                Op::DuplicateHandle => &mut p.duplicate_handle,
                Op::UseAsBlobKey => &mut p.use_as_blob_key,
            };
            *f = true;
        }
        p
    }

    pub fn ops(&self) -> Vec<Op> {
        ALL_OPS.iter().copied().filter(|o| self.has(*o)).collect()
    }
}

/// What a caller wants to do with a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permission {
    Op(Op),
    MakeBlob(BlobProtector),
    MakeArchiveBlob { kre: String },
    ExportWrapped { kek: String },
}

impl Group {
    fn grants(&self, want: &Permission) -> bool {
        self.actions.iter().any(|a| match (a, want) {
            (Action::OpPermissions(p), Permission::Op(op)) => p.has(*op),
            (Action::MakeBlob { protector }, Permission::MakeBlob(w)) => protector == w,
            (Action::MakeArchiveBlob { kre }, Permission::MakeArchiveBlob { kre: w }) => kre == w,
            (Action::ExportWrapped { kek }, Permission::ExportWrapped { kek: w }) => kek.eq_ignore_ascii_case(w),
            _ => false,
        })
    }

    fn usable(&self, certifiers: &[Certifier], now: u64) -> bool {
        let certified = self.certifier == Certifier::None || certifiers.contains(&self.certifier);
        let uses_left = self.limits.uses != Some(0);
        let in_time = self.limits.expires.map(|e| now <= e).unwrap_or(true);
        certified && uses_left && in_time
    }
}

/// Whether an uncertified caller (an application holding the key) may do `want`.
pub fn permits(acl: &Acl, want: &Permission) -> bool {
    permits_as(acl, want, &[], crate::module::time::now())
}

/// Whether a caller presenting `certifiers` (e.g. the ACS's KNSO authority) may do `want` at
/// time `now` (unix seconds).
pub fn permits_as(acl: &Acl, want: &Permission, certifiers: &[Certifier], now: u64) -> bool {
    acl.groups.iter().any(|g| g.usable(certifiers, now) && g.grants(want))
}

/// For the token layer: the ACL check of an object's `CKA_SHSM_ACL` bytes. An object without
/// an ACL (made through PKCS#11, not by `generatekey`) is governed by its attributes alone; an
/// ACL that does not parse permits nothing (fail closed).
pub fn permits_json(acl_json: Option<&[u8]>, want: &Permission) -> bool {
    match acl_json {
        None => true,
        Some(b) => Acl::from_json(b).map(|a| permits(&a, want)).unwrap_or(false),
    }
}

/// The operation permission a PKCS#11 usage attribute corresponds to.
pub fn op_for_usage(attr: CK_ATTRIBUTE_TYPE) -> Option<Op> {
    Some(match attr {
        CKA_SIGN | CKA_SIGN_RECOVER => Op::Sign,
        CKA_VERIFY | CKA_VERIFY_RECOVER => Op::Verify,
        CKA_ENCRYPT => Op::Encrypt,
        CKA_DECRYPT => Op::Decrypt,
        CKA_WRAP => Op::Wrap,
        CKA_UNWRAP => Op::Unwrap,
        CKA_DERIVE => Op::Derive,
        _ => return None,
    })
}

/// Key families, for default ACLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    Ec,
    Aes,
    Des3,
    Hmac,
}

impl Acl {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(b: &[u8]) -> Option<Acl> {
        serde_json::from_slice::<Acl>(b).ok().filter(|a| a.format == FORMAT)
    }

    /// `generatekey`'s default ACL for a private or secret key (docs/nshield-emulation.md §3.3):
    /// the usual operations plus `MakeBlob` under its protector; a KNSO-certified "trump
    /// operations" group; `MakeArchiveBlob{kre}` when the key is recoverable. No plaintext export.
    pub fn default_private(family: KeyFamily, protector: BlobProtector, recovery_hkre: Option<&str>) -> Acl {
        let usual: &[Op] = match family {
            KeyFamily::Rsa => &[Op::Sign, Op::Verify, Op::Encrypt, Op::Decrypt, Op::Wrap, Op::Unwrap],
            KeyFamily::Ec => &[Op::Sign, Op::Verify, Op::Derive],
            KeyFamily::Aes | KeyFamily::Des3 => {
                &[Op::Encrypt, Op::Decrypt, Op::Wrap, Op::Unwrap, Op::Sign, Op::Verify, Op::Derive]
            }
            KeyFamily::Hmac => &[Op::Sign, Op::Verify],
        };
        let mut ops = usual.to_vec();
        ops.extend([Op::GetAcl, Op::GetAppData, Op::DuplicateHandle]);
        let mut main =
            vec![Action::OpPermissions(OpPermissions::with(&ops)), Action::MakeBlob { protector: protector.clone() }];
        if let Some(h) = recovery_hkre {
            main.push(Action::MakeArchiveBlob { kre: h.to_string() });
        }
        let trump = vec![
            Action::OpPermissions(OpPermissions::with(&[
                Op::ReduceAcl,
                Op::ExpandAcl,
                Op::GetAcl,
                Op::GetAppData,
                Op::SetAppData,
                Op::DuplicateHandle,
            ])),
            Action::MakeBlob { protector: protector.clone() },
        ];
        Acl {
            format: FORMAT.into(),
            groups: vec![
                Group { certifier: Certifier::None, limits: Limits::default(), actions: main },
                Group { certifier: Certifier::Knso, limits: Limits::default(), actions: trump },
            ],
            flags: AclFlags { allow_non_km0: protector == BlobProtector::Km, allow_null_km_token: false },
        }
    }

    /// The ACL of a public half: public operations and export (a public key is public).
    pub fn default_public(family: KeyFamily) -> Acl {
        let mut ops = match family {
            KeyFamily::Rsa => vec![Op::Verify, Op::Encrypt, Op::Wrap],
            _ => vec![Op::Verify],
        };
        ops.extend([Op::ExportAsPlain, Op::GetAcl, Op::GetAppData, Op::DuplicateHandle]);
        Acl {
            format: FORMAT.into(),
            groups: vec![Group {
                certifier: Certifier::None,
                limits: Limits::default(),
                actions: vec![
                    Action::OpPermissions(OpPermissions::with(&ops)),
                    Action::MakeBlob { protector: BlobProtector::Km },
                ],
            }],
            flags: AclFlags { allow_non_km0: true, allow_null_km_token: false },
        }
    }

    /// The reduced ACL of a transfer copy (`KeyTransferRemote -ModifyAcls`, the `xferacld` key):
    /// export wrapped under one KEK and nothing else.
    pub fn transfer_only(kek_sha256_hex: &str) -> Acl {
        Acl {
            format: FORMAT.into(),
            groups: vec![Group {
                certifier: Certifier::None,
                limits: Limits::default(),
                actions: vec![Action::ExportWrapped { kek: kek_sha256_hex.to_ascii_lowercase() }],
            }],
            flags: AclFlags::default(),
        }
    }

    /// Human-readable lines in the spirit of nShield's `aclprint.py`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let cert = match g.certifier {
                Certifier::None => "no certifier".to_string(),
                Certifier::Knso => "certifier KNSO (Security Officer; trump operations)".to_string(),
            };
            let mut limits = Vec::new();
            if let Some(u) = g.limits.uses {
                limits.push(format!("{u} uses"));
            }
            if let Some(e) = g.limits.expires {
                limits.push(format!("expires {}", crate::module::time::format_time(e)));
            }
            let lim = if limits.is_empty() { String::new() } else { format!(", limits: {}", limits.join(", ")) };
            out.push(format!(" Permission group {} ({cert}{lim}):", i + 1));
            for a in &g.actions {
                out.push(match a {
                    Action::OpPermissions(p) => {
                        let names: Vec<&str> = p.ops().iter().map(|o| o.name()).collect();
                        format!("  Action: OpPermissions: {}", names.join(" "))
                    }
                    Action::MakeBlob { protector: BlobProtector::Km } => {
                        "  Action: MakeBlob: under the Security World module key (KM)".into()
                    }
                    Action::MakeBlob { protector: BlobProtector::Lt(h) } => {
                        format!("  Action: MakeBlob: under logical token {h}")
                    }
                    Action::MakeArchiveBlob { kre } => format!("  Action: MakeArchiveBlob: under KRE {kre}"),
                    Action::ExportWrapped { kek } => format!("  Action: ExportWrapped: under KEK sha256 {kek}"),
                });
            }
        }
        let mut flags = Vec::new();
        if self.flags.allow_non_km0 {
            flags.push("AllowNonKm0");
        }
        if self.flags.allow_null_km_token {
            flags.push("AllowNullKMToken");
        }
        out.push(format!(" Flags: {}", if flags.is_empty() { "none".to_string() } else { flags.join(" ") }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_acl_grants_usual_ops_but_no_plain_export() {
        let acl = Acl::default_private(KeyFamily::Rsa, BlobProtector::Km, Some("abcd"));
        assert!(permits(&acl, &Permission::Op(Op::Sign)));
        assert!(permits(&acl, &Permission::Op(Op::Decrypt)));
        assert!(!permits(&acl, &Permission::Op(Op::ExportAsPlain)));
        assert!(!permits(&acl, &Permission::Op(Op::ReduceAcl)), "trump ops need KNSO");
        assert!(permits_as(&acl, &Permission::Op(Op::ReduceAcl), &[Certifier::Knso], 0));
        assert!(!permits_as(&acl, &Permission::Op(Op::ExportAsPlain), &[Certifier::Knso], 0));
        assert!(permits(&acl, &Permission::MakeBlob(BlobProtector::Km)));
        assert!(!permits(&acl, &Permission::MakeBlob(BlobProtector::Lt("x".into()))));
        assert!(permits(&acl, &Permission::MakeArchiveBlob { kre: "abcd".into() }));
        assert!(acl.flags.allow_non_km0);
        let no_rec = Acl::default_private(KeyFamily::Ec, BlobProtector::Lt("h".into()), None);
        assert!(!permits(&no_rec, &Permission::MakeArchiveBlob { kre: "abcd".into() }));
        assert!(!permits(&no_rec, &Permission::Op(Op::Decrypt)));
        assert!(!no_rec.flags.allow_non_km0);
    }

    #[test]
    fn json_round_trip_and_fail_closed() {
        let acl = Acl::default_private(KeyFamily::Aes, BlobProtector::Lt("ff00".into()), None);
        let j = acl.to_json();
        assert_eq!(Acl::from_json(&j).unwrap(), acl);
        let text = String::from_utf8(j.clone()).unwrap();
        assert!(text.contains("\"lt:ff00\""), "{text}");
        assert!(!text.contains("export_as_plain"), "false permissions are not written: {text}");
        assert!(permits_json(Some(&j), &Permission::Op(Op::Encrypt)));
        assert!(!permits_json(Some(b"{not json"), &Permission::Op(Op::Encrypt)));
        assert!(permits_json(None, &Permission::Op(Op::Encrypt)));
    }

    #[test]
    fn limits_and_transfer_acl() {
        let mut acl = Acl::transfer_only("ABCDEF");
        assert!(permits(&acl, &Permission::ExportWrapped { kek: "abcdef".into() }));
        assert!(!permits(&acl, &Permission::ExportWrapped { kek: "000000".into() }));
        assert!(!permits(&acl, &Permission::Op(Op::Sign)));
        acl.groups[0].limits.uses = Some(0);
        assert!(!permits(&acl, &Permission::ExportWrapped { kek: "abcdef".into() }));
        acl.groups[0].limits = Limits { uses: None, expires: Some(100) };
        assert!(permits_as(&acl, &Permission::ExportWrapped { kek: "abcdef".into() }, &[], 100));
        assert!(!permits_as(&acl, &Permission::ExportWrapped { kek: "abcdef".into() }, &[], 101));
        assert_eq!(op_for_usage(CKA_SIGN), Some(Op::Sign));
        assert_eq!(op_for_usage(CKA_LABEL), None);
    }
}
