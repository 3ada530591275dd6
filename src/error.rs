//! The one error type of the core: a PKCS#11 return value, and optionally why.
//!
//! The core speaks `Result<T>`; the ABI layer turns `Err(e)` into `e.rv()` and nothing else, so
//! the mapping to the C world stays exact and `?` carries spec codes through layers. A failure
//! site that knows more than the code (which file, which check) attaches a [`reason`]: the
//! administration tools print it (`module::admin`), the ABI ignores it.
//!
//! [`reason`]: Error::reason

use cryptoki_sys::*;
use std::borrow::Cow;
use std::fmt;

/// A CK_RV and, boxed so the error stays two words, an optional sentence saying why.
///
/// Equality compares the CK_RV only: the reason is for people, the code is the contract.
#[derive(Clone)]
pub struct Error {
    rv: CK_RV,
    reason: Option<Box<Cow<'static, str>>>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub const fn new(rv: CK_RV) -> Self {
        Error { rv, reason: None }
    }
    pub const fn rv(&self) -> CK_RV {
        self.rv
    }
    pub const fn general() -> Self {
        Error::new(CKR_GENERAL_ERROR)
    }
    /// `rv`, because of `reason` (a literal, or a formatted `String`).
    pub fn with_reason(rv: CK_RV, reason: impl Into<Cow<'static, str>>) -> Self {
        Error { rv, reason: Some(Box::new(reason.into())) }
    }
    /// Why, if the failure site said.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref().map(|r| r.as_ref())
    }
    /// The same code with `context` in front of the reason: `"<context>: <reason>"`, or just
    /// `context` when there was none.
    pub fn context(self, context: impl Into<Cow<'static, str>>) -> Self {
        let context = context.into();
        let reason = match self.reason {
            Some(r) => Cow::Owned(format!("{context}: {r}")),
            None => context,
        };
        Error { rv: self.rv, reason: Some(Box::new(reason)) }
    }
}

/// [`Error::context`] on a `Result`.
pub trait Context<T> {
    /// Puts `context` in front of the error's reason.
    fn context(self, context: impl Into<Cow<'static, str>>) -> Result<T>;
    /// As [`Context::context`], formatted only on failure.
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<Cow<'static, str>>) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.into().context(context()))
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.rv == other.rv
    }
}

impl Eq for Error {}

impl From<CK_RV> for Error {
    fn from(rv: CK_RV) -> Self {
        Error::new(rv)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        // Storage failures surface as CKR_DEVICE_ERROR (the spec's "problem with the token"); the
        // system's words are the reason.
        Error::with_reason(CKR_DEVICE_ERROR, e.to_string())
    }
}

impl From<aws_lc_rs::error::Unspecified> for Error {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        Error::new(CKR_FUNCTION_FAILED)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:08X})", rv_name(self.rv), self.rv)?;
        match self.reason() {
            Some(r) => write!(f, ": {r}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// `return err(CKR_X)` shorthand.
pub fn err<T>(rv: CK_RV) -> Result<T> {
    Err(Error::new(rv))
}

/// `return err_because(CKR_X, "why")` shorthand.
pub fn err_because<T>(rv: CK_RV, reason: impl Into<Cow<'static, str>>) -> Result<T> {
    Err(Error::with_reason(rv, reason))
}

/// Human name of a return value, for logs and CLI messages.
pub fn rv_name(rv: CK_RV) -> &'static str {
    macro_rules! names { ($($c:ident),* $(,)?) => { match rv { $( $c => stringify!($c), )* _ => "CKR_VENDOR_OR_UNKNOWN" } } }
    names!(
        CKR_OK,
        CKR_CANCEL,
        CKR_HOST_MEMORY,
        CKR_SLOT_ID_INVALID,
        CKR_GENERAL_ERROR,
        CKR_FUNCTION_FAILED,
        CKR_ARGUMENTS_BAD,
        CKR_NO_EVENT,
        CKR_NEED_TO_CREATE_THREADS,
        CKR_CANT_LOCK,
        CKR_ATTRIBUTE_READ_ONLY,
        CKR_ATTRIBUTE_SENSITIVE,
        CKR_ATTRIBUTE_TYPE_INVALID,
        CKR_ATTRIBUTE_VALUE_INVALID,
        CKR_ACTION_PROHIBITED,
        CKR_DATA_INVALID,
        CKR_DATA_LEN_RANGE,
        CKR_DEVICE_ERROR,
        CKR_DEVICE_MEMORY,
        CKR_DEVICE_REMOVED,
        CKR_ENCRYPTED_DATA_INVALID,
        CKR_ENCRYPTED_DATA_LEN_RANGE,
        CKR_FUNCTION_CANCELED,
        CKR_FUNCTION_NOT_PARALLEL,
        CKR_FUNCTION_NOT_SUPPORTED,
        CKR_KEY_HANDLE_INVALID,
        CKR_KEY_SIZE_RANGE,
        CKR_KEY_TYPE_INCONSISTENT,
        CKR_KEY_NOT_NEEDED,
        CKR_KEY_CHANGED,
        CKR_KEY_NEEDED,
        CKR_KEY_INDIGESTIBLE,
        CKR_KEY_FUNCTION_NOT_PERMITTED,
        CKR_KEY_NOT_WRAPPABLE,
        CKR_KEY_UNEXTRACTABLE,
        CKR_MECHANISM_INVALID,
        CKR_MECHANISM_PARAM_INVALID,
        CKR_OBJECT_HANDLE_INVALID,
        CKR_OPERATION_ACTIVE,
        CKR_OPERATION_NOT_INITIALIZED,
        CKR_PIN_INCORRECT,
        CKR_PIN_INVALID,
        CKR_PIN_LEN_RANGE,
        CKR_PIN_EXPIRED,
        CKR_PIN_LOCKED,
        CKR_SESSION_CLOSED,
        CKR_SESSION_COUNT,
        CKR_SESSION_HANDLE_INVALID,
        CKR_SESSION_PARALLEL_NOT_SUPPORTED,
        CKR_SESSION_READ_ONLY,
        CKR_SESSION_EXISTS,
        CKR_SESSION_READ_ONLY_EXISTS,
        CKR_SESSION_READ_WRITE_SO_EXISTS,
        CKR_SIGNATURE_INVALID,
        CKR_SIGNATURE_LEN_RANGE,
        CKR_TEMPLATE_INCOMPLETE,
        CKR_TEMPLATE_INCONSISTENT,
        CKR_TOKEN_NOT_PRESENT,
        CKR_TOKEN_NOT_RECOGNIZED,
        CKR_TOKEN_WRITE_PROTECTED,
        CKR_UNWRAPPING_KEY_HANDLE_INVALID,
        CKR_UNWRAPPING_KEY_SIZE_RANGE,
        CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
        CKR_USER_ALREADY_LOGGED_IN,
        CKR_USER_NOT_LOGGED_IN,
        CKR_USER_PIN_NOT_INITIALIZED,
        CKR_USER_TYPE_INVALID,
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
        CKR_USER_TOO_MANY_TYPES,
        CKR_WRAPPED_KEY_INVALID,
        CKR_WRAPPED_KEY_LEN_RANGE,
        CKR_WRAPPING_KEY_HANDLE_INVALID,
        CKR_WRAPPING_KEY_SIZE_RANGE,
        CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
        CKR_RANDOM_SEED_NOT_SUPPORTED,
        CKR_RANDOM_NO_RNG,
        CKR_DOMAIN_PARAMS_INVALID,
        CKR_CURVE_NOT_SUPPORTED,
        CKR_BUFFER_TOO_SMALL,
        CKR_SAVED_STATE_INVALID,
        CKR_INFORMATION_SENSITIVE,
        CKR_STATE_UNSAVEABLE,
        CKR_CRYPTOKI_NOT_INITIALIZED,
        CKR_CRYPTOKI_ALREADY_INITIALIZED,
        CKR_MUTEX_BAD,
        CKR_MUTEX_NOT_LOCKED,
        CKR_FUNCTION_REJECTED,
        CKR_OPERATION_CANCEL_FAILED,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_rides_along_but_the_code_is_the_contract() {
        assert_eq!(std::mem::size_of::<Error>(), 16);
        let plain = Error::new(CKR_DEVICE_ERROR);
        assert_eq!(plain.reason(), None);
        let why = Error::with_reason(CKR_DEVICE_ERROR, "local/world is not a regular file");
        assert_eq!(why, plain);
        assert_eq!(why.rv(), CKR_DEVICE_ERROR);
        assert_eq!(format!("{why}"), "CKR_DEVICE_ERROR (0x00000030): local/world is not a regular file");
        let io: Result<()> = Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied).into());
        let e = io.context("cannot read local/world").unwrap_err();
        assert_eq!(e.rv(), CKR_DEVICE_ERROR);
        assert_eq!(e.reason(), Some("cannot read local/world: permission denied"));
        assert_eq!(Error::new(CKR_PIN_INCORRECT).context("softcard x").reason(), Some("softcard x"));
    }
}
