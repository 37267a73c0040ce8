#!/bin/bash -e
# pi-gen, on the build host: data partition in fstab, hardware watchdog, and the root left
# at its built size so that the first boot can put the data partition after it.
files="$(cd ../files && pwd)"
boot="${ROOTFS_DIR}/boot/firmware"

if ! grep -q 'LABEL=shelterkit-data' "${ROOTFS_DIR}/etc/fstab"; then
  cat "${files}/fstab-data" >>"${ROOTFS_DIR}/etc/fstab"
fi
install -d -m 0755 "${ROOTFS_DIR}/var/lib/shelterkit"

# the hardware watchdog: the firmware enables it, systemd pets it
if ! grep -q '^dtparam=watchdog=on' "${boot}/config.txt"; then
  printf '\n# shelterkit: hardware watchdog (bcm2835_wdt)\ndtparam=watchdog=on\n' >>"${boot}/config.txt"
fi
install -d -m 0755 "${ROOTFS_DIR}/etc/systemd/system.conf.d"
install -m 0644 "${files}/shelterkit-watchdog.conf" \
  "${ROOTFS_DIR}/etc/systemd/system.conf.d/shelterkit-watchdog.conf"

# Raspberry Pi OS grows the root partition over the whole card on first boot
# (init=/usr/lib/raspberrypi-sys-mods/firstboot); the data partition needs that space
sed -i 's# init=/usr/lib/raspberrypi-sys-mods/firstboot##' "${boot}/cmdline.txt"

# where city hall puts the bundle
install -d -m 0755 "${boot}/shelterkit"
