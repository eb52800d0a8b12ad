"""TOTP and recovery-code seeds encrypted at rest with FIELD_ENCRYPTION_KEY.

allauth keeps these seeds in ``Authenticator.data`` (JSON) and passes them
through its MFA adapter's ``encrypt``/``decrypt`` hooks, which
``portal.adapters.StaffMFAAdapter`` points here. Same Fernet keys and rotation
as the other secrets (``portal.crypto``): the first key encrypts, all decrypt.
A seed that no key decrypts raises ``DecryptionError`` rather than being used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import cryptography.fernet
from django.db import transaction
from encrypted_model_fields import fields as emf

from portal.decryption import DecryptionError

# Every Fernet token starts with this (version byte 0x80, base64); seeds never do
# (TOTP secrets are base32 capitals and digits, recovery seeds lowercase hex).
FERNET_PREFIX = "gAAAAA"


def seed_encrypt(text: str) -> str:
    return emf.CRYPTER.encrypt(text.encode("utf-8")).decode("utf-8")


def seed_decrypt(token: str) -> str:
    try:
        return emf.CRYPTER.decrypt(token.encode("utf-8")).decode("utf-8")
    except cryptography.fernet.InvalidToken:
        raise DecryptionError(
            "An MFA seed does not decrypt with the configured FIELD_ENCRYPTION_KEY."
        ) from None


def is_encrypted(value: str) -> bool:
    return value.startswith(FERNET_PREFIX)


def _seed_slots(data: dict[str, Any]) -> Iterator[tuple[str, int | None]]:
    """Where seeds sit in ``Authenticator.data``: TOTP ``secret``, recovery ``seed``/codes."""
    for key in ("secret", "seed"):
        if isinstance(data.get(key), str):
            yield key, None
    codes = data.get("migrated_codes")
    if isinstance(codes, list):
        for i, code in enumerate(codes):
            if isinstance(code, str):
                yield "migrated_codes", i


def _map_seeds(data: dict[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    new = dict(data)
    if isinstance(new.get("migrated_codes"), list):
        new["migrated_codes"] = list(new["migrated_codes"])
    for key, index in _seed_slots(data):
        if index is None:
            new[key] = fn(data[key])
        else:
            new[key][index] = fn(data[key][index])
    return new


def _rewrite(authenticator_model, fn: Callable[[str], str]) -> int:
    """Apply ``fn`` to every seed, row by row under a lock; returns rows changed."""
    written = 0
    for pk in authenticator_model.objects.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            row = authenticator_model.objects.select_for_update().filter(pk=pk).first()
            if row is None or not isinstance(row.data, dict):
                continue
            data = _map_seeds(row.data, fn)
            if data != row.data:
                authenticator_model.objects.filter(pk=pk).update(data=data)
                written += 1
    return written


def seeds_encrypt_plaintext(authenticator_model) -> int:
    """Encrypt seeds stored before encryption existed (the data migration)."""
    return _rewrite(authenticator_model, lambda v: v if is_encrypted(v) else seed_encrypt(v))


def seeds_decrypt_all(authenticator_model) -> int:
    """Back to plain text (reversing the data migration)."""
    return _rewrite(authenticator_model, lambda v: seed_decrypt(v) if is_encrypted(v) else v)


def seeds_rotate() -> int:
    """Re-encrypt every seed with the first configured key; returns rows written."""
    from allauth.mfa.models import Authenticator

    return _rewrite(Authenticator, lambda v: seed_encrypt(seed_decrypt(v)))


def undecryptable_seeds() -> list[str]:
    """Name every authenticator holding a seed no configured key decrypts (never the seed)."""
    from allauth.mfa.models import Authenticator

    problems = []
    for pk, data in Authenticator.objects.values_list("pk", "data").iterator():
        if not isinstance(data, dict):
            continue
        for key, index in _seed_slots(data):
            value = data[key] if index is None else data[key][index]
            try:
                seed_decrypt(value)
            except DecryptionError:
                problems.append(f"mfa.Authenticator id={pk} field=data.{key}")
                break
    return problems
