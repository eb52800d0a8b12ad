"""Encrypted report blobs in a storage backend: private, never plaintext, rotatable."""

from __future__ import annotations

import hashlib
import io
import os
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from portal import report_storage, streamcrypt

PLAIN = b"PK\x03\x04 the subject's report " + os.urandom(200_000) + b" end of report"


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def test_saved_file_is_private_and_encrypted(data_dir):
    name = report_storage.save_encrypted(io.BytesIO(PLAIN))
    path = data_dir / "reports" / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    raw = path.read_bytes()
    assert raw.startswith(streamcrypt.MAGIC)
    assert b"the subject's report" not in raw and b"end of report" not in raw
    assert b"".join(report_storage.open_decrypted(name)) == PLAIN
    assert report_storage.plaintext_digest(name) == (hashlib.sha256(PLAIN).hexdigest(), len(PLAIN))


def test_save_from_a_writer_returns_what_it_returned(data_dir):
    def build(f):
        f.write(b"part one, ")
        f.write(b"part two")
        return "digest"

    name, result = report_storage.save_encrypted_from(build, "r-1.zip.enc")
    assert (name, result) == ("r-1.zip.enc", "digest")
    assert b"".join(report_storage.open_decrypted(name)) == b"part one, part two"


def test_a_failed_build_stores_nothing(data_dir):
    def build(f):
        f.write(b"half a report")
        raise ValueError("selection changed")

    with pytest.raises(ValueError):
        report_storage.save_encrypted_from(build, "r-2.zip.enc")
    assert not (data_dir / "reports" / "r-2.zip.enc").exists()


def test_not_readable_without_the_key(data_dir, settings):
    name = report_storage.save_encrypted(io.BytesIO(PLAIN))
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    with pytest.raises(streamcrypt.UnknownKeyError):
        report_storage.open_decrypted(name)


def test_tampered_blob_fails_while_reading(data_dir):
    name = report_storage.save_encrypted(io.BytesIO(PLAIN))
    path = data_dir / "reports" / name
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(streamcrypt.StreamCryptError), report_storage.open_decrypted(name) as chunks:
        for _ in chunks:
            pass


def test_rotation_rewrites_under_the_new_key(data_dir, settings):
    old = settings.FIELD_ENCRYPTION_KEY[0]
    name = report_storage.save_encrypted(io.BytesIO(PLAIN))
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new, old]
    rotated = report_storage.reencrypt(name)
    assert rotated != name
    assert not (data_dir / "reports" / name).exists()
    assert report_storage.reencrypt(rotated) == rotated  # already current: untouched
    settings.FIELD_ENCRYPTION_KEY = [new]
    assert b"".join(report_storage.open_decrypted(rotated)) == PLAIN


def test_delete_is_idempotent(data_dir):
    name = report_storage.save_encrypted(io.BytesIO(b"x"))
    report_storage.delete(name)
    report_storage.delete(name)
    assert not (data_dir / "reports" / name).exists()


def test_a_storages_alias_is_used_when_configured(data_dir, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "reports": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    name = report_storage.save_encrypted(io.BytesIO(PLAIN))
    assert not (data_dir / "reports").exists()
    storage = report_storage.report_storage()
    with storage.open(name, "rb") as f:
        assert f.read(4) == streamcrypt.MAGIC
    assert b"".join(report_storage.open_decrypted(name)) == PLAIN


def test_an_unknown_alias_is_a_configuration_error(settings):
    settings.REPORT_STORAGE_ALIAS = "nowhere"
    with pytest.raises(ImproperlyConfigured):
        report_storage.report_storage()
