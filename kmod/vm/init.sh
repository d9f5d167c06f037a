#!/bin/sh
# PID 1 of the test guest (busybox). Puts the host's root (virtio-9p, read-only) under a tmpfs
# overlay, adds the guest kernel's modules and the daedalus files, and runs the suite there.
# Every line the harness cares about starts with @@.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "@@LOG guest up after $(cut -d' ' -f1 /proc/uptime) s of uptime"
fail() {
    echo "@@RESULT guest-setup FAIL $*"
    echo "@@DONE"
    reboot -f
}
mkdir -p /lower /rw
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower ||
    fail "cannot mount the host root over virtio-9p"
mount -t tmpfs -o size=1G rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
    fail "cannot mount the overlay root"
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/shm /newroot/dev/pts
mount -t tmpfs shm /newroot/dev/shm
# /tmp and /run stay on the overlay (its upper layer is tmpfs already): a tmpfs mounted there
# would hide a workspace or target directory under the host's /tmp from the guest.
mkdir -p /newroot/lib/modules /newroot/daedalus
cp -a /lib/modules/. /newroot/lib/modules/ || fail "cannot install the guest kernel modules"
cp -a /daedalus/. /newroot/daedalus/ || fail "cannot install the daedalus files"
chroot /newroot /bin/bash /daedalus/guest-suite.sh
echo "@@LOG suite exited with status $?"
echo "@@DONE"
reboot -f
