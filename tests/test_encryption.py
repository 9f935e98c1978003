"""The body cipher, the encryption settings and what a server without its key does."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import msgspec
import pytest

from herald import errors
from herald.config import ConfigError, load_settings, settings_environ
from herald.model import StoredMessage
from herald.service.encryption import BodyCipher
from support import failed_start, headers, running_app

KEY = os.urandom(32)
OTHER = os.urandom(32)
BODY = msgspec.Raw(b'{"order":42,"items":["a","b"]}')


def text(key: bytes) -> str:
    return base64.b64encode(key).decode()


def stored(body: msgspec.Raw, message_id: str = "7") -> StoredMessage:
    return StoredMessage(message_id, body, 300, 0.0, None, 0)


def opened(cipher: BodyCipher, body: msgspec.Raw, project: str = "p") -> bytes:
    return bytes(cipher.open(project, "q", stored(body)).body)


def test_a_sealed_body_describes_itself_and_opens_to_the_same_bytes() -> None:
    cipher = BodyCipher(KEY)
    sealed = bytes(cipher.seal("p", BODY))
    assert sealed[0] == 0x00 and sealed[1] == 1
    # Header (mark, version, key id, nonce) and tag: 34 bytes more than the body.
    assert len(sealed) == len(BODY) + 34
    assert bytes(BODY) not in sealed
    assert opened(cipher, msgspec.Raw(sealed)) == bytes(BODY)


def test_every_seal_takes_a_fresh_nonce() -> None:
    # More seals than one draw of nonces from the OS holds.
    cipher = BodyCipher(KEY)
    nonces = {bytes(cipher.seal("p", BODY))[6:18] for _ in range(10_000)}
    assert len(nonces) == 10_000


def test_a_forked_child_never_reuses_its_parents_nonces() -> None:
    cipher = BodyCipher(KEY)
    cipher.seal("p", BODY)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(writer, bytes(cipher.seal("p", BODY))[6:18])
        os._exit(0)
    os.close(writer)
    try:
        from_child = os.read(reader, 12)
    finally:
        os.close(reader)
        os.waitpid(child, 0)
    assert len(from_child) == 12
    assert from_child != bytes(cipher.seal("p", BODY))[6:18]


def test_an_unsealed_body_reads_as_it_is() -> None:
    message = stored(BODY)
    assert BodyCipher(KEY).open("p", "q", message) is message
    assert BodyCipher().open("p", "q", message) is message


def test_a_body_sealed_for_one_project_does_not_open_in_another() -> None:
    cipher = BodyCipher(KEY)
    sealed = cipher.seal("tenant-a", BODY)
    with pytest.raises(errors.EncryptionFailure, match="sealed for another project") as caught:
        opened(cipher, sealed, project="tenant-b")
    assert (
        caught.value.public_description
        == "Message 7 in queue q cannot be decrypted: it is damaged."
    )


def test_a_body_sealed_in_one_queue_opens_in_another_of_its_project() -> None:
    # Dead-lettering moves stored bodies between queues as they are.
    cipher = BodyCipher(KEY)
    sealed = cipher.seal("p", BODY)
    assert bytes(cipher.open("p", "dead", stored(sealed)).body) == bytes(BODY)


@pytest.mark.parametrize("index", [1, 3, 10, 20, -1])
def test_any_changed_byte_is_refused_never_read_as_garbage(index: int) -> None:
    cipher = BodyCipher(KEY)
    sealed = bytearray(bytes(cipher.seal("p", BODY)))
    sealed[index] ^= 0x01
    with pytest.raises(errors.EncryptionFailure):
        opened(cipher, msgspec.Raw(bytes(sealed)))


def test_a_truncated_body_is_refused() -> None:
    cipher = BodyCipher(KEY)
    sealed = bytes(cipher.seal("p", BODY))
    for length in (1, 2, 18, 33):
        with pytest.raises(errors.EncryptionFailure, match="form this server does not know"):
            opened(cipher, msgspec.Raw(sealed[:length]))


def test_another_key_is_told_apart_from_damage() -> None:
    sealed = BodyCipher(KEY).seal("p", BODY)
    for cipher in (BodyCipher(OTHER), BodyCipher()):
        with pytest.raises(errors.EncryptionFailure, match="neither") as caught:
            opened(cipher, sealed)
        public = caught.value.public_description
        assert public == "Message 7 in queue q was encrypted with a key this server does not have."


def test_old_keys_open_and_only_the_current_key_seals() -> None:
    old = BodyCipher(KEY).seal("p", BODY)
    rotated = BodyCipher(OTHER, [os.urandom(32), KEY])
    assert opened(rotated, old) == bytes(BODY)
    new = rotated.seal("p", BODY)
    assert bytes(new)[2:6] != bytes(old)[2:6]
    with pytest.raises(errors.EncryptionFailure):
        opened(BodyCipher(KEY), new)


def test_without_a_key_nothing_is_sealed() -> None:
    cipher = BodyCipher()
    assert not cipher.can_seal
    with pytest.raises(errors.EncryptionFailure, match="no encryption key"):
        cipher.seal("p", BODY)


# Settings


def test_keys_come_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "herald.toml"
    config.write_text(f'[encryption]\nkey = "{text(KEY)}"\nold_keys = ["{text(OTHER)}"]\n')
    assert load_settings(str(config), {}).encryption.keys() == (KEY, [OTHER])
    third = os.urandom(32)
    environ = {
        "HERALD_ENCRYPTION_KEY": text(third),
        "HERALD_ENCRYPTION_OLD_KEYS": f"{text(KEY)}, {text(OTHER)}",
    }
    assert load_settings(None, environ).encryption.keys() == (third, [KEY, OTHER])


def test_workers_get_the_same_keys() -> None:
    environ = {"HERALD_ENCRYPTION_KEY": text(KEY), "HERALD_ENCRYPTION_OLD_KEYS": text(OTHER)}
    settings = load_settings(None, environ)
    assert load_settings(None, settings_environ(settings)) == settings


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"HERALD_ENCRYPTION_KEY": "not base64!"}, "encryption key is not base64"),
        ({"HERALD_ENCRYPTION_KEY": text(KEY[:16])}, "base64 of 32 bytes, not of 16"),
        ({"HERALD_ENCRYPTION_KEY": text(KEY + b"x")}, "base64 of 32 bytes, not of 33"),
        (
            {"HERALD_ENCRYPTION_KEY": text(KEY), "HERALD_ENCRYPTION_OLD_KEYS": f"{text(OTHER)},x"},
            "encryption old_keys[1] is not base64",
        ),
        ({"HERALD_ENCRYPTION_OLD_KEYS": text(OTHER)}, "old_keys need a current key"),
    ],
)
def test_a_malformed_key_is_named_without_its_value(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match="invalid setting") as caught:
        load_settings(None, environ)
    assert named in str(caught.value)
    for value in environ.values():
        assert value not in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"HERALD_ENCRYPTION_KEY": text(KEY[:31])}, "key must be base64 of 32 bytes, not of 31"),
        (
            {"HERALD_ENCRYPTION_KEY": text(KEY), "HERALD_ENCRYPTION_OLD_KEYS": text(OTHER[:8])},
            "old_keys[0] must be base64 of 32 bytes, not of 8",
        ),
        ({"HERALD_ENCRYPTION_OLD_KEYS": text(OTHER)}, "old_keys need a current key"),
    ],
)
def test_a_malformed_key_stops_start_up_with_one_line(
    tmp_path: Path, environ: dict[str, str], named: str
) -> None:
    code, output = failed_start(tmp_path, env=environ)
    assert code == 2
    [line] = output.strip().splitlines()
    assert line.startswith("herald: invalid setting: encryption ") and named in line, line
    for value in environ.values():
        assert value not in output


# A server that lost its key


def test_a_server_without_the_key_keeps_an_encrypted_queue_as_it_is(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    keyed = load_settings(environ={"HERALD_ENCRYPTION_KEY": text(KEY)}, overrides={"store": store})
    keyless = load_settings(environ={}, overrides={"store": store})
    project = headers("lost-key")
    with running_app(keyed) as url, httpx.Client(base_url=url, headers=project) as client:
        client.post("/v2/queues/q/messages", json={"messages": [{"body": "plain"}]})
        patched = client.patch(
            "/v2/queues/q",
            json=[{"op": "add", "path": "/metadata/_enable_encrypt_messages", "value": True}],
            headers={"Content-Type": "application/openstack-messaging-v2.0-json-patch"},
        )
        assert patched.status_code == 200
    with running_app(keyless) as url, httpx.Client(base_url=url, headers=project) as client:
        refused = client.post("/v2/queues/q/messages", json={"messages": [{"body": "new"}]})
        assert refused.status_code == 500
        assert refused.json()["description"] == (
            "This queue encrypts its messages, but the server has no encryption key."
        )
        # Still one message, and the queue's other metadata may still change.
        listed = client.get("/v2/queues/q/messages", params={"echo": "true"}).json()
        assert [m["body"] for m in listed["messages"]] == ["plain"]
        patched = client.patch(
            "/v2/queues/q",
            json=[{"op": "add", "path": "/metadata/colour", "value": "red"}],
            headers={"Content-Type": "application/openstack-messaging-v2.0-json-patch"},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["_enable_encrypt_messages"] is True
