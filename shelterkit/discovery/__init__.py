"""Finding peers on the LAN: zeroconf advertise/browse of ``_shelterkit._tcp``.

``ads`` and ``table`` are pure (TXT fields, addresses, the bounded peer table); ``lan`` is
the zeroconf edge that advertises the peer listener and feeds the sync scheduler.
"""

from shelterkit.discovery.ads import (
    SERVICE_TYPE,
    AdvertisementError,
    LocalAddress,
    PeerAd,
    advertised_addresses,
    parse_txt,
    peer_url,
)
from shelterkit.discovery.table import (
    ADVERTISE_TTL_S,
    MAX_DISCOVERED_PEERS,
    Outcome,
    PeerTable,
)

__all__ = [
    "ADVERTISE_TTL_S",
    "MAX_DISCOVERED_PEERS",
    "SERVICE_TYPE",
    "AdvertisementError",
    "LocalAddress",
    "Outcome",
    "PeerAd",
    "PeerTable",
    "advertised_addresses",
    "parse_txt",
    "peer_url",
]
