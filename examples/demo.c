/*
 * demo.c — shieldhsm through the plain PKCS#11 C ABI, as any C program would use it:
 * initialize a token, log in, generate a persistent AES-256 key, encrypt and decrypt with
 * AES-GCM, then finalize, load again and decrypt with the key read back from the store.
 *
 *   cc -I/usr/include/p11-kit-1 -o demo examples/demo.c -ldl
 *   SHIELDHSM_KMDATA=/tmp/kmdata ./demo target/release/libshieldhsm.so
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR p;

#define CHECK(call)                                                                   \
    do {                                                                              \
        CK_RV rv_ = (call);                                                           \
        if (rv_ != CKR_OK) {                                                          \
            fprintf(stderr, "demo: %s failed: 0x%08lx\n", #call, (unsigned long)rv_); \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

static CK_SLOT_ID find_slot(int initialized, const char *label)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    CHECK(p->C_GetSlotList(CK_TRUE, slots, &n));
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        CHECK(p->C_GetTokenInfo(slots[i], &ti));
        int init = (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
        if (initialized == init && (!label || strncmp((char *)ti.label, label, strlen(label)) == 0))
            return slots[i];
    }
    fprintf(stderr, "demo: no suitable slot\n");
    exit(1);
}

static void load(const char *so)
{
    void *h = dlopen(so, RTLD_NOW);
    if (!h) {
        fprintf(stderr, "demo: %s\n", dlerror());
        exit(1);
    }
    CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    CHECK(get(&p));
    CHECK(p->C_Initialize(NULL));
}

int main(int argc, char **argv)
{
    const char *so = argc > 1 ? argv[1] : "target/release/libshieldhsm.so";
    const char *so_pin = "demo-so-pin", *user_pin = "demo-user-pin";
    CK_BYTE label[32];
    memset(label, ' ', sizeof label);
    memcpy(label, "demo", 4);

    load(so);
    CK_INFO info;
    CHECK(p->C_GetInfo(&info));
    printf("library: %.32s, Cryptoki %d.%d\n", info.manufacturerID, info.cryptokiVersion.major, info.cryptokiVersion.minor);

    /* 1. Initialize the free token and set the user PIN (the SO's job). */
    CK_SLOT_ID slot = find_slot(0, NULL);
    CHECK(p->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), label));
    CK_SESSION_HANDLE s;
    CHECK(p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
    CHECK(p->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin)));
    CHECK(p->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin)));
    CHECK(p->C_Logout(s));
    printf("token 'demo' initialized in slot %lu\n", (unsigned long)slot);

    /* 2. Log in and generate a persistent, sensitive AES-256 key. */
    CHECK(p->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin)));
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE;
    CK_BYTE key_label[] = "demo-aes";
    CK_ATTRIBUTE t[] = {
        {CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &yes, 1},      {CKA_SENSITIVE, &yes, 1},
        {CKA_ENCRYPT, &yes, 1},            {CKA_DECRYPT, &yes, 1},    {CKA_LABEL, key_label, sizeof key_label - 1},
    };
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE key;
    CHECK(p->C_GenerateKey(s, &gen, t, sizeof t / sizeof t[0], &key));

    /* 3. AES-GCM encrypt, using the two-call length convention. */
    CK_BYTE iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, aad[] = "header";
    CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, aad, sizeof aad - 1, 128};
    CK_MECHANISM m = {CKM_AES_GCM, &gcm, sizeof gcm};
    const char *msg = "attack at dawn";
    CK_BYTE ct[128], pt[128];
    CK_ULONG ctlen = 0, ptlen = sizeof pt;
    CHECK(p->C_EncryptInit(s, &m, key));
    CHECK(p->C_Encrypt(s, (CK_BYTE_PTR)msg, strlen(msg), NULL, &ctlen)); /* length only */
    CHECK(p->C_Encrypt(s, (CK_BYTE_PTR)msg, strlen(msg), ct, &ctlen));
    printf("encrypted %zu bytes -> %lu bytes (ciphertext + 16-byte tag)\n", strlen(msg), (unsigned long)ctlen);
    CHECK(p->C_CloseSession(s));
    CHECK(p->C_Finalize(NULL));

    /* 4. A fresh start: the key is read back from the encrypted store and decrypts. */
    CHECK(p->C_Initialize(NULL));
    slot = find_slot(1, "demo");
    CHECK(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
    CHECK(p->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin)));
    CK_ATTRIBUTE find[] = {{CKA_LABEL, key_label, sizeof key_label - 1}};
    CK_ULONG found = 0;
    CHECK(p->C_FindObjectsInit(s, find, 1));
    CHECK(p->C_FindObjects(s, &key, 1, &found));
    CHECK(p->C_FindObjectsFinal(s));
    if (found != 1) {
        fprintf(stderr, "demo: key not found after restart\n");
        return 1;
    }
    CHECK(p->C_DecryptInit(s, &m, key));
    CHECK(p->C_Decrypt(s, ct, ctlen, pt, &ptlen));
    printf("after restart, decrypted: \"%.*s\"\n", (int)ptlen, pt);
    if (ptlen != strlen(msg) || memcmp(pt, msg, ptlen) != 0)
        return 1;

    /* A tampered ciphertext is refused. */
    ct[0] ^= 1;
    ptlen = sizeof pt;
    CHECK(p->C_DecryptInit(s, &m, key));
    CK_RV rv = p->C_Decrypt(s, ct, ctlen, pt, &ptlen);
    printf("tampered ciphertext: %s\n", rv == CKR_ENCRYPTED_DATA_INVALID ? "refused (CKR_ENCRYPTED_DATA_INVALID)" : "ACCEPTED?!");
    CHECK(p->C_Finalize(NULL));
    return rv == CKR_ENCRYPTED_DATA_INVALID ? 0 : 1;
}
