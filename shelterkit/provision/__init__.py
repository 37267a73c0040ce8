"""Provisioning at city hall: an inventory in, one bundle per shelter out.

The bundle format is described in docs/provisioning.md.
"""

from shelterkit.provision.fleet import ProvisionReport, provision
from shelterkit.provision.inventory import Backhaul, Shelter, read_inventory
from shelterkit.provision.sheet import wifi_uri

__all__ = ["Backhaul", "ProvisionReport", "Shelter", "provision", "read_inventory", "wifi_uri"]
