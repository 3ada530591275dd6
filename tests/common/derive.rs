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
