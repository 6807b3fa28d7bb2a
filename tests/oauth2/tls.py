"""A throwaway certificate authority for one test: a CA and a certificate for 127.0.0.1 it
signs, made with ``cryptography``, so a loopback server can serve https that the server-side
fetcher verifies as it verifies any other (name and chain), trusted through OpenSSL's standard
``SSL_CERT_FILE`` rather than through any switch in the fetcher."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.oauth2.servers import LoopbackServer, loopback_server


@dataclass(frozen=True)
class ThrowawayCA:
    ca_file: Path  # the CA certificate (PEM): what a client trusts
    server_context: ssl.SSLContext  # serves the certificate for 127.0.0.1 it signed


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path) -> ThrowawayCA:
    """A CA and a server certificate for ``127.0.0.1`` (an IP subject alternative name),
    valid for an hour, with the extensions strict X.509 verification (Python 3.13's default)
    asks for."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("beep-iam throwaway test CA"))
        .issuer_name(_name("beep-iam throwaway test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "throwaway-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = directory / "127.0.0.1.pem"
    chain.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return ThrowawayCA(ca_file=ca_file, server_context=context)


@contextmanager
def trusted_https_server(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LoopbackServer]:
    """A loopback https server whose certificate chains to a throwaway CA that this process
    trusts for the test (``SSL_CERT_FILE``, read by OpenSSL for every default context)."""
    authority = make_ca(directory)
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_file))
    with loopback_server(authority.server_context) as server:
        yield server
