//! Fuzzing entry points: one function per target of `fuzz/` (libFuzzer, `cargo +nightly fuzz`),
//! also replayed over the committed corpora by `tests/fuzz_replay.rs` on the stable toolchain.
//! Each takes arbitrary bytes and must return without panicking, hanging or allocating beyond
//! what the input bounds; results are ignored (only the absence of a crash is the property),
//! except where a round trip can be checked.

use crate::abi::marshal;
use crate::object::attr::AttrMap;
use cryptoki_sys::*;

/// A fuzz target: bytes in, no crash out.
pub type Target = fn(&[u8]);

/// Every target by name, for the replay test.
pub const TARGETS: [(&str, Target); 10] = [
    ("attr_decode", attr_decode),
    ("object_file", object_file),
    ("abi_template", abi_template),
    ("abi_mechanism", abi_mechanism),
    ("pkcs8_spki", pkcs8_spki),
    ("ec_params_point", ec_params_point),
    ("kek_parse", kek_parse),
    ("byok_document", byok_document),
    ("kmdata_json", kmdata_json),
    ("dsa_dh_key", dsa_dh_key),
];

/// The stored attribute encoding: decode, and re-encode what decoded (round trip).
pub fn attr_decode(data: &[u8]) {
    if let Ok(m) = AttrMap::decode(data) {
        let again = AttrMap::decode(&m.encode()).expect("an encoding we wrote decodes");
        assert_eq!(again, m);
    }
}

/// Object files: header, sealed body and public view, with a fixed key.
pub fn object_file(data: &[u8]) {
    use crate::object::stored;
    let key = [0x5Au8; 32];
    let _ = stored::peek_file(data);
    let _ = stored::open_file("key_pkcs11_uafuzz", data, &key);
    let _ = stored::open_view("key_pkcs11_uafuzz", data, &key);
}

/// A little cursor over the fuzz input.
struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map(|(b, r)| (*b, r)).unwrap_or((0, &[]));
        self.0 = rest;
        b
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

const TYPES: [CK_ATTRIBUTE_TYPE; 12] = [
    CKA_CLASS,
    CKA_TOKEN,
    CKA_LABEL,
    CKA_VALUE,
    CKA_KEY_TYPE,
    CKA_ALLOWED_MECHANISMS,
    CKA_WRAP_TEMPLATE,
    CKA_UNWRAP_TEMPLATE,
    CKA_START_DATE,
    CKA_MODULUS_BITS,
    CKA_EC_POINT,
    0x8000_0000,
];

/// Template marshalling through the ABI layer: attribute arrays built from the input, with
/// nested templates that may point at themselves or at each other, and lengths that match the
/// buffers (the caller's side of the contract). Whatever parses goes through the policy.
pub fn abi_template(data: &[u8]) {
    let mut b = Bytes(data);
    let n = (b.byte() % 8) as usize;
    let values: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let len = (b.byte() % 24) as usize;
            b.take(len)
        })
        .collect();
    let mut attrs: Vec<CK_ATTRIBUTE> = (0..n)
        .map(|i| CK_ATTRIBUTE {
            type_: TYPES[b.byte() as usize % TYPES.len()],
            pValue: values[i].as_ptr() as *mut std::ffi::c_void,
            ulValueLen: values[i].len() as CK_ULONG,
        })
        .collect();
    // Nested templates point into the array itself (cycles included).
    let base = attrs.as_mut_ptr();
    for a in attrs.iter_mut() {
        if matches!(a.type_, CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE) {
            let at = b.byte() as usize % n;
            let count = (b.byte() as usize % (n - at + 1)).min(n - at);
            // SAFETY: `at + count <= n`, inside the live array.
            a.pValue = unsafe { base.add(at) } as *mut std::ffi::c_void;
            a.ulValueLen = (count * std::mem::size_of::<CK_ATTRIBUTE>()) as CK_ULONG;
        }
    }
    // SAFETY: every pointer above addresses a live buffer of the stated length.
    if let Ok(t) = unsafe { marshal::template(attrs.as_ptr(), n as CK_ULONG) } {
        use crate::object::policy::{apply, Origin};
        for o in [Origin::Create, Origin::Generate, Origin::Unwrap, Origin::Derive] {
            let _ = apply(&t, &AttrMap::new(), o);
        }
        let _ = AttrMap::decode(&t.encode());
    }
}

/// Mechanism parameters through the ABI layer: for each parameter shape, a struct built from the
/// input whose pointers address a buffer of the input and whose lengths stay within it (the
/// caller's side of the contract), plus parameter lengths that match no struct. What parses is
/// handed to the mechanism, which validates it against a fixed key.
pub fn abi_mechanism(data: &[u8]) {
    use std::ffi::c_void;
    let mut b = Bytes(data);
    let pick = b.byte();
    let word = |b: &mut Bytes| -> CK_ULONG {
        let v = b.take(8);
        let mut w = [0u8; 8];
        w[..v.len()].copy_from_slice(&v);
        u64::from_le_bytes(w) as CK_ULONG
    };
    let small = |b: &mut Bytes| -> CK_ULONG { b.byte() as CK_ULONG };
    let buf_len = (b.byte() as usize) % 64;
    let buf = b.take(buf_len);
    let within = |b: &mut Bytes| -> CK_ULONG { (b.byte() as usize % (buf.len() + 1)) as CK_ULONG };
    let p = buf.as_ptr() as *mut u8;
    let hashes = [CKM_SHA_1, CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_MD5, 0];
    let mut oaep = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: hashes[b.byte() as usize % hashes.len()],
        mgf: small(&mut b),
        source: small(&mut b) % 3,
        pSourceData: p as *mut c_void,
        ulSourceDataLen: within(&mut b),
    };
    let mut gcm = CK_GCM_PARAMS {
        pIv: p,
        ulIvLen: within(&mut b),
        ulIvBits: word(&mut b),
        pAAD: p,
        ulAADLen: within(&mut b),
        ulTagBits: small(&mut b),
    };
    let mut ctr = CK_AES_CTR_PARAMS { ulCounterBits: small(&mut b), cb: [0; 16] };
    ctr.cb.copy_from_slice(&{
        let mut cb = b.take(16);
        cb.resize(16, 0);
        cb
    });
    let mut pss = CK_RSA_PKCS_PSS_PARAMS {
        hashAlg: hashes[b.byte() as usize % hashes.len()],
        mgf: small(&mut b),
        sLen: word(&mut b),
    };
    let mut ecdh = CK_ECDH1_DERIVE_PARAMS {
        kdf: small(&mut b),
        ulSharedDataLen: within(&mut b),
        pSharedData: p,
        ulPublicDataLen: within(&mut b),
        pPublicData: p,
    };
    let mut rsa_aes = CK_RSA_AES_KEY_WRAP_PARAMS { ulAESKeyBits: word(&mut b), pOAEPParams: &mut oaep };
    // The EdDSA context has its own buffer, longer than the 255 bytes the ABI layer accepts, so
    // over-long contexts that address live memory are tried too.
    let ctx_buf = [0x63u8; 300];
    let mut eddsa = CK_EDDSA_PARAMS {
        phFlag: b.byte() % 3,
        ulContextDataLen: (((b.byte() as usize) << 8 | b.byte() as usize) % (ctx_buf.len() + 1)) as CK_ULONG,
        pContextData: ctx_buf.as_ptr() as *mut u8,
    };
    let mut raw = b.take(40);
    fn param<T>(t: &mut T) -> (*mut c_void, CK_ULONG) {
        (t as *mut T as *mut c_void, std::mem::size_of::<T>() as CK_ULONG)
    }
    let (ty, (ptr, len)) = match pick % 11 {
        0 => (CKM_AES_GCM, param(&mut gcm)),
        1 => (CKM_RSA_PKCS_OAEP, param(&mut oaep)),
        2 => (CKM_AES_CTR, param(&mut ctr)),
        3 => (CKM_SHA256_RSA_PKCS_PSS, param(&mut pss)),
        4 => (CKM_ECDH1_DERIVE, param(&mut ecdh)),
        5 => (CKM_RSA_AES_KEY_WRAP, param(&mut rsa_aes)),
        6 => (CKM_AES_CBC_PAD, (raw.as_mut_ptr() as *mut c_void, raw.len() as CK_ULONG)),
        7 => (CKM_SHA256_HMAC_GENERAL, (raw.as_mut_ptr() as *mut c_void, raw.len() as CK_ULONG)),
        8 => (CKM_AES_KEY_WRAP_KWP, (raw.as_mut_ptr() as *mut c_void, raw.len() as CK_ULONG)),
        9 => (CKM_EDDSA, param(&mut eddsa)),
        _ => (word(&mut b) % 0x2000, (raw.as_mut_ptr() as *mut c_void, raw.len() as CK_ULONG)),
    };
    // Raw bytes are no valid parameter for a mechanism whose parameter struct holds pointers:
    // handing them over would break the caller's side of the contract, not test ours.
    use crate::mech::{registry, ParamKind};
    let raw_bytes = matches!(pick % 11, 6..=8 | 10);
    let holds_pointers = matches!(
        registry::param_kind(ty),
        Some(
            ParamKind::Gcm
                | ParamKind::Oaep
                | ParamKind::RsaAesKeyWrap
                | ParamKind::Ecdh
                | ParamKind::Eddsa
                | ParamKind::DeriveData
                | ParamKind::CbcEncryptData(_)
                | ParamKind::Kbkdf
                | ParamKind::KbkdfFeedback
        )
    );
    if raw_bytes && holds_pointers {
        return;
    }
    let m = CK_MECHANISM { mechanism: ty, pParameter: ptr, ulParameterLen: len };
    // SAFETY: every pointer above addresses a live buffer of at least the stated length.
    let Ok(mech) = (unsafe { marshal::mechanism(&m) }) else { return };
    let Some(entry) = crate::mech::lookup(mech.ty) else { return };
    let aes = fixed_key(CKO_SECRET_KEY, CKK_AES);
    let hmac = fixed_key(CKO_SECRET_KEY, CKK_GENERIC_SECRET);
    let _ = entry.imp.encrypt(&mech.params, &aes);
    let _ = entry.imp.decrypt(&mech.params, &aes);
    let _ = entry.imp.sign(&mech.params, &hmac);
    let _ = entry.imp.wrap(&mech.params, &aes, &[7u8; 32]);
    let _ = entry.imp.unwrap(&mech.params, &aes, &buf);
    if matches!(mech.ty, CKM_SHA256_RSA_PKCS_PSS | CKM_RSA_PKCS_OAEP | CKM_RSA_AES_KEY_WRAP) {
        let rsa = &fuzz_rsa().1;
        let _ = entry.imp.sign(&mech.params, rsa);
        let _ = entry.imp.decrypt(&mech.params, rsa);
        let _ = entry.imp.unwrap(&mech.params, rsa, &buf);
    }
    // EdDSA parameters against both Edwards curves (sign, then verify what was signed), and
    // ECDH public data against the Montgomery curves and P-256.
    if mech.ty == CKM_EDDSA {
        for key in fuzz_curve_keys().iter().take(2) {
            if let Ok(mut op) = entry.imp.sign(&mech.params, key) {
                let mut sig = vec![0u8; op.sig_len()];
                if op.update(&buf).is_ok() && op.sign_final(&mut sig).is_ok() {
                    let mut v = entry.imp.verify(&mech.params, key).expect("verify starts where sign did");
                    v.update(&buf).expect("update");
                    v.verify_final(&sig).expect("our own signature verifies");
                }
            }
        }
    }
    if mech.ty == CKM_ECDH1_DERIVE {
        for key in fuzz_curve_keys() {
            for len in [None, Some(16), Some(buf.len())] {
                let _ = entry.imp.derive(&mech.params, key, len);
            }
        }
    }
}

/// Fixed private keys for the targets: Ed25519, Ed448, X25519, X448, P-256 (made once).
fn fuzz_curve_keys() -> &'static [crate::mech::KeyMaterial] {
    use crate::object::attr::Attr;
    static KEYS: once_cell::sync::OnceCell<Vec<crate::mech::KeyMaterial>> = once_cell::sync::OnceCell::new();
    KEYS.get_or_init(|| {
        use crate::mech::{ec, eddsa, montgomery};
        [
            (CKK_EC_EDWARDS, eddsa::ED25519_PARAMS_OID, 32),
            (CKK_EC_EDWARDS, eddsa::ED448_PARAMS_OID, 57),
            (CKK_EC_MONTGOMERY, montgomery::X25519_PARAMS_OID, 32),
            (CKK_EC_MONTGOMERY, montgomery::X448_PARAMS_OID, 56),
            (CKK_EC, ec::P256.params, 32),
        ]
        .into_iter()
        .map(|(kt, params, n)| {
            let a: AttrMap = [
                (CKA_CLASS, Attr::Ulong(CKO_PRIVATE_KEY)),
                (CKA_KEY_TYPE, Attr::Ulong(kt)),
                (CKA_EC_PARAMS, Attr::bytes(params)),
                (CKA_VALUE, Attr::bytes(vec![0x42u8; n])),
            ]
            .into_iter()
            .collect();
            crate::mech::KeyMaterial::from_attrs(&a).expect("a fixed curve key")
        })
        .collect()
    })
}

fn fixed_key(class: CK_OBJECT_CLASS, kt: CK_KEY_TYPE) -> crate::mech::KeyMaterial {
    use crate::object::attr::Attr;
    let a: AttrMap =
        [(CKA_CLASS, Attr::Ulong(class)), (CKA_KEY_TYPE, Attr::Ulong(kt)), (CKA_VALUE, Attr::bytes(vec![0x42u8; 32]))]
            .into_iter()
            .collect();
    crate::mech::KeyMaterial::from_attrs(&a).expect("a fixed 32-byte key")
}

/// A fixed RSA-2048 key for the targets, made once per process: (PKCS#8, key material).
fn fuzz_rsa() -> &'static (Vec<u8>, crate::mech::KeyMaterial) {
    static KEY: once_cell::sync::OnceCell<(Vec<u8>, crate::mech::KeyMaterial)> = once_cell::sync::OnceCell::new();
    KEY.get_or_init(|| {
        use aws_lc_rs::encoding::AsDer;
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA keygen");
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).expect("PKCS#8").as_ref().to_vec();
        let attrs = crate::mech::pkcs8::pkcs8_to_attrs(&der).expect("our own PKCS#8");
        (der.clone(), crate::mech::KeyMaterial::from_attrs(&attrs).expect("an RSA key"))
    })
}

/// PKCS#8 and SubjectPublicKeyInfo parsing (every DER reader below them).
pub fn pkcs8_spki(data: &[u8]) {
    if let Ok(a) = crate::mech::pkcs8::pkcs8_to_attrs(data) {
        let _ = crate::mech::pkcs8::public_key_info(&a);
        let _ = crate::mech::KeyMaterial::from_attrs(&a);
    }
    if let Ok(a) = crate::mech::pkcs8::spki_to_attrs(data) {
        let _ = crate::mech::KeyMaterial::from_attrs(&a);
    }
}

/// EC parameters and points as attributes (raw and DER forms), and those of the Edwards and
/// Montgomery curves.
pub fn ec_params_point(data: &[u8]) {
    let split = data.first().copied().unwrap_or(0) as usize % (data.len().max(1));
    let (params, point) = data.split_at(split.min(data.len()));
    let _ = crate::mech::ec::curve_from_params(params);
    for field in [32, 48, 66] {
        let _ = crate::mech::ec::point_from_attr(point, field);
    }
    let _ = crate::mech::eddsa::check_params(params);
    let _ = crate::mech::montgomery::check_params(params);
    for len in [32, 56, 57] {
        let _ = crate::mech::eddsa::point_from_attr(point, len);
    }
    let mut a = AttrMap::new();
    use crate::object::attr::Attr;
    a.set(CKA_CLASS, Attr::Ulong(CKO_PUBLIC_KEY));
    a.set(CKA_KEY_TYPE, Attr::Ulong(CKK_EC));
    a.set(CKA_EC_PARAMS, Attr::bytes(params.to_vec()));
    a.set(CKA_EC_POINT, Attr::bytes(point.to_vec()));
    let _ = crate::mech::KeyMaterial::from_attrs(&a);
    for kt in [CKK_EC_EDWARDS, CKK_EC_MONTGOMERY] {
        a.set(CKA_KEY_TYPE, Attr::Ulong(kt));
        let _ = crate::mech::KeyMaterial::from_attrs(&a);
    }
    // The point as a private key's value, too.
    a.set(CKA_CLASS, Attr::Ulong(CKO_PRIVATE_KEY));
    a.remove(CKA_EC_POINT);
    a.set(CKA_VALUE, Attr::bytes(point.to_vec()));
    for kt in [CKK_EC, CKK_EC_EDWARDS, CKK_EC_MONTGOMERY] {
        a.set(CKA_KEY_TYPE, Attr::Ulong(kt));
        let _ = crate::mech::KeyMaterial::from_attrs(&a);
    }
}

/// DSA and Diffie-Hellman keys from hostile components: the first byte picks how the rest is cut
/// into p, q, g and the value; each is tried as a DSA and a DH public and private key (the
/// engine's checks, and ours before them, bound the work whatever the sizes).
pub fn dsa_dh_key(data: &[u8]) {
    use crate::object::attr::Attr;
    let Some((&cut, rest)) = data.split_first() else { return };
    let n = rest.len();
    let a = (cut as usize & 0x0f) * n / 16;
    let b = a + ((cut as usize >> 4) * (n - a) / 16);
    let c = b + (n - b) / 2;
    let (p, q, g, v) = (&rest[..a], &rest[a..b], &rest[b..c], &rest[c..]);
    for (class, kt) in
        [(CKO_PUBLIC_KEY, CKK_DSA), (CKO_PRIVATE_KEY, CKK_DSA), (CKO_PUBLIC_KEY, CKK_DH), (CKO_PRIVATE_KEY, CKK_DH)]
    {
        let mut m = AttrMap::new();
        m.set(CKA_CLASS, Attr::Ulong(class));
        m.set(CKA_KEY_TYPE, Attr::Ulong(kt));
        m.set(CKA_PRIME, Attr::bytes(p.to_vec()));
        if kt == CKK_DSA {
            m.set(CKA_SUBPRIME, Attr::bytes(q.to_vec()));
        }
        m.set(CKA_BASE, Attr::bytes(g.to_vec()));
        m.set(CKA_VALUE, Attr::bytes(v.to_vec()));
        let _ = crate::mech::KeyMaterial::from_attrs(&m);
    }
}

/// An Azure KEK as `az keyvault key download` writes it (PEM or DER, SPKI or PKCS#1).
pub fn kek_parse(data: &[u8]) {
    if let Ok(k) = crate::byok::kek::Kek::parse(data) {
        let _ = k.fingerprint();
        let _ = crate::byok::kek::Kek::parse(k.to_pem().as_bytes()).expect("our PEM parses");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::byok::kek::check_kid(s);
    }
}

/// A `.byok` document, parsed and (with a fixed test KEK) verified.
pub fn byok_document(data: &[u8]) {
    let _ = crate::byok::package::ByokDocument::parse(data);
    let _ = crate::byok::transfer::verify(data, &fuzz_rsa().0, None);
}

/// The JSON files of kmdata and the module state: softcards, card sets, worlds, modules, KEK
/// and vendor packages.
pub fn kmdata_json(data: &[u8]) {
    let _ = serde_json::from_slice::<crate::module::softcard::SoftcardFile>(data);
    let _ = serde_json::from_slice::<crate::byok::transfer::KekPackage>(data);
    let _ = serde_json::from_slice::<crate::byok::vendor::SignedPackage>(data);
    let _ = serde_json::from_slice::<crate::module::world::WorldFile>(data);
    let _ = serde_json::from_slice::<crate::module::cardset::CardFile>(data);
    let _ = serde_json::from_slice::<crate::module::cardset::CardSetFile>(data);
    let _ = serde_json::from_slice::<crate::module::hsm::ModuleState>(data);
    let _ = serde_json::from_slice::<crate::module::reader::ReaderState>(data);
    let _ = serde_json::from_slice::<crate::module::loaded::TokensFile>(data);
    let _ = serde_json::from_slice::<crate::module::acl::Acl>(data);
    let _ = crate::module::acl::Acl::from_json(data);
    let _ =
        crate::module::acl::permits_json(Some(data), &crate::module::acl::Permission::Op(crate::module::acl::Op::Sign));
    if let Ok(s) = std::str::from_utf8(data) {
        let pairs: Vec<(String, String)> = s
            .split_whitespace()
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (p.to_string(), String::new()),
            })
            .collect();
        let _ = crate::module::keygen::parse_params("simple", &pairs);
    }
}
