"""Bearer tokens: what a JWT must prove before its claims become the actor.

Pure checks of `laurel.auth` (no sockets); the matrix test shows the same
authenticator refusing expired and forged tokens over real gRPC.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from laurel.auth import (
    JwtAuthenticator,
    authenticator_for,
    dev_token,
    key_id,
    load_public_keys,
    mint_token,
    service_actor,
)
from laurel.config import ConfigError, load_settings
from laurel.envelope import Actor
from laurel.errors import Unauthenticated
from laurel.runtime import secured_server

ISSUER, AUDIENCE = "https://auth.laurel.test", "laurel"
NOMINATOR = Actor("nominator-7", "nominator", "zhengzhou-peoples")


def pem(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def signer() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def verifier(signer: Any) -> JwtAuthenticator:
    return JwtAuthenticator({key_id(signer.public_key()): signer.public_key()},
                            ISSUER, AUDIENCE)


def headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "x-correlation-id": "corr-9"}


def claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "nominator-7", "role": "nominator",
            "org": "zhengzhou-peoples", "iat": now, "exp": now + timedelta(minutes=5)}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_a_valid_token_names_the_actor_and_keeps_the_correlation_id(
        verifier: JwtAuthenticator, signer: Any) -> None:
    token = mint_token(signer, NOMINATOR, issuer=ISSUER, audience=AUDIENCE)
    request = verifier.authenticate(headers(token))
    assert request.actor == NOMINATOR and request.correlation_id == "corr-9"


def test_rs256_keys_work_too(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pem").write_bytes(pem(key))
    verifier = authenticator_for(False, [tmp_path / "rsa.pem"], ISSUER, AUDIENCE)
    token = mint_token(key, NOMINATOR, issuer=ISSUER, audience=AUDIENCE)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert verifier.authenticate(headers(token)).actor == NOMINATOR


@pytest.mark.parametrize(("change", "message"), [
    ({"exp": datetime.now(UTC) - timedelta(minutes=5)}, "expired"),
    ({"nbf": datetime.now(UTC) + timedelta(hours=1)}, "not valid yet"),
    ({"aud": "someone-else"}, "audience"),
    ({"iss": "https://evil.test"}, "issuer"),
    ({"exp": None}, "'exp'"),
    ({"sub": None}, "'sub'"),
    ({"role": "superuser"}, "role claim"),
    ({"role": "service"}, "service identities"),
    ({"sub": "service:intake", "role": "organizer"}, "service identities"),
])
def test_claims_that_do_not_hold_are_refused(
        verifier: JwtAuthenticator, signer: Any, change: dict, message: str) -> None:
    token = jwt.encode(claims(**change), signer, algorithm="EdDSA")
    with pytest.raises(Unauthenticated, match=message):
        verifier.authenticate(headers(token))


def test_a_service_identity_is_its_own_actor(verifier: JwtAuthenticator, signer: Any) -> None:
    token = mint_token(signer, service_actor("notification"), issuer=ISSUER,
                       audience=AUDIENCE)
    actor = verifier.authenticate(headers(token)).actor
    assert (actor.id, actor.role) == ("service:notification", "service")


def test_forged_unsigned_and_hmac_tokens_are_refused(
        verifier: JwtAuthenticator, signer: Any) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    forged = jwt.encode(claims(), other, algorithm="EdDSA",
                        headers={"kid": key_id(signer.public_key())})
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims(
        iat=0, exp=2**33)).encode()).rstrip(b"=")
    unsigned = f"{header.decode()}.{body.decode()}."
    # Algorithm confusion: the public key's PEM used as an HMAC secret.
    hmac = _hmac_token(pem(signer))
    for token in (forged, unsigned, hmac, "not-a-jwt", "a.b.c"):
        with pytest.raises(Unauthenticated):
            verifier.authenticate(headers(token))


def _hmac_token(secret: bytes) -> str:
    import hashlib
    import hmac as hmac_module

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims(iat=0, exp=2**33))}"
    signature = base64.urlsafe_b64encode(hmac_module.new(
        secret, signing_input.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"{signing_input}.{signature}"


def test_development_tokens_need_development_mode(signer: Any, tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_bytes(pem(signer))
    production = authenticator_for(False, [tmp_path / "k.pem"], ISSUER, AUDIENCE)
    with pytest.raises(Unauthenticated, match="LAUREL_ENV=development"):
        production.authenticate(headers(dev_token(NOMINATOR)))
    development = authenticator_for(True, [tmp_path / "k.pem"], ISSUER, AUDIENCE)
    assert development.authenticate(headers(dev_token(NOMINATOR))).actor == NOMINATOR
    jwt_token = mint_token(signer, NOMINATOR, issuer=ISSUER, audience=AUDIENCE)
    assert development.authenticate(headers(jwt_token)).actor == NOMINATOR


def test_outside_development_a_service_without_jwt_settings_does_not_start(
        tmp_path: Path, signer: Any) -> None:
    with pytest.raises(ConfigError, match="LAUREL_JWT_PUBLIC_KEY_FILE"):
        authenticator_for(False)
    (tmp_path / "k.pem").write_bytes(pem(signer))
    with pytest.raises(ConfigError, match="LAUREL_JWT_ISSUER"):
        authenticator_for(False, [tmp_path / "k.pem"])
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="no PEM public key"):
        authenticator_for(False, [tmp_path / "junk.pem"], ISSUER, AUDIENCE)


def test_settings_name_missing_key_and_certificate_files(tmp_path: Path) -> None:
    base = {"LAUREL_KAFKA_BOOTSTRAP": "127.0.0.1:9092"}
    with pytest.raises(ConfigError, match="LAUREL_JWT_PUBLIC_KEY_FILE"):
        authenticator_for(False, [tmp_path / "missing.pem"], ISSUER, AUDIENCE)
    settings = load_settings("intake", {
        **base, "LAUREL_TLS_CERT_FILE": str(tmp_path / "c.pem"),
        "LAUREL_TLS_KEY_FILE": str(tmp_path / "k.pem"), "LAUREL_ENV": "development"})
    with pytest.raises(ConfigError, match="is not a readable file"):
        secured_server("intake", True, settings.security, "127.0.0.1:0",
                       lambda server: None, [])
    with pytest.raises(ConfigError, match="go together"):
        load_settings("intake", {**base, "LAUREL_TLS_CERT_FILE": str(tmp_path / "c")})
    with pytest.raises(ConfigError,
                       match="LAUREL_GRPC_MAX_MESSAGE_BYTES=.10.: must be at least 1024"):
        load_settings("intake", {**base, "LAUREL_GRPC_MAX_MESSAGE_BYTES": "10"})


def test_a_json_web_key_set_names_the_keys(tmp_path: Path, signer: Any) -> None:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(signer.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [
        {**jwk, "kid": "issuer-2021", "use": "sig", "alg": "EdDSA"}]}))
    verifier = authenticator_for(False, [tmp_path / "jwks.json"], ISSUER, AUDIENCE)
    token = mint_token(signer, NOMINATOR, issuer=ISSUER, audience=AUDIENCE)
    assert verifier.authenticate(headers(token)).actor == NOMINATOR
    assert list(verifier.keys) == ["issuer-2021"]


def test_several_keys_in_one_file_allow_rotation(tmp_path: Path) -> None:
    old, new = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "keys.pem").write_bytes(pem(old) + pem(new))
    assert set(load_public_keys([tmp_path / "keys.pem"])) == {
        key_id(old.public_key()), key_id(new.public_key())}
    verifier = authenticator_for(False, [tmp_path / "keys.pem"], ISSUER, AUDIENCE)
    for key in (old, new):
        token = mint_token(key, NOMINATOR, issuer=ISSUER, audience=AUDIENCE)
        assert verifier.authenticate(headers(token)).actor == NOMINATOR
