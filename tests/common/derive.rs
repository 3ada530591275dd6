//! The simple derivations through `cryptoki`, which has no typed form for most of them: the
//! parameter structs are built here and handed over as a raw mechanism.

use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki_sys::*;

/// A `MechanismType` for any number (`cryptoki` names only some).
pub fn mech_type(ty: CK_MECHANISM_TYPE) -> MechanismType {
    // SAFETY: MechanismType is #[repr(transparent)] over CK_MECHANISM_TYPE.
    unsafe { std::mem::transmute::<CK_MECHANISM_TYPE, MechanismType>(ty) }
}

/// The number of an object handle (`cryptoki` prints it but does not hand it out).
pub fn handle_number(h: ObjectHandle) -> CK_OBJECT_HANDLE {
    h.to_string().parse().unwrap()
}

enum Param {
    Data(Box<CK_KEY_DERIVATION_STRING_DATA>),
    AesCbc(Box<CK_AES_CBC_ENCRYPT_DATA_PARAMS>),
    DesCbc(Box<CK_DES_CBC_ENCRYPT_DATA_PARAMS>),
    Handle(Box<CK_OBJECT_HANDLE>),
    Ulong(Box<CK_ULONG>),
}

/// One derivation's mechanism and the parameter memory it points into.
pub struct Derivation {
    ty: CK_MECHANISM_TYPE,
    param: Param,
    _data: Vec<u8>,
}

impl Derivation {
    /// CKM_AES_ECB_ENCRYPT_DATA, CKM_DES3_ECB_ENCRYPT_DATA, CKM_XOR_BASE_AND_DATA or
    /// CKM_CONCATENATE_BASE_AND_DATA / CKM_CONCATENATE_DATA_AND_BASE.
    pub fn data(ty: CK_MECHANISM_TYPE, data: &[u8]) -> Derivation {
        let mut d = data.to_vec();
        let p = CK_KEY_DERIVATION_STRING_DATA { pData: d.as_mut_ptr(), ulLen: d.len() as CK_ULONG };
        Derivation { ty, param: Param::Data(Box::new(p)), _data: d }
    }

    pub fn xor(data: &[u8]) -> Derivation {
        Derivation::data(CKM_XOR_BASE_AND_DATA, data)
    }

    /// CKM_AES_CBC_ENCRYPT_DATA (16-byte IV) or CKM_DES3_CBC_ENCRYPT_DATA (8-byte IV).
    pub fn cbc(ty: CK_MECHANISM_TYPE, iv: &[u8], data: &[u8]) -> Derivation {
        let mut d = data.to_vec();
        let (ptr, len) = (d.as_mut_ptr(), d.len() as CK_ULONG);
        let param = if ty == CKM_AES_CBC_ENCRYPT_DATA {
            Param::AesCbc(Box::new(CK_AES_CBC_ENCRYPT_DATA_PARAMS {
                iv: iv.try_into().unwrap(),
                pData: ptr,
                length: len,
            }))
        } else {
            Param::DesCbc(Box::new(CK_DES_CBC_ENCRYPT_DATA_PARAMS {
                iv: iv.try_into().unwrap(),
                pData: ptr,
                length: len,
            }))
        };
        Derivation { ty, param, _data: d }
    }

    /// CKM_CONCATENATE_BASE_AND_KEY with `other` appended to the base.
    pub fn concatenate(other: ObjectHandle) -> Derivation {
        let p = Param::Handle(Box::new(handle_number(other)));
        Derivation { ty: CKM_CONCATENATE_BASE_AND_KEY, param: p, _data: vec![] }
    }

    /// CKM_EXTRACT_KEY_FROM_KEY from bit `bit` of the base.
    pub fn extract(bit: CK_ULONG) -> Derivation {
        Derivation { ty: CKM_EXTRACT_KEY_FROM_KEY, param: Param::Ulong(Box::new(bit)), _data: vec![] }
    }

    pub fn mechanism(&self) -> Mechanism<'_> {
        let t = mech_type(self.ty);
        Mechanism::VendorDefined(match &self.param {
            Param::Data(p) => VendorDefinedMechanism::new(t, Some(&**p)),
            Param::AesCbc(p) => VendorDefinedMechanism::new(t, Some(&**p)),
            Param::DesCbc(p) => VendorDefinedMechanism::new(t, Some(&**p)),
            Param::Handle(p) => VendorDefinedMechanism::new(t, Some(&**p)),
            Param::Ulong(p) => VendorDefinedMechanism::new(t, Some(&**p)),
        })
    }
}

/// One `CK_PRF_DATA_PARAM` of an SP 800-108 derivation, as a test describes it.
#[derive(Clone, Debug)]
pub enum Prf {
    /// The iteration variable: a big- or little-endian counter of `bits`, or (`None`) the
    /// feedback mode's K(i-1).
    Iteration(Option<(bool, CK_ULONG)>),
    /// The feedback mode's optional counter.
    Counter(bool, CK_ULONG),
    /// The length field: method, little-endian, bits.
    Dkm(CK_ULONG, bool, CK_ULONG),
    Bytes(Vec<u8>),
}

/// CKM_SP800_108_COUNTER_KDF or CKM_SP800_108_FEEDBACK_KDF and the memory its parameter
/// points into (boxed formats: the data parameters point at them while the lists still grow).
#[allow(clippy::vec_box)]
pub struct Kbkdf {
    ty: CK_MECHANISM_TYPE,
    counter: Option<Box<CK_SP800_108_KDF_PARAMS>>,
    feedback: Option<Box<CK_SP800_108_FEEDBACK_KDF_PARAMS>>,
    _params: Vec<CK_PRF_DATA_PARAM>,
    _counters: Vec<Box<CK_SP800_108_COUNTER_FORMAT>>,
    _dkm: Vec<Box<CK_SP800_108_DKM_LENGTH_FORMAT>>,
    _bytes: Vec<Vec<u8>>,
    _iv: Vec<u8>,
}

impl Kbkdf {
    /// A counter-mode derivation (`iv` None) or a feedback-mode one.
    pub fn new(prf: CK_MECHANISM_TYPE, data: &[Prf], iv: Option<&[u8]>) -> Kbkdf {
        let (mut counters, mut dkm, mut bytes) = (vec![], vec![], vec![]);
        let flag = |b: bool| if b { CK_TRUE } else { CK_FALSE };
        let params: Vec<CK_PRF_DATA_PARAM> = data
            .iter()
            .map(|d| {
                let (type_, p, len): (CK_ULONG, *mut std::ffi::c_void, usize) = match d {
                    Prf::Iteration(None) => (CK_SP800_108_ITERATION_VARIABLE, std::ptr::null_mut(), 0),
                    Prf::Iteration(Some((le, bits))) | Prf::Counter(le, bits) => {
                        let mut c =
                            Box::new(CK_SP800_108_COUNTER_FORMAT { bLittleEndian: flag(*le), ulWidthInBits: *bits });
                        let p = &mut *c as *mut _ as *mut std::ffi::c_void;
                        counters.push(c);
                        let ty = if matches!(d, Prf::Counter(..)) {
                            CK_SP800_108_OPTIONAL_COUNTER
                        } else {
                            CK_SP800_108_ITERATION_VARIABLE
                        };
                        (ty, p, std::mem::size_of::<CK_SP800_108_COUNTER_FORMAT>())
                    }
                    Prf::Dkm(method, le, bits) => {
                        let mut f = Box::new(CK_SP800_108_DKM_LENGTH_FORMAT {
                            dkmLengthMethod: *method,
                            bLittleEndian: flag(*le),
                            ulWidthInBits: *bits,
                        });
                        let p = &mut *f as *mut _ as *mut std::ffi::c_void;
                        dkm.push(f);
                        (CK_SP800_108_DKM_LENGTH, p, std::mem::size_of::<CK_SP800_108_DKM_LENGTH_FORMAT>())
                    }
                    Prf::Bytes(b) => {
                        let mut v = b.clone();
                        let p = v.as_mut_ptr() as *mut std::ffi::c_void;
                        bytes.push(v);
                        (CK_SP800_108_BYTE_ARRAY, p, b.len())
                    }
                };
                CK_PRF_DATA_PARAM { type_, pValue: p, ulValueLen: len as CK_ULONG }
            })
            .collect();
        let mut params = params;
        let mut iv_bytes = iv.map(<[u8]>::to_vec).unwrap_or_default();
        let (pp, n) = (params.as_mut_ptr(), params.len() as CK_ULONG);
        let (counter, feedback, ty) = match iv {
            None => (
                Some(Box::new(CK_SP800_108_KDF_PARAMS {
                    prfType: prf,
                    ulNumberOfDataParams: n,
                    pDataParams: pp,
                    ulAdditionalDerivedKeys: 0,
                    pAdditionalDerivedKeys: std::ptr::null_mut(),
                })),
                None,
                CKM_SP800_108_COUNTER_KDF,
            ),
            Some(_) => (
                None,
                Some(Box::new(CK_SP800_108_FEEDBACK_KDF_PARAMS {
                    prfType: prf,
                    ulNumberOfDataParams: n,
                    pDataParams: pp,
                    ulIVLen: iv_bytes.len() as CK_ULONG,
                    pIV: if iv_bytes.is_empty() { std::ptr::null_mut() } else { iv_bytes.as_mut_ptr() },
                    ulAdditionalDerivedKeys: 0,
                    pAdditionalDerivedKeys: std::ptr::null_mut(),
                })),
                CKM_SP800_108_FEEDBACK_KDF,
            ),
        };
        Kbkdf { ty, counter, feedback, _params: params, _counters: counters, _dkm: dkm, _bytes: bytes, _iv: iv_bytes }
    }

    /// The counter-mode parameter struct, for tests that spoil a field.
    pub fn counter_params(&mut self) -> &mut CK_SP800_108_KDF_PARAMS {
        self.counter.as_mut().unwrap()
    }

    pub fn mechanism(&self) -> Mechanism<'_> {
        let t = mech_type(self.ty);
        Mechanism::VendorDefined(match (&self.counter, &self.feedback) {
            (Some(p), _) => VendorDefinedMechanism::new(t, Some(&**p)),
            (_, Some(p)) => VendorDefinedMechanism::new(t, Some(&**p)),
            _ => unreachable!(),
        })
    }
}
