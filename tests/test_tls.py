"""`herald serve` over TLS: a real server, a certificate the test makes, clients that trust it."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from certificates import self_signed, trusting
from support import ServerProcess, failed_start, headers


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def tls_server(tmp_path: Path, certificate: tuple[Path, Path], *args: str) -> ServerProcess:
    cert, key = certificate
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    flags = ("--ssl-certfile", str(cert), "--ssl-keyfile", str(key), *args)
    return ServerProcess(store, tmp_path, *flags, tls=trusting(cert))


def trust(server: ServerProcess) -> ssl.SSLContext:
    """The context that trusts the server's certificate."""
    assert server.tls is not None
    return server.tls


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_client_trusting_the_certificate_speaks_https(
    tmp_path: Path, certificate: tuple[Path, Path], workers: str
) -> None:
    server = tls_server(tmp_path, certificate, "--workers", workers).start()
    try:
        assert server.url.startswith("https://")
        with httpx.Client(base_url=server.url, headers=headers(), verify=trust(server)) as client:
            posted = client.post(
                "/v2/queues/q/messages", json={"messages": [{"body": {"over": "tls"}}]}
            )
            assert posted.status_code == 201
            listed = client.get("/v2/queues/q/messages", params={"echo": "true"})
            assert [m["body"] for m in listed.json()["messages"]] == [{"over": "tls"}]
            # hrefs are paths, so they are right whatever the scheme.
            assert posted.json()["resources"][0].startswith("/v2/queues/q/messages/")
    finally:
        assert server.stop() == 0
    assert f"serving https://127.0.0.1:{server.port}/" in server.log.read_text()


def test_plain_http_to_the_tls_port_gets_no_answer(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    server = tls_server(tmp_path, certificate).start()
    try:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.port}/", timeout=5)
        # The server is unharmed by it.
        assert httpx.get(server.url + "/", verify=trust(server), timeout=5).status_code == 300
    finally:
        assert server.stop() == 0


def test_a_client_that_does_not_trust_the_certificate_refuses_it(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    server = tls_server(tmp_path, certificate).start()
    try:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(server.url + "/", verify=ssl.create_default_context(), timeout=5)
    finally:
        assert server.stop() == 0


def test_without_tls_the_banner_says_http(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'h.sqlite3'}", tmp_path).start()
    assert server.stop() == 0
    assert f"serving http://127.0.0.1:{server.port}/" in server.log.read_text()


def bad_tls_files(tmp_path: Path) -> list[tuple[list[str], str]]:
    cert, key = self_signed(tmp_path)
    other_cert, _ = self_signed(tmp_path, "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(_encrypted_copy(key))
    missing = str(tmp_path / "missing.pem")
    return [
        (["--ssl-certfile", str(cert)], "ssl_certfile and ssl_keyfile go together"),
        (["--ssl-keyfile", str(key)], "ssl_certfile and ssl_keyfile go together"),
        (["--ssl-certfile", missing, "--ssl-keyfile", str(key)], "cannot read ssl_certfile"),
        (["--ssl-certfile", str(cert), "--ssl-keyfile", missing], "cannot read ssl_keyfile"),
        (["--ssl-certfile", str(garbage), "--ssl-keyfile", str(key)], "are not a PEM certificate"),
        (["--ssl-certfile", str(other_cert), "--ssl-keyfile", str(key)], "are not a PEM"),
        (["--ssl-certfile", str(cert), "--ssl-keyfile", str(encrypted)], "unencrypted private"),
    ]


def _encrypted_copy(key_path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )


def test_unusable_tls_settings_stop_start_up_with_one_line(tmp_path: Path) -> None:
    for args, named in bad_tls_files(tmp_path):
        code, output = failed_start(tmp_path, *args)
        assert code == 2, output
        assert len(output.strip().splitlines()) == 1, output
        assert named in output and "serving" not in output, output


def test_tls_settings_come_from_the_environment_too(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    code, output = failed_start(tmp_path, env={"HERALD_SSL_CERTFILE": str(cert)})
    assert code == 2
    assert "ssl_certfile and ssl_keyfile go together" in output
