"""Pure data model: the signed record envelope, its kinds, clock, trust and folding.

Standard library plus cbor2 and PyNaCl only; no I/O (a test checks this).
"""
