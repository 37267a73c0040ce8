"""shelterkit: an offline-capable communications kit for disaster shelters."""

__version__ = "0.1.0"
