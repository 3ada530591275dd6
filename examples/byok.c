/*
 * byok.c — the whole BYOK workflow through shieldhsm's vendor interface (include/shieldhsm.h):
 * create a Security World with a 2-of-3 Administrator Card Set, generate a module-protected
 * RSA-2048 key, register the Azure KEK, make the reduced-ACL transfer copy (ACS quorum), and
 * write the .byok package Azure Key Vault imports.
 *
 *   cc -I/usr/include/p11-kit-1 -Iinclude -o byok examples/byok.c -ldl
 *   SHIELDHSM_KMDATA=/tmp/kmdata ./byok target/release/libshieldhsm.so KEKforBYOK.publickey.pem \
 *       https://contosokeyvaulthsm.vault.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621 \
 *       KeyTransferPackage-contosokey.byok
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>
#include "shieldhsm.h"

static SHSM_FUNCTION_LIST *v;

static void check(CK_RV rv, const char *what)
{
    if (rv == CKR_OK)
        return;
    char msg[512] = "";
    CK_ULONG len = sizeof msg - 1;
    if (v && v->SHSM_LastError((CK_BYTE_PTR)msg, &len) == CKR_OK)
        msg[len] = 0;
    fprintf(stderr, "byok: %s failed: 0x%08lx %s\n", what, (unsigned long)rv, msg);
    exit(1);
}

static unsigned char *read_file(const char *path, CK_ULONG *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    static unsigned char buf[16384];
    *len = (CK_ULONG)fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: byok MODULE.so KEK.pem KID OUT.byok\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "byok: %s\n", dlerror());
        return 1;
    }
    SHSM_C_GetInterface get_interface = (SHSM_C_GetInterface)dlsym(h, "C_GetInterface");
    CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR p;
    CK_INTERFACE *vendor;
    check(get_list(&p), "C_GetFunctionList");
    check(p->C_Initialize(NULL), "C_Initialize");
    check(get_interface((CK_UTF8CHAR_PTR)SHSM_INTERFACE_NAME, NULL, &vendor, 0), "C_GetInterface(ShieldHSM)");
    v = (SHSM_FUNCTION_LIST *)vendor->pFunctionList;
    printf("vendor interface %s %d.%d\n", SHSM_INTERFACE_NAME, v->version.major, v->version.minor);

    /* 1. A Security World with a 2-of-3 ACS (the seed used DLf1024s160mRijndael). */
    const char *acs[] = {"acs-card-1", "acs-card-2", "acs-card-3"};
    check(v->SHSM_NewWorld("DLf1024s160mRijndael", 2, 3, acs), "SHSM_NewWorld");

    /* 2. The seed's key: generatekey --generate simple type=RSA size=2048 protect=module ... */
    check(v->SHSM_GenerateKey("simple", "type=RSA size=2048 protect=module ident=contosokey plainname=contosokey"),
          "SHSM_GenerateKey");

    char info[8192];
    CK_ULONG info_len = sizeof info - 1;
    check(v->SHSM_WorldInfo((CK_BYTE_PTR)info, &info_len), "SHSM_WorldInfo");
    info[info_len] = 0;
    printf("world: %s\n", info);

    /* 3. The Azure KEK, as `az keyvault key download` wrote it. */
    CK_ULONG kek_len;
    unsigned char *kek = read_file(argv[2], &kek_len);
    check(v->SHSM_ImportKek("KEKforBYOK", kek, kek_len, argv[3]), "SHSM_ImportKek");

    /* 4. KeyTransferRemote -ModifyAcls needs the ACS quorum: a wrong card is refused (the quorum
     *    failed, naming no card; every card presented counts a try toward its lockout). */
    const char *wrong[] = {"acs-card-1", "not-a-card"};
    CK_RV rv = v->SHSM_ReduceAclForTransfer("simple", "contosokey", "KEKforBYOK", wrong, 2);
    char msg[512];
    CK_ULONG mlen = sizeof msg - 1;
    v->SHSM_LastError((CK_BYTE_PTR)msg, &mlen);
    msg[mlen] = 0;
    printf("-ModifyAcls with a wrong card: 0x%08lx (%s)\n", (unsigned long)rv, msg);
    if (strstr(msg, "card 2") != NULL)
        return 1; /* the refusal must not say which card was wrong */
    if (rv == CKR_OK)
        return 1;
    const char *quorum[] = {"acs-card-1", "acs-card-2"}; /* cards 1 and 2 of 3 */
    check(v->SHSM_ReduceAclForTransfer("simple", "contosokey", "KEKforBYOK", quorum, 2), "SHSM_ReduceAclForTransfer");

    /* 5. KeyTransferRemote -Package: two calls, length first. */
    CK_ULONG len = 0;
    check(v->SHSM_ExportByok("contosokey", "KEKforBYOK", NULL, &len), "SHSM_ExportByok (length)");
    unsigned char *doc = malloc(len);
    check(v->SHSM_ExportByok("contosokey", "KEKforBYOK", doc, &len), "SHSM_ExportByok");
    FILE *f = fopen(argv[4], "wb");
    if (!f || fwrite(doc, 1, len, f) != len || fclose(f) != 0) {
        perror(argv[4]);
        return 1;
    }
    printf("wrote %s (%lu bytes)\n", argv[4], (unsigned long)len);

    free(doc);
    check(p->C_Finalize(NULL), "C_Finalize");
    return 0;
}
