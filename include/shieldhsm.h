/*
 * shieldhsm.h — vendor extensions of libshieldhsm.so (an emulated nShield HSM).
 *
 * Standard PKCS#11 comes from your usual pkcs11.h (OASIS, p11-kit or OpenSC). This header adds:
 *   - the vendor interface "ShieldHSM" returned by C_GetInterface: Security World creation and
 *     information, key generation with nShield protection and ACLs, the reduced-ACL copy for a
 *     key transfer, and export of an Azure Key Vault BYOK transfer package (.byok);
 *   - vendor-defined attribute numbers, in two ranges: nShield's public numbers (kept for
 *     compatibility) and our own emulator-only range 0x8E4D0000 | n, which never collides with a
 *     real nShield value.
 *
 * Strings are NUL-terminated UTF-8. Outputs follow the PKCS#11 two-call convention: pass NULL to
 * learn the length, then a buffer; a short buffer gets CKR_BUFFER_TOO_SMALL and the length.
 * Every function needs C_Initialize first and returns a CK_RV from the PKCS#11 spec.
 */
#ifndef SHIELDHSM_H
#define SHIELDHSM_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- nShield's public vendor numbers (pkcs11extra.h) ---- */
#define CKA_NFKM_ID                 0xDE436A74UL /* key ident, e.g. "contosokey" or "ua3f…" */
#define CKA_NFKM_APPNAME            0xDE436975UL /* key application, e.g. "simple", "pkcs11" */
#define CKA_NFKM_HASH               0xDE43698AUL /* 20-byte key hash */
#define CKM_NC_SHA_1_HMAC_KEY_GEN   0xDE436975UL
#define CKM_NC_SHA224_HMAC_KEY_GEN  0xDE436996UL
#define CKM_NC_SHA256_HMAC_KEY_GEN  0xDE436997UL
#define CKM_NC_SHA384_HMAC_KEY_GEN  0xDE436998UL
#define CKM_NC_SHA512_HMAC_KEY_GEN  0xDE436999UL

/* ---- emulator-only numbers ---- */
#define SHSM_VENDOR                 0x8E4D0000UL
#define CKA_SHSM_ACL                (SHSM_VENDOR | 0x01) /* the key's ACL as JSON, read-only */
#define CKA_SHSM_PROTECTION         (SHSM_VENDOR | 0x02) /* "module", "softcard:<hash>", "cardset:<hash>" */

#define SHSM_INTERFACE_NAME "ShieldHSM"

/* PKCS#11 3.0's interface type, for pkcs11.h headers that predate it (p11-kit before 0.25
 * ships a 2.40 header). */
#ifndef CKF_INTERFACE_FORK_SAFE
typedef struct CK_INTERFACE {
    CK_UTF8CHAR *pInterfaceName;
    void *pFunctionList;
    CK_FLAGS flags;
} CK_INTERFACE;
#endif
/* C_GetInterface, looked up with dlsym(handle, "C_GetInterface"). */
typedef CK_RV (*SHSM_C_GetInterface)(CK_UTF8CHAR *name, CK_VERSION *version, CK_INTERFACE **iface, CK_FLAGS flags);

/*
 * The vendor interface: C_GetInterface((CK_UTF8CHAR_PTR)"ShieldHSM", NULL, &iface, 0), then
 * cast iface->pFunctionList to SHSM_FUNCTION_LIST *.
 */
typedef struct SHSM_FUNCTION_LIST {
    CK_VERSION version; /* 1.0 */

    /* Creates a Security World on module 1, like the seed's three steps
     *   hsm-mode -m 1 I; new-world --initialize --cipher-suite=<suite> --module=1
     *   --acs-quorum=<k>/<n>; hsm-mode -m 1 O
     * acs_passphrases holds n passphrases, one per Administrator Card (card i gets passphrase
     * i). suite may be NULL for the default (DLf3072s256mAEScSP800131Ar1). Fails with
     * CKR_FUNCTION_FAILED if a world exists, CKR_ARGUMENTS_BAD for k > n or an unknown suite. */
    CK_RV (*SHSM_NewWorld)(const char *suite, CK_ULONG k, CK_ULONG n, const char *const *acs_passphrases);

    /* The world as nfkminfo shows it, as a JSON object (ciphersuite, k-out-of-n, hknso, hkm,
     * modules, keys). */
    CK_RV (*SHSM_WorldInfo)(CK_BYTE_PTR json, CK_ULONG_PTR json_len);

    /* Generates a key like `generatekey --generate <app> <params>`, e.g. app "simple",
     * params "type=RSA size=2048 protect=module ident=contosokey plainname=contosokey".
     * Module protection only through this call (card sets and softcards need passphrases:
     * use the CLI). */
    CK_RV (*SHSM_GenerateKey)(const char *app, const char *params);

    /* Registers a KEK under a local name. Either a vendor-signed KEK package (the toolset's
     * BYOK-KEK-pkg-<REGION>-1, checked against the vendor root; registered as attested, under
     * its own name only; kid may be NULL) or an Azure KEK (the PEM `az keyvault key download`
     * writes) with its versioned key identifier (https://<vault>.vault.azure.net/keys/<name>/
     * <version>), registered as not attested, never under a vendor package name
     * (BYOK-KEK-pkg-*, BYOK-SecurityWorld-pkg-*: CKR_ARGUMENTS_BAD). Needs no authority, and
     * so is trusted for nothing by itself: what an unattested KEK may receive is decided by the
     * ACS quorum in SHSM_ReduceAclForTransfer. */
    CK_RV (*SHSM_ImportKek)(const char *name, CK_BYTE_PTR kek, CK_ULONG kek_len, const char *kid);

    /* KeyTransferRemote -ModifyAcls: with the Administrator Card Set quorum (k passphrases of
     * ACS cards 1..k, in that order), writes key_xferacld_<ident>, whose ACL allows only wrapped
     * export to the named KEK. The original key is untouched. Every card presented counts a
     * try toward its lockout (10, in the module); a failed quorum names no card
     * (CKR_FUNCTION_FAILED; SHSM_LastError says the quorum failed, or which card is locked). */
    CK_RV (*SHSM_ReduceAclForTransfer)(const char *app, const char *ident, const char *kek_name,
                                      const char *const *acs_passphrases, CK_ULONG count);

    /* KeyTransferRemote -Package: the .byok document (JSON bytes) for key_xferacld_<ident>
     * wrapped to the named KEK with CKM_RSA_AES_KEY_WRAP (AES-256, OAEP-SHA-1). */
    CK_RV (*SHSM_ExportByok)(const char *ident, const char *kek_name, CK_BYTE_PTR out, CK_ULONG_PTR out_len);

    /* The sentence explaining this thread's last failed vendor call: what went wrong and what
     * to do (the CLI prints the same). Empty if none. */
    CK_RV (*SHSM_LastError)(CK_BYTE_PTR msg, CK_ULONG_PTR msg_len);
} SHSM_FUNCTION_LIST;

#ifdef __cplusplus
}
#endif
#endif /* SHIELDHSM_H */
