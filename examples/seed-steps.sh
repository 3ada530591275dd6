#!/usr/bin/env bash
# The seed's eight steps, verbatim and in the seed's order (region EU; `.exe` dropped;
# %NFAST_KMDATA% written $NFAST_KMDATA). Run on an empty data directory, with nothing before it:
#   NFAST_HOME   laid out by `shieldhsm install-links --nfast-home "$NFAST_HOME"`
#   PATH         with "$NFAST_HOME/bin" and "$NFAST_HOME/python/bin", as the seed's `set PATH` line
#   NFAST_KMDATA the (empty) data directory
#   SHIELDHSM_PASSPHRASE_FILE  the three ACS passphrases, one per line (else the terminal asks)
# in a scratch directory, where the toolset's files and the .byok land.
# examples/run-demo runs it; tests/seed.rs runs it and checks README.md shows the same lines.
set -euo pipefail
set -x
byok-toolset --region EU
new-world --initialize --cipher-suite=DLf1024s160mRijndael --module=1 --acs-quorum=2/3
python verifykeypackage.py -k BYOK-KEK-pkg-EU-1 -w BYOK-SecurityWorld-pkg-EU-1
generatekey --generate simple type=RSA size=2048 protect=module ident=contosokey plainname=contosokey nvram=no pubexp=
KeyTransferRemote -ModifyAcls -KeyAppName simple -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1
preload -m 1 -A xferacld -K contosokey python "$NFAST_HOME/python/examples/aclprint.py"
kmfile-dump "$NFAST_KMDATA/local/key_xferacld_contosokey"
KeyTransferRemote -Package -KeyIdentifier contosokey -ExchangeKeyPackage BYOK-KEK-pkg-EU-1 -NewSecurityWorldPackage BYOK-SecurityWorld-pkg-EU-1 -SubscriptionId SubscriptionID -KeyFriendlyName ContosoFirstHSMkey
Add-AzureKeyVaultKey -VaultName 'ContosoKeyVaultHSM' -Name 'ContosoFirstHSMkey' -KeyFilePath 'KeyTransferPackage-ContosoFirstHSMkey.byok' -Destination 'HSM'
