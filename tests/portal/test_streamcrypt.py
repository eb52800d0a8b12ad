"""Streamed encryption at rest: round trips, and every way a stored file can be wrong."""

from __future__ import annotations

import io
import os

import pytest
from cryptography.fernet import Fernet

from portal import streamcrypt
from portal.streamcrypt import (
    HEADER_SIZE,
    TAG_SIZE,
    EncryptingWriter,
    StreamCryptError,
    UnknownKeyError,
    decrypt_stream,
    encrypt_stream,
    needs_reencryption,
    reencrypt_stream,
)

CHUNK = 1024  # small chunks so a few KiB make several of them
OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def encrypt(data: bytes, keys=(OLD,), chunk_size: int = CHUNK) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, keys=list(keys), chunk_size=chunk_size)
    return out.getvalue()


def decrypt(blob: bytes, keys=(OLD,)) -> bytes:
    return b"".join(decrypt_stream(io.BytesIO(blob), keys=list(keys)))


def chunks(blob: bytes, chunk_size: int = CHUNK) -> tuple[bytes, list[bytes]]:
    size = chunk_size + TAG_SIZE
    body = blob[HEADER_SIZE:]
    return blob[:HEADER_SIZE], [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("length", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5000])
def test_round_trip(length):
    data = os.urandom(length)
    blob = encrypt(data)
    assert decrypt(blob) == data
    # A short plaintext may occur in random ciphertext by chance; 16+ bytes never will.
    assert length < 16 or data[:64] not in blob[HEADER_SIZE:]


def test_each_file_gets_its_own_nonce_prefix():
    data = b"same plaintext" * 100
    assert encrypt(data) != encrypt(data)


def test_the_chunk_count_matches_the_layout():
    _, parts = chunks(encrypt(b"x" * (3 * CHUNK)))
    # Exactly three full chunks: the third is the last one, no empty trailer.
    assert [len(p) for p in parts] == [CHUNK + TAG_SIZE] * 3


def test_empty_file_is_one_sealed_empty_chunk():
    blob = encrypt(b"")
    assert len(blob) == HEADER_SIZE + TAG_SIZE
    assert decrypt(blob) == b""
    with pytest.raises(StreamCryptError, match="truncated"):
        decrypt(blob[:HEADER_SIZE])


def test_wrong_key_is_refused():
    blob = encrypt(b"secret report")
    with pytest.raises(UnknownKeyError):
        decrypt(blob, keys=(NEW,))


def test_a_forged_key_id_fails_authentication():
    # Same key id, different key material: the tag check still refuses it.
    blob = bytearray(encrypt(b"secret report"))
    header = streamcrypt.read_header(io.BytesIO(bytes(blob)))
    other = streamcrypt.derive_key(NEW)
    blob[5:13] = other.key_id
    assert streamcrypt.read_header(io.BytesIO(bytes(blob))).key_id != header.key_id
    with pytest.raises(StreamCryptError, match="authentication"):
        decrypt(bytes(blob), keys=(NEW,))


def test_dropping_the_last_chunk_is_detected():
    header, parts = chunks(encrypt(os.urandom(3 * CHUNK + 10)))
    assert len(parts) == 4
    with pytest.raises(StreamCryptError):
        decrypt(header + b"".join(parts[:-1]))


def test_cutting_inside_a_chunk_is_detected():
    blob = encrypt(os.urandom(3 * CHUNK))
    for cut in (len(blob) - 1, len(blob) - TAG_SIZE, HEADER_SIZE + 5, HEADER_SIZE - 1):
        with pytest.raises(StreamCryptError):
            decrypt(blob[:cut])


def test_swapped_chunks_are_detected():
    header, parts = chunks(encrypt(os.urandom(3 * CHUNK + 10)))
    parts[0], parts[1] = parts[1], parts[0]
    with pytest.raises(StreamCryptError, match="chunk 0"):
        decrypt(header + b"".join(parts))


def test_appended_data_is_detected():
    blob = encrypt(os.urandom(2 * CHUNK))
    _, parts = chunks(blob)
    for tail in (b"x", parts[0], encrypt(b"more")[HEADER_SIZE:]):
        with pytest.raises(StreamCryptError):
            decrypt(blob + tail)


def test_chunks_from_another_file_are_refused():
    header_a, parts_a = chunks(encrypt(os.urandom(2 * CHUNK)))
    _, parts_b = chunks(encrypt(os.urandom(2 * CHUNK)))
    with pytest.raises(StreamCryptError):
        decrypt(header_a + parts_a[0] + parts_b[1])


@pytest.mark.parametrize("position", ["header", "first", "last"])
def test_a_flipped_bit_anywhere_is_detected(position):
    blob = bytearray(encrypt(os.urandom(2 * CHUNK + 7)))
    index = {"header": HEADER_SIZE - 1, "first": HEADER_SIZE + 3, "last": len(blob) - 1}
    blob[index[position]] ^= 0x01
    with pytest.raises(StreamCryptError):
        decrypt(bytes(blob))


def test_garbage_and_plain_files_are_refused_clearly():
    with pytest.raises(StreamCryptError, match="signature"):
        decrypt(b"PK\x03\x04" + b"\0" * 100)
    blob = bytearray(encrypt(b"x"))
    blob[4] = 9
    with pytest.raises(StreamCryptError, match="version"):
        decrypt(bytes(blob))


def test_rotation_old_key_still_decrypts_when_second():
    blob = encrypt(b"old report", keys=(OLD,))
    assert decrypt(blob, keys=(NEW, OLD)) == b"old report"
    assert needs_reencryption(io.BytesIO(blob), keys=[NEW, OLD])

    rotated = io.BytesIO()
    reencrypt_stream(io.BytesIO(blob), rotated, keys=[NEW, OLD], chunk_size=CHUNK)
    assert not needs_reencryption(io.BytesIO(rotated.getvalue()), keys=[NEW, OLD])
    # Once rotated, the old key can go.
    assert decrypt(rotated.getvalue(), keys=(NEW,)) == b"old report"
    with pytest.raises(UnknownKeyError):
        decrypt(blob, keys=(NEW,))


def test_default_keys_come_from_settings(settings):
    settings.FIELD_ENCRYPTION_KEY = [NEW, OLD]
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(b"data"), out)
    assert decrypt(out.getvalue(), keys=(NEW,)) == b"data"
    # A comma-separated string (as in the environment) works too.
    settings.FIELD_ENCRYPTION_KEY = f"{OLD}, {NEW}"
    assert b"".join(decrypt_stream(io.BytesIO(out.getvalue()))) == b"data"


def test_the_derived_key_is_not_the_fernet_key():
    derived = streamcrypt.derive_key(OLD)
    import base64

    assert derived.key != base64.urlsafe_b64decode(OLD)
    assert derived == streamcrypt.derive_key(OLD.encode())


def test_writer_is_forward_only_and_an_aborted_file_never_decrypts():
    out = io.BytesIO()
    with pytest.raises(RuntimeError), EncryptingWriter(out, keys=[OLD], chunk_size=CHUNK) as w:
        assert not w.seekable()
        w.write(os.urandom(3 * CHUNK))
        raise RuntimeError("build failed")
    with pytest.raises(StreamCryptError):
        decrypt(out.getvalue())


def test_memory_is_bounded_by_the_chunk_size():
    class CountingSink(io.RawIOBase):
        def __init__(self):
            self.largest = 0
            self.total = 0

        def writable(self):
            return True

        def write(self, b):
            self.largest = max(self.largest, len(b))
            self.total += len(b)
            return len(b)

    sink = CountingSink()
    with EncryptingWriter(sink, keys=[OLD], chunk_size=CHUNK) as w:
        for _ in range(200):
            w.write(b"y" * 700)
            assert len(w._buffer) <= CHUNK + 700
    assert sink.largest <= CHUNK + TAG_SIZE
    assert sink.total == HEADER_SIZE + 200 * 700 + TAG_SIZE * (-(-200 * 700 // CHUNK))
