"""Regenerate the XML-signed CAP test files (run by hand; the outputs are committed).

    .venv/bin/python -m tests.alerts.make_signed_cap

Signs ``good/03-landslide-circle.xml`` (as a new identifier) with a fresh self-signed
city-hall test certificate (ECDSA P-256, enveloped XML-DSig), and writes a copy whose
headline was changed after signing: the broken signature of the bad-input corpus.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

DATA = Path(__file__).resolve().parents[1] / "data" / "cap"


def city_signer(start: datetime.datetime, days: int) -> tuple[bytes, bytes]:
    """A fresh self-signed city-hall test certificate valid from ``start`` for ``days``:
    (certificate PEM, private key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nasukarasuyama City (test)"),
            x509.NameAttribute(NameOID.COMMON_NAME, "bousai@city.nasukarasuyama.lg.jp"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def sign_xml(xml: bytes, cert_pem: bytes, key_pem: bytes) -> bytes:
    """``xml`` with an enveloped XML signature (ECDSA P-256) by that certificate."""
    root = etree.fromstring(xml, etree.XMLParser(remove_blank_text=True))
    signed = XMLSigner(signature_algorithm="ecdsa-sha256").sign(
        root, key=key_pem, cert=cert_pem.decode()
    )
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


def main() -> None:
    cert_pem, key_pem = city_signer(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), 3650)
    source = (DATA / "good" / "03-landslide-circle.xml").read_bytes()
    source = source.replace(b"JP-09215-20270115-0003", b"JP-09215-20270115-0103")
    out = sign_xml(source, cert_pem, key_pem)
    (DATA / "signed" / "city-test-cert.pem").write_bytes(cert_pem)
    (DATA / "signed" / "10-landslide-signed.xml").write_bytes(out)
    broken = out.replace("県道で土砂崩れ".encode(), "県道で土砂崩れ（改ざん）".encode())
    assert broken != out
    (DATA / "bad" / "broken-signature.xml").write_bytes(broken)


if __name__ == "__main__":
    main()
