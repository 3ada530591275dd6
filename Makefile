# shieldhsm: build and install like a PKCS#11 module (GNU make).
#
#   make                      cargo build --release
#   make install              as root: into PREFIX (default /usr/local)
#   make install DESTDIR=/tmp/stage PREFIX=/usr     staged, for packaging
#   make install NFAST_LAYOUT=1                     nShield tool names in /opt/nfast/bin too
#   make uninstall            (same PREFIX/DESTDIR/options as install)
#   make install-check        as root: real install, p11-kit/GnuTLS/NSS checks, uninstall
#
# What goes where (final paths; DESTDIR is prepended when writing):
#   $(LIBDIR)/libshieldhsm.so, and libcknfast.so -> libshieldhsm.so (nShield's name)
#   $(INCLUDEDIR)/shieldhsm.h
#   $(PKGCONFIGDIR)/shieldhsm.pc              (variables: module, p11_module_config, tooldir)
#   $(P11KIT_MODULE_DIR)/shieldhsm.module     (module: <absolute library path>, critical: no)
#   $(BINDIR)/shieldhsm
#   $(TOOLDIR)/new-world, generatekey, enquiry, preload, ...  -> $(BINDIR)/shieldhsm
# The tool links get their own directory (default $(PREFIX)/lib/shieldhsm/bin; with
# NFAST_LAYOUT=1 or NFAST_HOME=... on the command line, $(NFAST_HOME)/bin, and
# $(NFAST_HOME)/toolkits/pkcs11/libcknfast.so links to the library): never $(BINDIR).

PREFIX ?= /usr/local
CARGO ?= cargo
PKG_CONFIG ?= pkg-config

# The Debian-style multiarch triplet (x86_64-linux-gnu), if the toolchain knows one.
ifndef MULTIARCH
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)
ifeq ($(strip $(MULTIARCH)),)
MULTIARCH := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
endif
endif

ifeq ($(strip $(MULTIARCH)),)
LIBDIR ?= $(PREFIX)/lib
else
LIBDIR ?= $(PREFIX)/lib/$(strip $(MULTIARCH))
endif
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

# Where p11-kit reads module registrations (whatever PREFIX is: p11-kit only looks there).
ifndef P11KIT_MODULE_DIR
P11KIT_MODULE_DIR := $(shell $(PKG_CONFIG) --variable=p11_module_configs p11-kit-1 2>/dev/null)
ifeq ($(strip $(P11KIT_MODULE_DIR)),)
P11KIT_MODULE_DIR := $(PREFIX)/share/p11-kit/modules
endif
endif

# The nShield layout: asked for with NFAST_LAYOUT=1, or NFAST_HOME=... on the command line (an
# NFAST_HOME merely set in the environment, as nShield users have it, does not switch layout).
ifeq ($(origin NFAST_HOME),command line)
NFAST_LAYOUT := 1
endif
ifneq ($(filter 1 yes y true,$(NFAST_LAYOUT)),)
ifneq ($(origin NFAST_HOME),command line)
NFAST_HOME := /opt/nfast
endif
TOOLDIR ?= $(NFAST_HOME)/bin
INSTALL_NFAST_HOME := $(NFAST_HOME)
else
TOOLDIR ?= $(PREFIX)/lib/shieldhsm/bin
INSTALL_NFAST_HOME :=
endif

TOOLS := new-world generatekey nfkminfo enquiry hsm-mode createocs ppmk kmfile-dump aclprint \
	KeyTransferRemote verifykeypackage preload byok-toolset byok-verify byok-kek-import \
	byok-test-kek Add-AzureKeyVaultKey

SO := target/release/libshieldhsm.so
BIN := target/release/shieldhsm
VERSION := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n1)

INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" LIBDIR="$(LIBDIR)" INCLUDEDIR="$(INCLUDEDIR)" \
	BINDIR="$(BINDIR)" PKGCONFIGDIR="$(PKGCONFIGDIR)" P11KIT_MODULE_DIR="$(P11KIT_MODULE_DIR)" \
	TOOLDIR="$(TOOLDIR)" NFAST_HOME="$(INSTALL_NFAST_HOME)" SO="$(SO)" BIN="$(BIN)" \
	HEADER="include/shieldhsm.h" PC_IN="packaging/shieldhsm.pc.in" VERSION="$(VERSION)" \
	TOOLS="$(TOOLS)"

.PHONY: all build install uninstall install-check show-paths

all: build

build:
	$(CARGO) build --release

# Built only if missing: `sudo make install` after `make` does not run cargo as root.
$(SO) $(BIN) &:
	$(CARGO) build --release

install: $(SO) $(BIN)
	@$(INSTALL_ENV) sh packaging/install.sh install

uninstall:
	@$(INSTALL_ENV) sh packaging/install.sh uninstall

show-paths:
	@$(INSTALL_ENV) sh packaging/install.sh list

install-check:
	tests/install-check.sh
