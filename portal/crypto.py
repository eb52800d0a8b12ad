"""Encrypted model fields that fail loudly.

django-encrypted-model-fields returns the ciphertext unchanged when it cannot
decrypt it, which would hand a Fernet token to a provider as if it were an
OAuth token. Our field raises instead, and the system check in
``portal.checks`` reports undecryptable rows at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator

import cryptography.fernet
from django.apps import apps
from django.db import models
from django.db.models.functions import Cast
from encrypted_model_fields import fields as emf

from portal.decryption import DecryptionError

__all__ = ["DecryptionError", "EncryptedSecretField", "rotate_encryption", "undecryptable_rows"]


class EncryptedSecretField(models.TextField):
    """A text column stored as a Fernet token; ``None`` stays ``NULL``."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            # Looked up at call time so a patched CRYPTER (tests, rotation) applies.
            return emf.CRYPTER.decrypt(value.encode("utf-8")).decode("utf-8")
        except cryptography.fernet.InvalidToken:
            raise DecryptionError(
                f"{self.model._meta.label}.{self.name} does not decrypt with the configured "
                "FIELD_ENCRYPTION_KEY."
            ) from None

    def get_db_prep_save(self, value, connection):
        value = super().get_db_prep_save(value, connection)
        if value is None or value == "":
            return value
        return emf.CRYPTER.encrypt(str(value).encode("utf-8")).decode("utf-8")


def encrypted_fields() -> Iterator[tuple[type[models.Model], str]]:
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedSecretField):
                yield model, field.attname


def _raw_values(model: type[models.Model], attname: str):
    """Stored ciphertexts, read without going through the field's decryption."""
    return (
        model._default_manager.exclude(**{f"{attname}__isnull": True})
        .exclude(**{attname: ""})
        .annotate(_raw=Cast(attname, output_field=models.TextField()))
        .values_list("pk", "_raw")
    )


def undecryptable_rows() -> list[str]:
    """Name every stored secret that no configured key decrypts (never its value).

    Includes the MFA seeds in allauth's ``Authenticator.data`` (portal/mfa_crypto.py).
    """
    from portal.mfa_crypto import undecryptable_seeds

    problems: list[str] = undecryptable_seeds()
    for model, attname in encrypted_fields():
        for pk, raw in _raw_values(model, attname).iterator():
            try:
                emf.CRYPTER.decrypt(raw.encode("utf-8"))
            except cryptography.fernet.InvalidToken:
                problems.append(f"{model._meta.label} id={pk} field={attname}")
    return problems


def rotate_encryption(batch_size: int = 500) -> int:
    """Re-encrypt every secret, MFA seeds included, and every stored blob (reports, files)
    with the first key, so the old keys can be removed; returns rows and blobs written."""
    from portal.mfa_crypto import seeds_rotate
    from portal.report_storage import blobs_rotate

    written = seeds_rotate()
    for model, attname in encrypted_fields():
        for obj in model._default_manager.all().only("pk", attname).iterator(batch_size):
            value = getattr(obj, attname)
            if value:
                model._default_manager.filter(pk=obj.pk).update(**{attname: value})
                written += 1
    return written + blobs_rotate()
