#!/bin/sh
# packaging/install.sh install|uninstall|list — the body of `make install` / `make uninstall`.
# The Makefile passes every path in the environment (final paths, without DESTDIR):
#   DESTDIR PREFIX LIBDIR INCLUDEDIR BINDIR PKGCONFIGDIR P11KIT_MODULE_DIR TOOLDIR NFAST_HOME
#   SO BIN HEADER PC_IN VERSION TOOLS
# NFAST_HOME is empty unless the nShield layout was asked for (then TOOLDIR is $NFAST_HOME/bin
# and $NFAST_HOME/toolkits/pkcs11/libcknfast.so links to the library, where nShield has it).
#
# Links point at final paths (relative where both ends are known), never into DESTDIR.
# Directories `install` had to create are recorded in $PREFIX/lib/shieldhsm/make-install.dirs;
# `uninstall` removes exactly the files and links below, then those directories if empty, and
# never a directory that existed before (/usr/include, /usr/bin, ...). With DESTDIR (a staging
# tree) nothing is recorded, and uninstall removes the tree's emptied directories.
set -eu

action=${1:?usage: install.sh install|uninstall|list}
D=${DESTDIR:-}
MANIFEST=$PREFIX/lib/shieldhsm/make-install.dirs

say() { printf '  %-9s %s\n' "$1" "$2"; }

# The nShield tool names must never land in a system command directory.
case "$TOOLDIR" in
    "$BINDIR" | "$PREFIX/bin" | "$PREFIX/sbin" | /bin | /sbin | /usr/bin | /usr/sbin | /usr/local/bin | /usr/local/sbin)
        echo "install.sh: refusing TOOLDIR=$TOOLDIR: the nShield tool names (enquiry, preload, ...) need their own directory" >&2
        exit 1
        ;;
esac
for v in PREFIX LIBDIR INCLUDEDIR BINDIR PKGCONFIGDIR P11KIT_MODULE_DIR TOOLDIR; do
    eval "p=\$$v"
    case "$p" in
        /*) ;;
        *) echo "install.sh: $v=$p is not an absolute path" >&2; exit 1 ;;
    esac
done

# rel FROM_DIR TO_FILE: TO_FILE relative to FROM_DIR when both are inside PREFIX (the link then
# also works inside a DESTDIR tree), else its absolute final path (/opt/nfast/bin -> /usr/bin).
rel() {
    case "$1/" in
        "$PREFIX"/*)
            case "$2" in
                "$PREFIX"/*)
                    realpath -m --relative-to="$1" "$2" 2> /dev/null && return
                    ;;
            esac
            ;;
    esac
    printf '%s\n' "$2"
}

# Everything install puts in place, one "kind final-path [link-target]" a line.
entries() {
    echo "file $LIBDIR/libshieldhsm.so"
    echo "link $LIBDIR/libcknfast.so libshieldhsm.so"
    echo "file $INCLUDEDIR/shieldhsm.h"
    echo "file $PKGCONFIGDIR/shieldhsm.pc"
    echo "file $P11KIT_MODULE_DIR/shieldhsm.module"
    echo "file $BINDIR/shieldhsm"
    target=$(rel "$TOOLDIR" "$BINDIR/shieldhsm")
    for t in $TOOLS; do
        echo "link $TOOLDIR/$t $target"
    done
    if [ -n "${NFAST_HOME:-}" ]; then
        echo "link $NFAST_HOME/toolkits/pkcs11/libcknfast.so $(rel "$NFAST_HOME/toolkits/pkcs11" "$LIBDIR/libshieldhsm.so")"
    fi
}

CREATED=""
# mkdirs DIR...: creates DIRs (final paths, under DESTDIR), remembering each level it made.
mkdirs() {
    for d in "$@"; do
        p=$d
        while [ "$p" != / ] && [ ! -d "$D$p" ]; do
            CREATED="$CREATED$p
"
            p=$(dirname "$p")
        done
        mkdir -p "$D$d"
    done
}

do_install() {
    for f in "$SO" "$BIN" "$HEADER" "$PC_IN"; do
        [ -f "$f" ] || { echo "install.sh: $f is missing (run \`make\` first)" >&2; exit 1; }
    done
    mkdirs "$LIBDIR" "$INCLUDEDIR" "$PKGCONFIGDIR" "$P11KIT_MODULE_DIR" "$BINDIR" "$TOOLDIR" "$PREFIX/lib/shieldhsm"
    [ -z "${NFAST_HOME:-}" ] || mkdirs "$NFAST_HOME/toolkits/pkcs11"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LIBDIR@|$LIBDIR|g" -e "s|@INCLUDEDIR@|$INCLUDEDIR|g" \
        -e "s|@BINDIR@|$BINDIR|g" -e "s|@TOOLDIR@|$TOOLDIR|g" -e "s|@VERSION@|$VERSION|g" \
        -e "s|@P11KIT_MODULE_DIR@|$P11KIT_MODULE_DIR|g" "$PC_IN" > "$tmp/shieldhsm.pc"
    {
        echo "# shieldhsm: PKCS#11 module of an emulated nShield HSM (installed by make install)."
        echo "# critical: no -- a consumer keeps working if this module cannot be loaded."
        echo "module: $LIBDIR/libshieldhsm.so"
        echo "critical: no"
    } > "$tmp/shieldhsm.module"
    install -m 0644 "$SO" "$D$LIBDIR/libshieldhsm.so"
    install -m 0644 "$HEADER" "$D$INCLUDEDIR/shieldhsm.h"
    install -m 0644 "$tmp/shieldhsm.pc" "$D$PKGCONFIGDIR/shieldhsm.pc"
    install -m 0644 "$tmp/shieldhsm.module" "$D$P11KIT_MODULE_DIR/shieldhsm.module"
    install -m 0755 "$BIN" "$D$BINDIR/shieldhsm"
    entries | while read -r kind path target; do
        case $kind in
            file) say install "$D$path" ;;
            link)
                # Replace an old link, never a real file someone else put there.
                if [ -e "$D$path" ] && [ ! -L "$D$path" ]; then
                    echo "install.sh: $D$path exists and is not a symlink; not replacing it" >&2
                    exit 1
                fi
                ln -sfn "$target" "$D$path"
                say link "$D$path -> $target"
                ;;
        esac
    done
    # Directories made by this and earlier installs, for uninstall. Not in a DESTDIR tree: what
    # was missing from a staging tree says nothing about the system it is unpacked on.
    if [ -z "$D" ]; then
        {
            [ ! -f "$MANIFEST" ] || cat "$MANIFEST"
            printf '%s' "$CREATED"
        } | sed '/^$/d' | sort -u > "$tmp/dirs"
        install -m 0644 "$tmp/dirs" "$MANIFEST"
        say install "$MANIFEST"
    fi
}

do_uninstall() {
    entries | while read -r kind path target; do
        case $kind in
            file)
                if [ -f "$D$path" ] && [ ! -L "$D$path" ]; then
                    rm -f "$D$path"
                    say remove "$D$path"
                fi
                ;;
            link)
                # Only a link that is ours (same target).
                if [ -L "$D$path" ] && [ "$(readlink "$D$path")" = "$target" ]; then
                    rm -f "$D$path"
                    say remove "$D$path"
                fi
                ;;
        esac
    done
    dirs=""
    if [ -z "$D" ]; then
        if [ -f "$MANIFEST" ]; then
            dirs=$(cat "$MANIFEST")
            rm -f "$MANIFEST"
            say remove "$MANIFEST"
        fi
    else
        # A staging tree is ours: every directory above what we installed, up to DESTDIR.
        dirs=$(entries | while read -r _ path _; do
            p=$(dirname "$path")
            while [ "$p" != / ]; do
                echo "$p"
                p=$(dirname "$p")
            done
        done)
    fi
    # Deepest first (a child sorts after its parent); only directories install created, and
    # only when empty. Our own directory goes too when empty.
    printf '%s\n%s\n' "$dirs" "$PREFIX/lib/shieldhsm" | sed '/^$/d' | sort -ru | while read -r d; do
        if [ -d "$D$d" ] && rmdir "$D$d" 2> /dev/null; then
            say rmdir "$D$d"
        fi
    done
}

case $action in
    install) do_install ;;
    uninstall) do_uninstall ;;
    list) entries ;;
    *) echo "usage: install.sh install|uninstall|list" >&2; exit 2 ;;
esac
