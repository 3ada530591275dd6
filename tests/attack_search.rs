//! An attack search through the built `.so`: random sequences of key-management calls over a few
//! AES keys, one of them protected (generated sensitive), while the search keeps the caller's
//! knowledge as an attacker would: every value it chose or read, every blob and ciphertext it
//! received, and everything it can decrypt or unwrap offline with the keys it knows. After each
//! step the protected value must not be in that knowledge, and no digest of it may have been
//! handed out.
//!
//! The search knows the protected value itself through a legitimate channel the attacker does
//! not have: it is wrapped once to a `CKA_TRUSTED` RSA key (set by the SO) whose private half only
//! the harness holds.
//!
//! Each sequence starts as an application's store does: the protected key, a KEK born in the
//! token that may also derive, and the protected key's blobs under that KEK in the caller's hands.
//! The calls include the simple derivations (XOR with data, concatenation, AES encrypt-data),
//! after which the attacker reads what it can and tries the new key on every blob it holds.
//! Templates may say `CKA_PRIVATE` either way: a key copied, derived or unwrapped from a private
//! key must come out private (protection never weakens), or the search reports it.
//!
//! Budget: `SHIELDHSM_ATTACK_SEQUENCES` (default 1000) sequences of `SHIELDHSM_ATTACK_DEPTH`
//! (default 16) steps from seed `SHIELDHSM_ATTACK_SEED` (default fixed, so CI is reproducible).
//! A second test runs the same search with one assurance class overridden at a time and must
//! find a leak each time: the search has teeth.

mod common;
use common::derive::Derivation;
use common::search::{env_num, Rng};
use common::*;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys::{CKM_AES_CBC_ENCRYPT_DATA, CKM_AES_ECB_ENCRYPT_DATA};
use rsa::traits::PublicKeyParts;
use sha2::Digest;

/// The three wrapping mechanisms the search uses; the attacker can run each offline.
#[derive(Clone, Copy, Debug)]
enum Mech {
    Ecb,
    CbcPad,
    Kwp,
}
const MECHS: [Mech; 3] = [Mech::Ecb, Mech::CbcPad, Mech::Kwp];

impl Mech {
    fn p11(self) -> Mechanism<'static> {
        match self {
            Mech::Ecb => Mechanism::AesEcb,
            Mech::CbcPad => Mechanism::AesCbcPad([0; 16]),
            Mech::Kwp => Mechanism::AesKeyWrapPad,
        }
    }
    /// What the attacker decrypts offline with a 32-byte key it knows.
    fn open(self, key: &[u8], blob: &[u8]) -> Option<Vec<u8>> {
        use aws_lc_rs::cipher::{
            DecryptingKey, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey, AES_256,
        };
        use aws_lc_rs::key_wrap::{KeyEncryptionKey, KeyWrapPadded, AES_256 as KW_AES_256};
        let unbound = || UnboundCipherKey::new(&AES_256, key).ok();
        match self {
            Mech::Ecb => {
                if blob.is_empty() || blob.len() % 16 != 0 {
                    return None;
                }
                let k = DecryptingKey::ecb(unbound()?).ok()?;
                let mut buf = blob.to_vec();
                Some(k.decrypt(&mut buf, DecryptionContext::None).ok()?.to_vec())
            }
            Mech::CbcPad => {
                let k = PaddedBlockDecryptingKey::cbc_pkcs7(unbound()?).ok()?;
                let mut buf = blob.to_vec();
                let iv = aws_lc_rs::iv::FixedLength::from([0u8; 16]);
                Some(k.decrypt(&mut buf, DecryptionContext::Iv128(iv)).ok()?.to_vec())
            }
            Mech::Kwp => {
                let k = KeyEncryptionKey::new(&KW_AES_256, key).ok()?;
                let mut out = vec![0u8; blob.len()];
                Some(k.unwrap_with_padding(blob, &mut out).ok()?.to_vec())
            }
        }
    }
    /// A blob the attacker makes offline (for C_UnwrapKey).
    fn seal(self, key: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
        use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey, AES_256};
        use aws_lc_rs::key_wrap::{KeyEncryptionKey, KeyWrapPadded, AES_256 as KW_AES_256};
        match self {
            Mech::Ecb | Mech::CbcPad => {
                let k = EncryptingKey::ecb(UnboundCipherKey::new(&AES_256, key).ok()?).ok()?;
                let mut buf = plain.to_vec();
                k.encrypt(&mut buf).ok()?;
                Some(buf)
            }
            Mech::Kwp => {
                let k = KeyEncryptionKey::new(&KW_AES_256, key).ok()?;
                let mut out = vec![0u8; plain.len() + 16];
                Some(k.wrap_with_padding(plain, &mut out).ok()?.to_vec())
            }
        }
    }
}

struct Search<'a> {
    s: &'a Session,
    rng: Rng,
    handles: Vec<ObjectHandle>,
    knowledge: Vec<Vec<u8>>,
    blobs: Vec<Vec<u8>>,
    digests: Vec<Vec<u8>>,
    secret: Vec<u8>,
    trace: Vec<String>,
    tried: std::collections::HashSet<(Vec<u8>, Vec<u8>)>,
    saw_secret: bool,
    /// A key that came of a private key (copy, derivation, unwrap) reads CKA_PRIVATE=FALSE: its
    /// protection weakened (issue #20: public objects are public, protection never weakens).
    weakened: Option<String>,
}

/// How many values the search keeps for offline work (decrypting under wrong keys fills it with
/// garbage the attacker cannot tell from keys).
const KNOWLEDGE_CAP: usize = 200;

fn aes_template(extra: Vec<Attribute>) -> Vec<Attribute> {
    let mut t =
        vec![Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES), Attribute::Token(false)];
    t.extend(extra);
    t
}

impl Search<'_> {
    fn random_attrs(&mut self) -> Vec<Attribute> {
        let makers: [fn(bool) -> Attribute; 8] = [
            Attribute::Private,
            Attribute::Sensitive,
            Attribute::Extractable,
            Attribute::Encrypt,
            Attribute::Decrypt,
            Attribute::Wrap,
            Attribute::Unwrap,
            Attribute::Derive,
        ];
        let mut out = vec![];
        for m in makers {
            if self.rng.coin() {
                out.push(m(self.rng.coin()));
            }
        }
        out
    }

    fn pick(&mut self) -> ObjectHandle {
        // The protected key (handle 0 of the list) is picked often: attacks centre on it.
        if self.rng.below(3) == 0 {
            self.handles[0]
        } else {
            self.handles[self.rng.below(self.handles.len())]
        }
    }

    /// Adds to the caller's knowledge. What it learns is checked against the protected value
    /// even past the cap on what is kept for further offline work.
    fn learn(&mut self, v: Vec<u8>) {
        if v == self.secret {
            self.saw_secret = true;
        }
        if self.knowledge.len() < KNOWLEDGE_CAP && !self.knowledge.contains(&v) {
            self.knowledge.push(v);
        }
    }

    fn private(&self, h: ObjectHandle) -> bool {
        matches!(self.s.get_attributes(h, &[AttributeType::Private]).ok().as_deref(), Some([Attribute::Private(true)]))
    }

    /// Records a key made from `sources` that came out public while one of them was private.
    fn check_private(&mut self, sources: &[ObjectHandle], made: ObjectHandle) {
        if sources.iter().any(|s| self.private(*s)) && !self.private(made) && self.weakened.is_none() {
            self.weakened = Some(format!("{made:?}, made of private {sources:?}, is public"));
        }
    }

    /// Whatever the caller can read of a new or changed key.
    fn read_value(&mut self, h: ObjectHandle) {
        if let Ok(attrs) = self.s.get_attributes(h, &[AttributeType::Value]) {
            for a in attrs {
                if let Attribute::Value(v) = a {
                    self.learn(v);
                }
            }
        }
    }

    /// Data for a derivation: zeros (the identity of XOR), a value the caller knows, or random.
    fn derive_data(&mut self) -> Vec<u8> {
        let known: Vec<&Vec<u8>> = self.knowledge.iter().filter(|k| k.len() == 32).collect();
        match self.rng.below(3) {
            0 => vec![0; 32],
            1 if !known.is_empty() => known[self.rng.below(known.len())].clone(),
            _ => self.rng.bytes(32),
        }
    }

    /// C_DeriveKey of an AES-256 key; then the attacker reads what it can of it (and of its base,
    /// through XOR) and tries it on every blob it holds.
    fn derive(&mut self) {
        let b = self.pick();
        let data = self.derive_data();
        let (d, what) = match self.rng.below(4) {
            0 => (Derivation::xor(&data), "xor"),
            1 => (Derivation::concatenate(self.pick()), "concatenate"),
            2 => (Derivation::data(CKM_AES_ECB_ENCRYPT_DATA, &data), "aes-ecb-encrypt-data"),
            _ => (Derivation::cbc(CKM_AES_CBC_ENCRYPT_DATA, &[0; 16], &data), "aes-cbc-encrypt-data"),
        };
        let mut attrs = self.random_attrs();
        if self.rng.coin() {
            attrs.retain(|a| !matches!(a, Attribute::Decrypt(_)));
            attrs.push(Attribute::Decrypt(true));
        }
        attrs.push(Attribute::ValueLen(32.into()));
        let t = aes_template(attrs);
        self.trace.push(format!("derive {what} from {b:?} {t:?}"));
        let Ok(h) = self.s.derive_key(&d.mechanism(), b, &t) else { return };
        self.check_private(&[b], h);
        self.handles.push(h);
        if let Ok(attrs) = self.s.get_attributes(h, &[AttributeType::Value]) {
            for a in attrs {
                if let Attribute::Value(v) = a {
                    if what == "xor" {
                        self.learn(v.iter().zip(&data).map(|(a, b)| a ^ b).collect());
                    }
                    self.learn(v);
                }
            }
        }
        for blob in self.blobs.clone() {
            for m in [Mech::Ecb, Mech::CbcPad] {
                if let Ok(p) = self.s.decrypt(&m.p11(), h, &blob) {
                    self.learn(p);
                }
            }
        }
    }

    fn step(&mut self) {
        let what = self.rng.below(11);
        let mech = MECHS[self.rng.below(3)];
        match what {
            0 => {
                let mut t = vec![Attribute::ValueLen(32.into()), Attribute::Token(false)];
                t.extend(self.random_attrs());
                self.trace.push(format!("generate {t:?}"));
                if let Ok(h) = self.s.generate_key(&Mechanism::AesKeyGen, &t) {
                    self.handles.push(h);
                    self.read_value(h);
                }
            }
            1 => {
                let v = self.rng.bytes(32);
                let mut extra = vec![Attribute::Value(v.clone())];
                extra.extend(self.random_attrs());
                self.trace.push("create (chosen value)".into());
                if let Ok(h) = self.s.create_object(&aes_template(extra)) {
                    self.handles.push(h);
                }
                self.learn(v);
            }
            2 => {
                let h = self.pick();
                let t = self.random_attrs();
                self.trace.push(format!("copy {h:?} {t:?}"));
                if let Ok(c) = self.s.copy_object(h, &t) {
                    self.check_private(&[h], c);
                    self.handles.push(c);
                    self.read_value(c);
                }
            }
            3 => {
                let h = self.pick();
                let t = self.random_attrs();
                self.trace.push(format!("set {h:?} {t:?}"));
                let was_private = self.private(h);
                let _ = self.s.update_attributes(h, &t);
                if was_private && !self.private(h) && self.weakened.is_none() {
                    self.weakened = Some(format!("{h:?} was set public"));
                }
                self.read_value(h);
            }
            4 => {
                let (w, t) = (self.pick(), self.pick());
                self.trace.push(format!("wrap {t:?} under {w:?} {mech:?}"));
                if let Ok(b) = self.s.wrap_key(&mech.p11(), w, t) {
                    self.blobs.push(b);
                }
            }
            5 => {
                let u = self.pick();
                // A blob the token made, or one the attacker made offline under a key it knows.
                let blob = if !self.blobs.is_empty() && self.rng.coin() {
                    self.blobs[self.rng.below(self.blobs.len())].clone()
                } else if !self.knowledge.is_empty() {
                    let k = self.knowledge[self.rng.below(self.knowledge.len())].clone();
                    let p = self.rng.bytes(32);
                    self.learn(p.clone());
                    mech.seal(&k, &p).unwrap_or_default()
                } else {
                    return;
                };
                let t = aes_template(self.random_attrs());
                self.trace.push(format!("unwrap under {u:?} {mech:?} {t:?}"));
                if let Ok(h) = self.s.unwrap_key(&mech.p11(), u, &blob, &t) {
                    self.check_private(&[u], h);
                    self.handles.push(h);
                    self.read_value(h);
                }
            }
            6 => {
                let h = self.pick();
                let data = if !self.knowledge.is_empty() && self.rng.coin() {
                    self.knowledge[self.rng.below(self.knowledge.len())].clone()
                } else {
                    self.rng.bytes(32)
                };
                self.trace.push(format!("encrypt under {h:?} {mech:?}"));
                if let Ok(c) = self.s.encrypt(&mech.p11(), h, &data) {
                    self.blobs.push(c);
                }
            }
            7 => {
                if self.blobs.is_empty() {
                    return;
                }
                let h = self.pick();
                let b = self.blobs[self.rng.below(self.blobs.len())].clone();
                self.trace.push(format!("decrypt under {h:?} {mech:?}"));
                if let Ok(p) = self.s.decrypt(&mech.p11(), h, &b) {
                    self.learn(p);
                }
            }
            10 => self.derive(),
            8 => {
                let h = self.pick();
                self.trace.push(format!("digest-key {h:?}"));
                if self.s.digest_init(&Mechanism::Sha256).is_ok() && self.s.digest_key(h).is_ok() {
                    if let Ok(d) = self.s.digest_final() {
                        self.digests.push(d);
                    }
                } else {
                    let _ = self.s.digest_final();
                }
            }
            _ => {
                let h = self.pick();
                self.trace.push(format!("read {h:?}"));
                self.read_value(h);
            }
        }
    }

    /// Offline closure: decrypt every blob with every known 32-byte key, until nothing new. Each
    /// (key, blob) pair is tried once; knowledge is capped (it fills with the garbage that
    /// decrypting under a wrong key yields, which the attacker cannot tell from a key either).
    fn close(&mut self) {
        loop {
            let before = self.knowledge.len();
            let keys: Vec<Vec<u8>> = self.knowledge.iter().filter(|k| k.len() == 32).cloned().collect();
            for k in &keys {
                for b in self.blobs.clone() {
                    if !self.tried.insert((k.clone(), b.clone())) {
                        continue;
                    }
                    for m in MECHS {
                        if let Some(p) = m.open(k, &b) {
                            self.learn(p);
                        }
                    }
                }
            }
            if self.knowledge.len() == before {
                return;
            }
        }
    }

    fn leaked(&self) -> Option<&'static str> {
        if self.weakened.is_some() {
            return Some("a key made of a private key is public");
        }
        if self.saw_secret {
            return Some("the protected value is in the caller's knowledge");
        }
        let d = sha2::Sha256::digest(&self.secret).to_vec();
        if self.digests.contains(&d) {
            return Some("the caller received a digest of the protected value");
        }
        None
    }
}

/// Runs the search; returns the first leak found (trace) and the number of sequences run.
fn search(m: &Module, sequences: u64, depth: u64, seed: u64) -> (Option<String>, u64) {
    let slot = m.init_token("search");
    // The SO's trusted RSA key: the harness's own channel to the protected value.
    let oracle = {
        use aws_lc_rs::encoding::AsDer;
        use rsa::pkcs8::DecodePrivateKey;
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).unwrap();
        rsa::RsaPrivateKey::from_pkcs8_der(der.as_ref()).unwrap()
    };
    let so = m.p11.open_rw_session(slot).unwrap();
    so.login(UserType::So, Some(&AuthPin::new(SO_PIN.into()))).unwrap();
    let trusted_t = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(oracle.n().to_bytes_be()),
        Attribute::PublicExponent(oracle.e().to_bytes_be()),
        Attribute::Wrap(true),
        Attribute::Trusted(true),
        Attribute::Token(true),
        Attribute::Label(b"harness".to_vec()),
    ];
    so.create_object(&trusted_t).unwrap();
    so.logout().unwrap();
    drop(so);
    let oaep = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ));
    let mut rng = Rng(seed | 1);
    // One login for the whole search (PIN checks are deliberately slow); each sequence has a
    // session of its own, whose objects go with it.
    let _keeper = m.user_session(slot);
    for n in 0..sequences {
        let s = m.p11.open_rw_session(slot).unwrap();
        let trusted = s.find_objects(&[Attribute::Label(b"harness".to_vec())]).unwrap()[0];
        let secret_h = s
            .generate_key(
                &Mechanism::AesKeyGen,
                &[Attribute::ValueLen(32.into()), Attribute::Derive(true), Attribute::Token(false)],
            )
            .unwrap();
        let blob = s.wrap_key(&oaep, trusted, secret_h).unwrap();
        // The application's KEK (wrap-only, may derive) and the protected key stored under it.
        let kek_t = [
            Attribute::ValueLen(32.into()),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Decrypt(false),
            Attribute::Encrypt(false),
            Attribute::Derive(true),
            Attribute::Token(false),
        ];
        let kek = s.generate_key(&Mechanism::AesKeyGen, &kek_t).unwrap();
        let stored: Vec<Vec<u8>> =
            [Mech::Ecb, Mech::CbcPad, Mech::Kwp].iter().map(|m| s.wrap_key(&m.p11(), kek, secret_h).unwrap()).collect();
        let secret = oracle.decrypt(rsa::Oaep::new::<sha2::Sha256>(), &blob).unwrap();
        let mut st = Search {
            s: &s,
            rng: Rng(rng.next() | 1),
            handles: vec![secret_h, kek],
            knowledge: vec![],
            blobs: stored,
            digests: vec![],
            secret,
            trace: vec![],
            tried: Default::default(),
            saw_secret: false,
            weakened: None,
        };
        for _ in 0..depth {
            st.step();
            st.close();
            if let Some(why) = st.leaked() {
                return (Some(format!("{why} after:\n  {}", st.trace.join("\n  "))), n + 1);
            }
        }
        drop(s);
    }
    (None, sequences)
}

#[test]
fn no_sequence_of_calls_reveals_a_protected_key() {
    let sequences = env_num("SHIELDHSM_ATTACK_SEQUENCES", 1000);
    let depth = env_num("SHIELDHSM_ATTACK_DEPTH", 16);
    let seed = env_num("SHIELDHSM_ATTACK_SEED", 0x5EED);
    let m = Module::fresh();
    let (leak, n) = search(&m, sequences, depth, seed);
    assert!(leak.is_none(), "seed {seed}: {}", leak.unwrap());
    eprintln!("attack search: {n} sequences of depth {depth} from seed {seed}, no leak");
}

#[test]
fn with_an_assurance_overridden_the_search_finds_a_leak() {
    // Each class, relaxed alone, opens a way out that the search finds: it has teeth.
    for (token, sequences) in [("wrap_kek", 150), ("digest_key", 150), ("derive_xor", 400), ("derive_concatenate", 400)]
    {
        let m = Module::fresh_with_env(&[("CKNFAST_OVERRIDE_SECURITY_ASSURANCES", token)]);
        let (leak, n) = search(&m, sequences, 12, 0x5EED);
        assert!(leak.is_some(), "{token}: the search found nothing in {n} sequences");
        eprintln!("with {token} overridden, a leak after {n} sequences: {}", leak.unwrap());
    }
}
