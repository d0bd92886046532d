"""Mutual TLS for the peer transport, as etcd does it: a cluster CA signs every member's certificate.

A TLS directory holds `ca.crt` (the cluster CA), `tls.crt` and `tls.key` (this
member's certificate and key): the names of a Kubernetes TLS Secret plus its
CA, so a Secret mounted as a volume is such a directory. Both ends present
their certificate and both verify the other's against the cluster CA. Any
certificate the CA signed is a member (etcd's `--peer-client-cert-auth` with
a dedicated CA), so host names are not checked: peers are dialled by IP,
pod DNS name or a nemesis proxy address. Keep the CA key off the nodes;
`create_ca` and `issue` are for `splitbrain cluster up`, the tests and the
Kubernetes Secret's generator.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

CA_CERT, CERT, KEY = "ca.crt", "tls.crt", "tls.key"
CA_KEY = "ca.key"  # only in the directory the CA was created in
_VALID = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class PeerTLS:
    ca: Path
    cert: Path
    key: Path

    @classmethod
    def from_dir(cls, directory) -> "PeerTLS":
        d = Path(directory)
        missing = [n for n in (CA_CERT, CERT, KEY) if not (d / n).is_file()]
        if missing:
            raise ValueError(f"{d}: no {', '.join(missing)} (a peer TLS directory holds {CA_CERT}, {CERT}, {KEY})")
        return cls(d / CA_CERT, d / CERT, d / KEY)

    def _context(self, purpose: int) -> ssl.SSLContext:
        ctx = ssl.SSLContext(purpose)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert, self.key)
            ctx.load_verify_locations(self.ca)
        except (ssl.SSLError, OSError) as e:
            raise ValueError(f"peer TLS: cannot load {self.cert.parent}: {e}") from None
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def server_context(self) -> ssl.SSLContext:
        return self._context(ssl.PROTOCOL_TLS_SERVER)

    def client_context(self) -> ssl.SSLContext:
        return self._context(ssl.PROTOCOL_TLS_CLIENT)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_ca(directory, name: str = "splitbrain cluster CA") -> Path:
    """A new CA in `directory` (ca.crt, ca.key); -> the directory."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives import serialization
    (d / CA_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(d / CA_KEY, _key_pem(key))
    return d


def issue(ca_dir, out_dir, name: str, hosts=()) -> PeerTLS:
    """A member certificate signed by the CA in `ca_dir`, written with the CA's certificate into `out_dir`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_dir, out = Path(ca_dir), Path(out_dir)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / CA_CERT).read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / CA_KEY).read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    sans = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + _VALID)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                     ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    out.mkdir(parents=True, exist_ok=True)
    (out / CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(out / KEY, _key_pem(key))
    if out.resolve() != ca_dir.resolve():
        (out / CA_CERT).write_bytes((ca_dir / CA_CERT).read_bytes())
    return PeerTLS.from_dir(out)
