//! The PIN flags a softcard token reports in `C_GetTokenInfo`: whether the user PIN is set, and
//! for each PIN how close its failure counter is to the softcard's try limit
//! (`CKF_*_PIN_COUNT_LOW`, `CKF_*_PIN_FINAL_TRY`, `CKF_*_PIN_LOCKED`). The counters themselves
//! are the module's ([`crate::module::softcard`]); this is only how PKCS#11 shows them.

use crate::module::softcard::{SoftcardFile, Who};
use cryptoki_sys::*;

/// `CKF_USER_PIN_INITIALIZED` when the card has a user PIN, and the count flags of both PINs.
pub fn pin_flags(card: &SoftcardFile) -> CK_FLAGS {
    let mut flags = 0;
    if card.user.is_some() {
        flags |= CKF_USER_PIN_INITIALIZED;
    }
    flags |= count_flags(
        card.failures(Who::User),
        card.max_tries,
        CKF_USER_PIN_COUNT_LOW,
        CKF_USER_PIN_FINAL_TRY,
        CKF_USER_PIN_LOCKED,
    );
    flags |= count_flags(
        card.failures(Who::So),
        card.max_tries,
        CKF_SO_PIN_COUNT_LOW,
        CKF_SO_PIN_FINAL_TRY,
        CKF_SO_PIN_LOCKED,
    );
    flags
}

/// The user-PIN count flags of a card set's token: the inserted card's passphrase failures.
pub fn card_flags(failures: u32, max: u32) -> CK_FLAGS {
    count_flags(failures, max, CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED)
}

/// One PIN: locked at the limit; one try left is the final try (and the count is low); any
/// failure before that makes the count low; none, no flag.
fn count_flags(failures: u32, max: u32, low: CK_FLAGS, last: CK_FLAGS, locked: CK_FLAGS) -> CK_FLAGS {
    if failures >= max {
        locked
    } else if failures + 1 == max {
        last | low
    } else if failures > 0 {
        low
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(failures: u32, max: u32) -> CK_FLAGS {
        count_flags(failures, max, CKF_USER_PIN_COUNT_LOW, CKF_USER_PIN_FINAL_TRY, CKF_USER_PIN_LOCKED)
    }

    #[test]
    fn the_count_flags_climb_to_locked() {
        assert_eq!(user(0, 10), 0);
        assert_eq!(user(1, 10), CKF_USER_PIN_COUNT_LOW);
        assert_eq!(user(8, 10), CKF_USER_PIN_COUNT_LOW);
        assert_eq!(user(9, 10), CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
        assert_eq!(user(10, 10), CKF_USER_PIN_LOCKED);
        assert_eq!(user(11, 10), CKF_USER_PIN_LOCKED);
        // A limit of one: the first try is already the final one.
        assert_eq!(user(0, 1), CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
        assert_eq!(user(0, 0), CKF_USER_PIN_LOCKED);
    }
}
