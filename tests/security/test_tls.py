"""gRPC over TLS, and mutual TLS, with a throwaway CA made in the test.

With LAUREL_TLS_* set a service listens for TLS only: a plaintext client gets
no answer, a client trusting the CA gets one; with a client CA, a client must
also present a certificate that CA signed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from laurel.grpcutil import client_channel
from laurel.intake.v1 import intake_pb2 as pb
from laurel.intake.v1 import intake_pb2_grpc


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def credentials(self, with_client_cert: bool = False) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.client_key.read_bytes() if with_client_cert else None,
            certificate_chain=self.client_cert.read_bytes() if with_client_cert else None,
        )


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(subject: str, key: Any, issuer: Any, issuer_key: Any, *, ca: bool = False,
           usage: Any = None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject))
               .issuer_name(issuer.subject if issuer else _name(subject))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=1))
               .not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate | None = None, key: Any = None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("laurel test CA", ca_key, None, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), \
        ec.generate_private_key(ec.SECP256R1())
    server = _issue("intake", server_key, ca, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _issue("service:scoring", client_key, ca, ca_key,
                    usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(_write(folder / "ca.pem", ca), _write(folder / "server.pem", server),
               _write(folder / "server.key", key=server_key),
               _write(folder / "client.pem", client),
               _write(folder / "client.key", key=client_key))


async def _serving(channel: grpc.aio.Channel) -> bool:
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2)
    except grpc.aio.AioRpcError as error:
        assert error.code() in (grpc.StatusCode.UNAVAILABLE,
                                grpc.StatusCode.DEADLINE_EXCEEDED), error
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def _intake(serve: Any, pki: Pki, mutual: bool) -> Any:
    extra = {"LAUREL_TLS_CERT_FILE": str(pki.server_cert),
             "LAUREL_TLS_KEY_FILE": str(pki.server_key)}
    if mutual:
        extra["LAUREL_TLS_CA_FILE"] = str(pki.ca)
    return await serve(("intake",), **extra)


async def test_with_tls_a_plaintext_client_is_refused_and_a_tls_client_served(
        keys: Any, serve: Any, pki: Pki) -> None:
    served = await _intake(serve, pki, mutual=False)
    address = f"localhost:{served.servers['intake'].port}"
    plain = client_channel(address)
    assert not await _serving(plain)
    await plain.close()

    secure = client_channel(address, pki.credentials())
    assert await _serving(secure)
    with pytest.raises(grpc.aio.AioRpcError) as raised:  # authenticated, then NOT_FOUND
        await intake_pb2_grpc.IntakeServiceStub(secure).GetOrganization(
            pb.GetOrganizationRequest(organization_id="nowhere"),
            metadata=keys.metadata("organizer"), timeout=5)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    await secure.close()

    untrusting = client_channel(address, grpc.ssl_channel_credentials())
    assert not await _serving(untrusting)  # the system roots do not know our CA
    await untrusting.close()


async def test_mutual_tls_requires_a_client_certificate_from_the_ca(
        serve: Any, pki: Pki) -> None:
    served = await _intake(serve, pki, mutual=True)
    address = f"localhost:{served.servers['intake'].port}"
    anonymous = client_channel(address, pki.credentials(with_client_cert=False))
    assert not await _serving(anonymous)
    await anonymous.close()
    certified = client_channel(address, pki.credentials(with_client_cert=True))
    assert await _serving(certified)
    await certified.close()
