"""Authenticated, chunked encryption for files at rest (reports).

Fernet needs the whole message in memory, so large files use AES-256-GCM in the
STREAM construction (Hoang et al., "Online Authenticated-Encryption and its
Nonce-Reuse Misuse-Resistance"): the file is cut into chunks, each sealed with
the nonce ``prefix (7 random bytes) || counter (4 bytes) || last flag (1 byte)``
and the file header as associated data. Reordered, dropped, appended or altered
chunks, a cut at a chunk boundary and an edited header all fail authentication.

The key is derived with HKDF-SHA256 from each ``FIELD_ENCRYPTION_KEY`` entry
(a purpose label keeps it distinct from the Fernet keys used for secrets): the
first entry encrypts, every entry decrypts, so rotation works as for secrets.
The header names the key by a short hash of the derived key.

Layout::

    header = MAGIC (4) | VERSION (1) | key id (8) | nonce prefix (7) | chunk size (4, big endian)
    body   = chunk* ; chunk = AESGCM(plaintext[:chunk size]) = ciphertext || tag (16)

Every chunk but the last carries exactly ``chunk size`` plaintext bytes; the last
carries 0..chunk size (an empty file is one empty last chunk).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"DSRE"
VERSION = 1
PURPOSE = b"report-at-rest/v1"
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
KEY_ID_SIZE = 8
PREFIX_SIZE = 7
_HEADER = struct.Struct(f">4sB{KEY_ID_SIZE}s{PREFIX_SIZE}sI")
HEADER_SIZE = _HEADER.size
_MAX_CHUNK_SIZE = 16 * 1024 * 1024  # refuse absurd headers before allocating
_MAX_CHUNKS = 2**32


class StreamCryptError(ValueError):
    """The stream is not a valid encrypted file for the configured keys.

    Raised for a bad header, an unknown key, and any chunk that fails
    authentication (tampered, reordered, truncated or extended file).
    """


class UnknownKeyError(StreamCryptError):
    """No configured key matches the key id in the header (key removed or wrong key)."""


@dataclass(frozen=True)
class StreamKey:
    """A derived file key and the id written into headers."""

    key: bytes
    key_id: bytes


@dataclass(frozen=True)
class Header:
    """The parsed header of an encrypted stream."""

    key_id: bytes
    prefix: bytes
    chunk_size: int
    raw: bytes


def _configured_keys() -> list[str]:
    from django.conf import settings

    value = settings.FIELD_ENCRYPTION_KEY
    if isinstance(value, str):
        value = value.split(",")
    return [k.strip() for k in value if k and k.strip()]


def derive_key(fernet_key: str | bytes) -> StreamKey:
    """The file key for one Fernet key (urlsafe base64 of 32 bytes)."""
    raw = base64.urlsafe_b64decode(fernet_key)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(raw)
    key_id = hashlib.sha256(b"key-id:" + key).digest()[:KEY_ID_SIZE]
    return StreamKey(key=key, key_id=key_id)


def stream_keys(keys: Sequence[str | bytes] | None = None) -> list[StreamKey]:
    """Derived keys, encrypting key first; ``keys`` defaults to FIELD_ENCRYPTION_KEY."""
    source = _configured_keys() if keys is None else list(keys)
    if not source:
        raise StreamCryptError("FIELD_ENCRYPTION_KEY is empty: no key to encrypt reports with.")
    return [derive_key(k) for k in source]


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= _MAX_CHUNKS:
        raise StreamCryptError("File too large for one encrypted stream.")
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


def _read_full(src: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes unless the stream ends first (short reads are retried)."""
    data = src.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = src.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class EncryptingWriter:
    """A write-only binary file that encrypts as it goes; ``close()`` seals the last chunk.

    Not seekable, so writers like ``zipfile`` write strictly forward. Memory holds
    at most one chunk.
    """

    def __init__(
        self,
        dst: BinaryIO,
        *,
        keys: Sequence[str | bytes] | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if not 0 < chunk_size <= _MAX_CHUNK_SIZE:
            raise ValueError("chunk_size out of range")
        key = stream_keys(keys)[0]
        self._dst = dst
        self._aead = AESGCM(key.key)
        self._prefix = os.urandom(PREFIX_SIZE)
        self._header = _HEADER.pack(MAGIC, VERSION, key.key_id, self._prefix, chunk_size)
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._counter = 0
        self._written = 0
        self.closed = False
        dst.write(self._header)

    def _seal(self, data: bytes, last: bool) -> None:
        nonce = _nonce(self._prefix, self._counter, last)
        self._dst.write(self._aead.encrypt(nonce, data, self._header))
        self._counter += 1

    def write(self, data: bytes) -> int:
        """Buffer ``data``; every full chunk but the newest is sealed and written."""
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        self._buffer += data
        self._written += len(data)
        # Keep the newest full chunk back: only close() knows whether it is the last.
        while len(self._buffer) > self._chunk_size:
            chunk = bytes(self._buffer[: self._chunk_size])
            del self._buffer[: self._chunk_size]
            self._seal(chunk, last=False)
        return len(data)

    def tell(self) -> int:
        """Plaintext bytes written so far."""
        return self._written

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def flush(self) -> None:
        self._dst.flush()

    def close(self) -> None:
        """Seal the final chunk (possibly empty). Does not close ``dst``."""
        if self.closed:
            return
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        self.closed = True
        self._dst.flush()

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.closed = True  # an aborted file stays unsealed, so it never decrypts


def encrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    keys: Sequence[str | bytes] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> None:
    """Encrypt all of ``src`` into ``dst`` with the first configured key."""
    with EncryptingWriter(dst, keys=keys, chunk_size=chunk_size) as writer:
        while block := src.read(chunk_size):
            writer.write(block)


def read_header(src: BinaryIO) -> Header:
    """Parse and check the header at the current position of ``src``."""
    raw = _read_full(src, HEADER_SIZE)
    if len(raw) < HEADER_SIZE:
        raise StreamCryptError("Not an encrypted report: the header is missing or cut.")
    magic, version, key_id, prefix, chunk_size = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise StreamCryptError("Not an encrypted report: unknown file signature.")
    if version != VERSION:
        raise StreamCryptError(f"Unsupported encrypted report version {version}.")
    if not 0 < chunk_size <= _MAX_CHUNK_SIZE:
        raise StreamCryptError("Corrupt header: impossible chunk size.")
    return Header(key_id=key_id, prefix=prefix, chunk_size=chunk_size, raw=raw)


def _key_for(header: Header, keys: Sequence[str | bytes] | None) -> StreamKey:
    for key in stream_keys(keys):
        if key.key_id == header.key_id:
            return key
    raise UnknownKeyError(
        "The report was encrypted with a key that FIELD_ENCRYPTION_KEY no longer holds "
        f"(key id {header.key_id.hex()})."
    )


def decrypt_stream(src: BinaryIO, *, keys: Sequence[str | bytes] | None = None) -> Iterator[bytes]:
    """Yield the plaintext chunk by chunk, each authenticated before it is yielded.

    The header and key are checked on the first ``next()``. A cut or extended file
    is only detected at the end, so a consumer that acts on partial output (a
    streamed download) must treat the final ``StreamCryptError`` as failure.
    """
    header = read_header(src)
    aead = AESGCM(_key_for(header, keys).key)
    size = header.chunk_size + TAG_SIZE
    counter = 0
    chunk = _read_full(src, size)
    while True:
        following = _read_full(src, size) if len(chunk) == size else b""
        last = not following
        if len(chunk) < TAG_SIZE:
            raise StreamCryptError("Encrypted report is truncated.")
        try:
            plain = aead.decrypt(_nonce(header.prefix, counter, last), chunk, header.raw)
        except InvalidTag:
            raise StreamCryptError(
                f"Encrypted report failed authentication at chunk {counter}: "
                "it was altered, reordered, cut or extended, or the key is wrong."
            ) from None
        if plain:
            yield plain
        if last:
            return
        chunk = following
        counter += 1


def key_id(src: BinaryIO) -> bytes:
    """The key id in the header (leaves ``src`` after the header)."""
    return read_header(src).key_id


def needs_reencryption(src: BinaryIO, *, keys: Sequence[str | bytes] | None = None) -> bool:
    """True when the stream is not under the first (encrypting) key."""
    return key_id(src) != stream_keys(keys)[0].key_id


def reencrypt_stream(
    src: BinaryIO,
    dst: BinaryIO,
    *,
    keys: Sequence[str | bytes] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> None:
    """Decrypt ``src`` with any configured key and encrypt it into ``dst`` with the first.

    On ``StreamCryptError`` ``dst`` holds an unsealed partial file: discard it.
    """
    writer = EncryptingWriter(dst, keys=keys, chunk_size=chunk_size)
    for block in decrypt_stream(src, keys=keys):
        writer.write(block)
    writer.close()
