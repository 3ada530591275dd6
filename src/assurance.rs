//! The emulated Security Assurance Mechanism (SAM) of nShield's PKCS#11 library: operations
//! that would let a key leave other than as policy allows fail by default, each with one line in
//! the debug log naming the assurance and the token of `CKNFAST_OVERRIDE_SECURITY_ASSURANCES`
//! that relaxes it for a legacy application.
//!
//! The override list (tokens separated by `;`, plus `all` and `none`) is read with the rest of
//! cknfastrc; the library installs it at `C_Initialize` and the CLI at start, so both layers (and
//! the mechanisms below them) see the same set. This module depends on nothing of ours.

use parking_lot::RwLock;

/// One class of questionable operation, by its override token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assurance {
    /// `wrap_kek`: a protected key (one whose value the caller has never known) leaves wrapped
    /// only under a key that qualifies: a symmetric key that is itself protected and can
    /// neither encrypt nor decrypt, or a public key that is `CKA_TRUSTED` or named by the key's
    /// ACL. Such a key wraps only protected keys, and the usage attributes of protected keys
    /// never turn on again once off.
    WrapKek,
    /// `unwrap_kek`: what a qualifying wrapping key unwraps comes out protected (sensitive,
    /// non-extractable); a key unwrapped with a `CKA_ALWAYS_AUTHENTICATE` key too.
    UnwrapKek,
    /// `digest_key`: `C_DigestKey` refuses protected and non-extractable keys and keys whose
    /// ACL allows no export.
    DigestKey,
    /// `derive_kek`: a key derived from a protected key with an encrypt-data mechanism is the
    /// whole ciphertext or at least 16 bytes of it: a key cut to a byte or two can be found by
    /// brute force through a MAC or cipher oracle, which makes the base an encryption oracle a
    /// byte at a time, whatever its CKA_ENCRYPT says.
    DeriveKek,
    /// `derive_xor`: CKM_XOR_BASE_AND_DATA refuses a protected base. XOR with zeros makes a twin
    /// of the base with new usage attributes (a twin of a KEK that can decrypt its blobs), a cut
    /// result can be brute-forced a byte at a time, and related keys invite related-key attacks.
    DeriveXor,
    /// `derive_concatenate`: CKM_CONCATENATE_BASE_AND_KEY refuses a protected key on either
    /// side: cut to the base's length it is a twin of the base, and a secret joined to a key the
    /// caller knows is only as strong as the secret's unknown part.
    DeriveConcatenate,
    /// `derive_extract`: CKM_EXTRACT_KEY_FROM_KEY refuses a protected base: from bit 0 at the
    /// base's length it is a twin of the base with new usage attributes, and keys of a few
    /// chosen bits are brute-forced one after the other. (Relaxed, it still keeps the 16-byte
    /// floor of `derive_kek`.)
    DeriveExtract,
    /// `weak_rsa` (or `weak_all`): RSA keys below 2048 bits may be generated.
    WeakRsa,
    /// `weak_des` (or `weak_all`): single DES and two-key triple DES (CKK_DES, CKK_DES2): their
    /// key generation and cipher mechanisms are listed and work, and such keys may be created.
    WeakDes,
    /// `weak_all`: the broken or retired digests MD5 and RIPEMD-160 (CKM_MD5, CKM_MD5_HMAC,
    /// CKM_MD5_RSA_PKCS, CKM_RIPEMD160, CKM_RIPEMD160_HMAC, their _GENERAL forms). nShield names
    /// no narrower token for them, so only `weak_all` (or `all`) turns them on.
    WeakHash,
    /// `wrap_weak`: a key may leave wrapped under a key weaker than itself (a 56-bit DES or
    /// 80-bit two-key triple-DES key wrapping anything stronger: a classic extraction route).
    WrapWeak,
    /// `weak_dsa` (or `weak_all`): DSA keys and parameters with a 1024-bit prime may be generated.
    WeakDsa,
    /// `weak_dh` (or `weak_all`): Diffie-Hellman keys on primes below 2048 bits may be generated.
    WeakDh,
    /// `dh_group` (or `weak_all`): a Diffie-Hellman key may be generated on a caller's prime that
    /// is neither a recognised group (RFC 3526, 7919, 5114), nor a safe prime, nor given with a
    /// checked prime-order subgroup (CKA_SUBPRIME). On such a p a smooth p - 1 lets Pohlig-Hellman
    /// recover x from y, so the private key is born known: CKA_ALWAYS_SENSITIVE and
    /// CKA_NEVER_EXTRACTABLE false, never protected.
    DhGroup,
    /// `import`: `generatekey --import` turns a key from a file (a value known outside the
    /// module) into a module-, softcard- or card-set-protected nShield key. Through PKCS#11 a
    /// key the caller creates is only ever a known key (never a KEK), so C_CreateObject is not
    /// refused.
    Import,
}

impl Assurance {
    pub const ALL: [Assurance; 15] = [
        Assurance::WrapKek,
        Assurance::UnwrapKek,
        Assurance::DigestKey,
        Assurance::DeriveKek,
        Assurance::DeriveXor,
        Assurance::DeriveConcatenate,
        Assurance::DeriveExtract,
        Assurance::WeakRsa,
        Assurance::WeakDes,
        Assurance::WeakHash,
        Assurance::WrapWeak,
        Assurance::WeakDsa,
        Assurance::WeakDh,
        Assurance::DhGroup,
        Assurance::Import,
    ];

    /// What `weak_all` relaxes: every weak-algorithm class (not the wrapping rule).
    const WEAK_ALGORITHMS: [Assurance; 6] = [
        Assurance::WeakRsa,
        Assurance::WeakDes,
        Assurance::WeakHash,
        Assurance::WeakDsa,
        Assurance::WeakDh,
        Assurance::DhGroup,
    ];

    pub fn token(self) -> &'static str {
        match self {
            Assurance::WrapKek => "wrap_kek",
            Assurance::UnwrapKek => "unwrap_kek",
            Assurance::DigestKey => "digest_key",
            Assurance::DeriveKek => "derive_kek",
            Assurance::DeriveXor => "derive_xor",
            Assurance::DeriveConcatenate => "derive_concatenate",
            Assurance::DeriveExtract => "derive_extract",
            Assurance::WeakRsa => "weak_rsa",
            Assurance::WeakDes => "weak_des",
            Assurance::WeakHash => "weak_all",
            Assurance::WrapWeak => "wrap_weak",
            Assurance::WeakDsa => "weak_dsa",
            Assurance::WeakDh => "weak_dh",
            Assurance::DhGroup => "dh_group",
            Assurance::Import => "import",
        }
    }
}

/// Documented nShield tokens that name no class this emulation enforces: accepted, reported once
/// in the debug log. (`import`: importing a key the caller knows is allowed, as it gains nothing
/// from protection.)
const ACCEPTED_WITHOUT_EFFECT: &[&str] = &["explicitness", "unwrap_mech", "tokenkeys", "longterm", "short"];

/// The parsed override list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    relaxed: Vec<Assurance>,
    /// `silent`: refusals are not logged.
    pub silent: bool,
    /// Tokens accepted without an emulated effect, and tokens not recognised, for the debug log.
    pub without_effect: Vec<String>,
    pub unknown: Vec<String>,
}

impl Overrides {
    /// Parses `CKNFAST_OVERRIDE_SECURITY_ASSURANCES`: `tok;tok;…`, `all`, `none`. A token may carry
    /// a value (`longterm=30`); the name decides.
    pub fn parse(value: &str) -> Overrides {
        let mut o = Overrides::default();
        for raw in value.split(';') {
            let tok = raw.trim();
            let name = tok.split('=').next().unwrap_or("").trim().to_ascii_lowercase();
            match name.as_str() {
                "" => {}
                "none" => o.relaxed.clear(),
                "all" => o.relaxed = Assurance::ALL.to_vec(),
                "silent" => o.silent = true,
                "weak_all" => Assurance::WEAK_ALGORITHMS.iter().for_each(|a| o.relax(*a)),
                n => match Assurance::ALL.iter().find(|a| a.token() == n) {
                    Some(a) => o.relax(*a),
                    None if ACCEPTED_WITHOUT_EFFECT.contains(&n) => o.without_effect.push(tok.to_string()),
                    None => o.unknown.push(tok.to_string()),
                },
            }
        }
        o
    }

    fn relax(&mut self, a: Assurance) {
        if !self.relaxed.contains(&a) {
            self.relaxed.push(a);
        }
    }

    pub fn relaxes(&self, a: Assurance) -> bool {
        self.relaxed.contains(&a)
    }
}

static CURRENT: RwLock<Option<Overrides>> = RwLock::new(None);

/// Makes `o` the process's override list (the library at `C_Initialize`, the CLI at start).
pub fn install(o: Overrides) {
    *CURRENT.write() = Some(o);
}

/// Whether assurance `a` is relaxed for this process. Before anything was installed, nothing is.
pub fn relaxed(a: Assurance) -> bool {
    CURRENT.read().as_ref().is_some_and(|o| o.relaxes(a))
}

/// Whether refusals are logged.
pub fn silent() -> bool {
    CURRENT.read().as_ref().is_some_and(|o| o.silent)
}

/// The one explanatory line a refusal writes to the debug log.
pub fn refusal_line(a: Assurance, what: &str) -> String {
    format!(
        "security assurance {}: {what}; set CKNFAST_OVERRIDE_SECURITY_ASSURANCES={} to allow it",
        a.token(),
        a.token()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_all_none_and_unknown() {
        let o = Overrides::parse("wrap_kek; weak_all ;longterm=30;bogus");
        assert!(o.relaxes(Assurance::WrapKek) && o.relaxes(Assurance::WeakRsa));
        assert!(o.relaxes(Assurance::WeakDes) && o.relaxes(Assurance::WeakHash));
        assert!(o.relaxes(Assurance::WeakDsa) && o.relaxes(Assurance::WeakDh), "weak_all covers DSA and DH");
        let g = Overrides::parse("dh_group");
        assert!(g.relaxes(Assurance::DhGroup) && !g.relaxes(Assurance::WeakDh) && o.relaxes(Assurance::DhGroup));
        let dsa = Overrides::parse("weak_dsa");
        assert!(dsa.relaxes(Assurance::WeakDsa) && !dsa.relaxes(Assurance::WeakDh) && !dsa.relaxes(Assurance::WeakRsa));
        assert!(!o.relaxes(Assurance::UnwrapKek) && !o.relaxes(Assurance::DigestKey));
        assert!(!o.relaxes(Assurance::WrapWeak), "weak_all is about algorithms, not wrapping");
        assert_eq!(o.without_effect, vec!["longterm=30".to_string()]);
        assert_eq!(o.unknown, vec!["bogus".to_string()]);
        let all = Overrides::parse("all");
        assert!(Assurance::ALL.iter().all(|a| all.relaxes(*a)));
        assert!(!Overrides::parse("all;none").relaxes(Assurance::WrapKek));
        assert!(Overrides::parse("DIGEST_KEY;silent").relaxes(Assurance::DigestKey));
        assert!(Overrides::parse("silent").silent);
        let d = Overrides::parse("derive_xor;derive_concatenate");
        assert!(d.relaxes(Assurance::DeriveXor) && d.relaxes(Assurance::DeriveConcatenate));
        assert!(
            !d.relaxes(Assurance::DeriveExtract)
                && Overrides::parse("derive_extract").relaxes(Assurance::DeriveExtract)
        );
        assert!(!d.relaxes(Assurance::DeriveKek) && Overrides::parse("derive_kek").relaxes(Assurance::DeriveKek));
        assert_eq!(Overrides::parse(""), Overrides::default());
        // weak_des turns on DES alone; MD5 and RIPEMD-160 need weak_all.
        let des = Overrides::parse("weak_des");
        assert!(
            des.relaxes(Assurance::WeakDes) && !des.relaxes(Assurance::WeakHash) && !des.relaxes(Assurance::WeakRsa)
        );
        assert!(des.without_effect.is_empty());
    }

    #[test]
    fn the_refusal_names_the_override() {
        let l = refusal_line(Assurance::DigestKey, "C_DigestKey of a protected key");
        assert!(l.contains("digest_key") && l.contains("CKNFAST_OVERRIDE_SECURITY_ASSURANCES=digest_key"));
    }
}
