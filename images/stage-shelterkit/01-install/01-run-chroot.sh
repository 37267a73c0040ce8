#!/bin/bash -e
# pi-gen, inside the image: the shelterkit user, a virtual environment with exactly the
# locked dependencies (every file checked against its hash), and the units enabled.
if ! getent passwd shelterkit >/dev/null; then
  adduser --system --group --home /var/lib/shelterkit --no-create-home shelterkit
fi
adduser shelterkit dialout

python3 -m venv /opt/shelterkit/.venv
# Wheels only, except cobs, which PyPI has as source only (built here: build-essential,
# python3-dev). pip checks every downloaded file against the lock's SHA-256.
/opt/shelterkit/.venv/bin/pip install --no-cache-dir --require-hashes \
  --only-binary=:all: --no-binary=cobs -r /opt/shelterkit/requirements.lock
/opt/shelterkit/.venv/bin/pip install --no-cache-dir --no-deps /opt/shelterkit/wheels/shelterkit-*.whl
/opt/shelterkit/.venv/bin/pip check

# Debian ships hostapd masked until it has a configuration: the bundle brings one
systemctl unmask hostapd.service
systemctl enable hostapd.service dnsmasq.service nftables.service avahi-daemon.service
systemctl enable shelterkit-node.service shelterkit-net.service shelterkit-firstboot.service
