#!/bin/bash
# Installs the daedalus module sources as a DKMS tree and registers them:
#   sudo kmod/dkms/mkdkms.sh            # then: sudo dkms install daedalus/0.1.0
# Run from anywhere inside the repository.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$root/kmod/dkms/dkms.conf")
dest=/usr/src/daedalus-$version
if [ -e "$dest" ]; then
    echo "mkdkms: $dest exists; remove it first (dkms remove daedalus/$version --all)" >&2
    exit 1
fi
mkdir -p "$dest/kmod/core" "$dest/proto"
cp "$root"/kmod/{Kbuild,Makefile,*.rs,*.c,*.h} "$dest/kmod/"
cp -r "$root/kmod/core/src" "$dest/kmod/core/"
cp -r "$root/proto/src" "$dest/proto/"
cp "$root/kmod/dkms/dkms.conf" "$dest/"
dkms add "daedalus/$version"
echo "mkdkms: registered daedalus/$version; now run: dkms install daedalus/$version"
