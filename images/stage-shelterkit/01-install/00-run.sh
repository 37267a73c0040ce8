#!/bin/bash -e
# pi-gen, on the build host: put the locked dependency set, shelterkit's wheel, the units
# and the first-boot script into the image. SHELTERKIT_SRC is the repository (default: the
# one this stage lives in).
src="${SHELTERKIT_SRC:-$(cd ../../.. && pwd)}"
files="$(cd ../files && pwd)"
stage="${ROOTFS_DIR}/opt/shelterkit"

install -d -m 0755 "${stage}" "${stage}/wheels" "${stage}/docs"
rm -f "${stage}/wheels/"shelterkit-*.whl
python3 -m pip wheel --no-deps --wheel-dir "${stage}/wheels" "${src}"
install -m 0644 "${src}/images/requirements.lock" "${stage}/requirements.lock"
install -m 0644 "${src}/docs/"*.md "${stage}/docs/"

install -m 0644 "${src}/systemd/shelterkit-node.service" "${ROOTFS_DIR}/etc/systemd/system/"
install -d -m 0755 "${ROOTFS_DIR}/etc/systemd/system/shelterkit-node.service.d"
install -m 0644 "${files}/shelterkit-node-image.conf" \
  "${ROOTFS_DIR}/etc/systemd/system/shelterkit-node.service.d/image.conf"
install -m 0644 "${files}/shelterkit-firstboot.service" "${ROOTFS_DIR}/etc/systemd/system/"
install -m 0644 "${files}/shelterkit-net.service" "${ROOTFS_DIR}/etc/systemd/system/"
install -d -m 0755 "${ROOTFS_DIR}/etc/NetworkManager/conf.d"
install -m 0644 "${files}/networkmanager-shelterkit.conf" \
  "${ROOTFS_DIR}/etc/NetworkManager/conf.d/shelterkit.conf"
install -m 0755 "${files}/shelterkit-firstboot" "${ROOTFS_DIR}/usr/local/sbin/"
