"""Message bodies sealed at rest with AES-256-GCM, and opened again when read.

A sealed body describes itself, so that reading needs no look-up of the
queue's metadata and bodies stored before (or after) a queue was encrypted
read as they are:

    0x00  version (1)  key id (4)  nonce (12)  ciphertext and tag (16)

No JSON text begins with 0x00, so a stored body is sealed exactly when its
first byte is 0x00. The key id names which configured key sealed it, so a
rotated key is found without trial decryption. The associated data binds the
body to its project (and the header), not to its queue: dead-lettering moves
a stored body to another queue of the same project as it is, in one atomic
store operation, and must not make it unreadable there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from herald import errors
from herald.model import StoredMessage

MARK = 0x00
VERSION = 1
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12
_TAG_BYTES = 16
_PREFIX_BYTES = 2 + _KEY_ID_BYTES  # mark, version, key id: the part every body of a key shares
_HEADER_BYTES = _PREFIX_BYTES + _NONCE_BYTES
# Nonces drawn from the OS at a time. os.urandom releases the GIL, and a thread
# that releases it while another runs Python waits up to the switch interval
# to get it back: one call per message made posts to SQLite (whose writer
# thread seals them) 2.4 times slower. Drawn in bulk, each nonce is still 96
# bits from the OS, used once.
_NONCES_PER_DRAW = 4096
# Derived keys keep the configured key out of any direct use, should an
# operator ever reuse it elsewhere; the labels make the two derivations distinct.
_BODY_KEY_LABEL = b"herald message bodies v1"
_KEY_ID_LABEL = b"herald key id v1"


class SealingKey:
    """One configured key: the AES-256-GCM key derived from it and its public id."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(_derive(secret, _BODY_KEY_LABEL, 32))
        # A one-way function of the key: names it in stored bodies and logs, reveals nothing.
        self.id = _derive(secret, _KEY_ID_LABEL, _KEY_ID_BYTES)
        self.header = bytes((MARK, VERSION)) + self.id

    def seal(self, header: bytes, nonce: bytes, body: bytes, project: bytes) -> bytes:
        return self._aead.encrypt(nonce, body, header + project)

    def open(self, header: bytes, nonce: bytes, sealed: bytes, project: bytes) -> bytes | None:
        """The plaintext, or None when this key did not seal it for this project."""
        try:
            return self._aead.decrypt(nonce, sealed, header + project)
        except InvalidTag:
            return None


class _Nonces:
    """Random 96-bit nonces, each handed out once, drawn from the OS in bulk."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._next = 0
        # A forked child must never hand out the nonces its parent holds.
        os.register_at_fork(after_in_child=self._forget)

    def take(self) -> bytes:
        with self._lock:
            if self._next >= len(self._pool):
                self._pool = os.urandom(_NONCE_BYTES * _NONCES_PER_DRAW)
                self._next = 0
            start = self._next
            self._next = start + _NONCE_BYTES
            return self._pool[start : self._next]

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._next = 0


class BodyCipher:
    """Seals bodies with the current key; opens them with the current or any old key."""

    def __init__(self, key: bytes | None = None, old_keys: Sequence[bytes] = ()) -> None:
        self._current = SealingKey(key) if key is not None else None
        self._nonces = _Nonces()
        self._keys: dict[bytes, list[SealingKey]] = {}
        for each in [self._current, *map(SealingKey, old_keys)]:
            if each is not None:
                # Two keys may share an id (one chance in 2**32): both are tried.
                self._keys.setdefault(each.id, []).append(each)

    @property
    def can_seal(self) -> bool:
        """Whether a key is configured, so that a queue may be encrypted."""
        return self._current is not None

    def seal(self, project: str, body: msgspec.Raw) -> msgspec.Raw:
        """The body sealed for the project with the current key."""
        if self._current is None:
            raise errors.EncryptionFailure(
                "This queue encrypts its messages, but the server has no encryption key.",
            )
        header = self._current.header
        nonce = self._nonces.take()
        sealed = self._current.seal(header, nonce, bytes(body), project.encode())
        return msgspec.Raw(header + nonce + sealed)

    def open(self, project: str, queue: str, message: StoredMessage) -> StoredMessage:
        """The message with its body opened; unsealed bodies come back unchanged."""
        # Most bodies are plain: look at the first byte without copying any.
        first = memoryview(message.body)[:1]
        if not first or first[0] != MARK:
            return message
        opened = self._opened(project, queue, message.id, bytes(message.body))
        return msgspec.structs.replace(message, body=msgspec.Raw(opened))

    def open_all(
        self, project: str, queue: str, messages: list[StoredMessage]
    ) -> list[StoredMessage]:
        return [self.open(project, queue, m) for m in messages]

    def _opened(self, project: str, queue: str, message_id: str, body: bytes) -> bytes:
        # Clients are told of their own queue; the log also names the project.
        where = f"Message {message_id} in queue {queue}"
        logged = f"{where} of project {project}"
        if len(body) < _HEADER_BYTES + _TAG_BYTES or body[1] != VERSION:
            raise errors.EncryptionFailure(
                f"{logged} is stored in an encrypted form this server does not know "
                f"(version {body[1] if len(body) > 1 else 'missing'}).",
                public=f"{where} cannot be decrypted by this server.",
            )
        header, nonce = body[:_PREFIX_BYTES], body[_PREFIX_BYTES:_HEADER_BYTES]
        sealed = body[_HEADER_BYTES:]
        key_id = header[2:]
        candidates = self._keys.get(key_id)
        if not candidates:
            raise errors.EncryptionFailure(
                f"{logged} was encrypted with key {key_id.hex()}, which is neither "
                "[encryption] key nor one of old_keys.",
                public=f"{where} was encrypted with a key this server does not have.",
            )
        for key in candidates:
            opened = key.open(header, nonce, sealed, project.encode())
            if opened is not None:
                return opened
        raise errors.EncryptionFailure(
            f"{logged} does not authenticate under key {key_id.hex()}: it was damaged, "
            "or sealed for another project.",
            public=f"{where} cannot be decrypted: it is damaged.",
        )


def _derive(secret: bytes, label: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label).derive(secret)
