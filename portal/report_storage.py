"""Encrypted blobs (released reports) in a Django storage backend.

Reports go through a storage backend so several web servers can share them (a
shared volume, or an object store configured as the ``STORAGES`` alias named by
``REPORT_STORAGE_ALIAS``, default ``"reports"``). Without that alias they land in
``DATA_DIR / "reports"`` with owner-only permissions. Everything written here is
encrypted with :mod:`portal.streamcrypt` first: the storage never sees plaintext.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

from portal import streamcrypt

T = TypeVar("T")
DEFAULT_ALIAS = "reports"
_COPY_SIZE = streamcrypt.CHUNK_SIZE


def report_storage() -> Storage:
    """The configured storage alias, else a private FileSystemStorage under DATA_DIR."""
    alias = getattr(settings, "REPORT_STORAGE_ALIAS", None)
    if alias:
        if alias not in settings.STORAGES:
            raise ImproperlyConfigured(f"REPORT_STORAGE_ALIAS {alias!r} is not in STORAGES.")
        return storages[alias]
    if DEFAULT_ALIAS in settings.STORAGES:
        return storages[DEFAULT_ALIAS]
    return FileSystemStorage(
        location=Path(settings.DATA_DIR) / "reports",
        file_permissions_mode=0o600,
        directory_permissions_mode=0o700,
    )


def _new_name(name: str | None) -> str:
    return name or f"{uuid.uuid4().hex}.zip.enc"


def save_encrypted_from(
    write: Callable[[BinaryIO], T],
    name: str | None = None,
    *,
    keys: Sequence[str | bytes] | None = None,
) -> tuple[str, T]:
    """Call ``write(f)`` with a file that encrypts what it is given, then store the result.

    The plaintext never touches a disk: ``f`` encrypts chunk by chunk into a local
    temporary file of ciphertext, which is then saved. Returns the storage name
    (the backend may change ``name`` to keep it unique) and whatever ``write``
    returned. If ``write`` raises, nothing is stored.
    """
    with tempfile.TemporaryFile() as cipher:
        with streamcrypt.EncryptingWriter(cipher, keys=keys) as writer:
            result = write(writer)
        cipher.seek(0)
        stored = report_storage().save(_new_name(name), File(cipher))
    return stored, result


def save_encrypted(
    plaintext: BinaryIO,
    name: str | None = None,
    *,
    keys: Sequence[str | bytes] | None = None,
) -> str:
    """Encrypt a readable plaintext file (read from its current position) and store it."""

    def copy(dst: BinaryIO) -> None:
        while block := plaintext.read(_COPY_SIZE):
            dst.write(block)

    return save_encrypted_from(copy, name, keys=keys)[0]


class DecryptedBlob(Iterator[bytes]):
    """Plaintext chunks of a stored blob; close it (or exhaust it) to release the file.

    Opening checks the header, the key and the first chunk, so a missing key fails
    before a response starts; a cut or altered tail raises
    ``streamcrypt.StreamCryptError`` while iterating.
    """

    def __init__(self, name: str, keys: Sequence[str | bytes] | None = None) -> None:
        self._file = report_storage().open(name, "rb")
        try:
            self._chunks = streamcrypt.decrypt_stream(self._file, keys=keys)
            self._first: bytes | None = next(self._chunks, None)
        except BaseException:
            self._file.close()
            raise

    def __iter__(self) -> DecryptedBlob:
        return self

    def __next__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._chunks.close()
        self._file.close()

    def __enter__(self) -> DecryptedBlob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_decrypted(name: str, *, keys: Sequence[str | bytes] | None = None) -> DecryptedBlob:
    """The stored blob's plaintext as an iterator of byte chunks (bounded memory)."""
    return DecryptedBlob(name, keys=keys)


def plaintext_digest(name: str, *, keys: Sequence[str | bytes] | None = None) -> tuple[str, int]:
    """SHA-256 hex and size of the decrypted blob, to check it against the recorded checksum."""
    digest = hashlib.sha256()
    size = 0
    with open_decrypted(name, keys=keys) as chunks:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _sibling_name(name: str) -> str:
    """A fresh name in the same folder, same extensions: ``a/x.zip.enc`` -> ``a/<uuid>.zip.enc``."""
    folder, _, base = name.rpartition("/")
    _, dot, suffix = base.partition(".")
    fresh = uuid.uuid4().hex + (dot + suffix if dot else "")
    return f"{folder}/{fresh}" if folder else fresh


def reencrypt(
    name: str, *, keys: Sequence[str | bytes] | None = None, delete_old: bool = True
) -> str:
    """Rotate one blob to the first configured key; returns its (possibly new) name.

    The rotated copy is stored under a new name, and the old blob is deleted only
    after the copy is complete, so a failure leaves the original intact. The
    caller must record the returned name; with ``delete_old=False`` it deletes the
    old blob itself once the new name is recorded (``blobs_rotate`` does).
    """
    storage = report_storage()
    with storage.open(name, "rb") as src:
        if not streamcrypt.needs_reencryption(src, keys=keys):
            return name
    with storage.open(name, "rb") as src, tempfile.TemporaryFile() as cipher:
        streamcrypt.reencrypt_stream(src, cipher, keys=keys)
        cipher.seek(0)
        new_name = storage.save(_sibling_name(name), File(cipher))
    if delete_old:
        storage.delete(name)
    return new_name


# --- who owns the stored blobs ------------------------------------------------------------------
#
# portal stores blobs for apps above it (reports, Direct Contact files) but must not
# import them. Each owner registers, from its AppConfig.ready(), a function that lists
# its blob names and one that records a blob's new name; key rotation and the start-up
# check go through this registry.

BlobNames = Callable[[], Iterable[str]]
BlobRenamed = Callable[[str, str], None]
_OWNERS: dict[str, tuple[str, BlobNames, BlobRenamed]] = {}


def blob_owner_register(uid: str, names: BlobNames, renamed: BlobRenamed) -> None:
    """Register an owner of stored blobs (idempotent per ``uid``, e.g. "app.Model").

    ``names()`` lists every blob name the owner's rows hold; ``renamed(old, new)``
    points every row that holds ``old`` at ``new`` (in one transaction) and raises
    if it cannot.
    """
    _OWNERS[uid] = (uid, names, renamed)


def blob_names() -> Iterator[str]:
    """Every blob name a registered owner holds."""
    for _, names, _ in list(_OWNERS.values()):
        yield from names()


def blobs_rotate(*, keys: Sequence[str | bytes] | None = None) -> int:
    """Re-encrypt every owned blob under the first key; returns how many were rewritten.

    Per blob: write the rotated copy, then record its name on the owner's rows, then
    delete the old blob. A failure in between leaves the rows on the old blob (still
    readable with the old key) and removes the copy; running again picks up from there.
    """
    rewritten = 0
    for _, names, renamed in list(_OWNERS.values()):
        for name in list(names()):  # a list: the rows change while we go
            try:
                new_name = reencrypt(name, keys=keys, delete_old=False)
            except FileNotFoundError:
                continue  # purged meanwhile: nothing to rotate
            if new_name == name:
                continue
            try:
                renamed(name, new_name)
            except BaseException:
                delete(new_name)
                raise
            delete(name)
            rewritten += 1
    return rewritten


def blobs_under_unknown_keys(*, keys: Sequence[str | bytes] | None = None) -> list[str]:
    """Name every owned blob whose header names no configured key (reads headers only).

    A missing blob is not reported here (a purge may be in progress); an unreadable
    header is.
    """
    known = {k.key_id for k in streamcrypt.stream_keys(keys)}
    storage = report_storage()
    problems = []
    for label, names, _ in list(_OWNERS.values()):
        for name in names():
            try:
                with storage.open(name, "rb") as src:
                    key_id = streamcrypt.key_id(src)
            except FileNotFoundError:
                continue
            except streamcrypt.StreamCryptError:
                problems.append(f"{label} blob={name} (not an encrypted blob)")
                continue
            if key_id not in known:
                problems.append(f"{label} blob={name} key id={key_id.hex()}")
    return problems


def delete(name: str) -> None:
    """Remove a stored blob; a missing one is not an error (purges may repeat)."""
    report_storage().delete(name)
