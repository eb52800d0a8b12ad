"""TOTP and recovery-code seeds are encrypted at rest, rotate and are checked
(issue 10, item 5)."""

from __future__ import annotations

import importlib

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from cryptography.fernet import Fernet, MultiFernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from encrypted_model_fields import fields as emf

from portal.checks import check_secrets_decrypt
from portal.crypto import DecryptionError
from tests.portal.helpers import sign_in_with_totp

pytestmark = pytest.mark.django_db

_migration = importlib.import_module("portal.migrations.0003_encrypt_mfa_seeds")


def _raw_data(pk: int) -> str:
    """The stored JSON text, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE id = %s", [pk])
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else repr(value)


def _totp(user) -> Authenticator:
    return Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)


def _activate_recovery_codes(user) -> tuple[Authenticator, list[str]]:
    rc = RecoveryCodes.activate(user)
    return rc.instance, rc.generate_codes()


def test_totp_seed_is_not_stored_and_sign_in_still_works(client, staff_user):
    secret = sign_in_with_totp(client, staff_user)
    raw = _raw_data(_totp(staff_user).pk)
    assert secret not in raw
    assert _totp(staff_user).data["secret"].startswith("gAAAAA")
    assert client.get("/").status_code == 200


def test_recovery_code_seed_is_encrypted(staff_user):
    authenticator, codes = _activate_recovery_codes(staff_user)
    seed = emf.CRYPTER.decrypt(authenticator.data["seed"].encode()).decode()
    assert seed not in _raw_data(authenticator.pk)
    assert RecoveryCodes(Authenticator.objects.get(pk=authenticator.pk)).generate_codes() == codes


def test_rotation_re_encrypts_seeds_so_the_old_key_can_go(client, staff_user, monkeypatch):
    old, new = Fernet(Fernet.generate_key()), Fernet(Fernet.generate_key())
    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([old]))
    secret = generate_totp_secret()
    TOTP.activate(staff_user, secret)
    _, codes = _activate_recovery_codes(staff_user)
    before = _totp(staff_user).data["secret"]

    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([new, old]))
    call_command("rotate_encryption_keys")
    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([new]))

    assert _totp(staff_user).data["secret"] != before
    assert check_secrets_decrypt() == []
    rc = Authenticator.objects.get(user=staff_user, type=Authenticator.Type.RECOVERY_CODES)
    assert RecoveryCodes(rc).generate_codes() == codes
    sign_in_with_totp(client, staff_user, secret=secret)
    assert client.get("/").status_code == 200


def test_undecryptable_seed_fails_the_check_and_is_never_used(staff_user, monkeypatch):
    secret = generate_totp_secret()
    TOTP.activate(staff_user, secret)
    assert check_secrets_decrypt() == []
    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([Fernet(Fernet.generate_key())]))
    errors = check_secrets_decrypt()
    assert [e.id for e in errors] == ["portal.E001"]
    assert "mfa.Authenticator" in errors[0].hint and secret not in errors[0].hint
    with pytest.raises(DecryptionError):
        TOTP(_totp(staff_user)).validate_code("123456")


def test_migration_encrypts_plaintext_seeds_once(client, staff_user):
    secret = generate_totp_secret()
    seed = RecoveryCodes.generate_seed()
    totp = Authenticator.objects.create(
        user=staff_user, type=Authenticator.Type.TOTP, data={"secret": secret}
    )
    rc = Authenticator.objects.create(
        user=staff_user,
        type=Authenticator.Type.RECOVERY_CODES,
        data={"seed": seed, "used_mask": 5, "migrated_codes": ["12345678"]},
    )
    assert check_secrets_decrypt()  # plain text is not an acceptable seed

    _migration.encrypt_seeds(apps, None)
    once = {a.pk: a.data for a in Authenticator.objects.all()}
    _migration.encrypt_seeds(apps, None)  # idempotent
    assert {a.pk: a.data for a in Authenticator.objects.all()} == once

    assert secret not in _raw_data(totp.pk)
    assert seed not in _raw_data(rc.pk) and "12345678" not in _raw_data(rc.pk)
    assert once[rc.pk]["used_mask"] == 5
    assert check_secrets_decrypt() == []
    assert RecoveryCodes(Authenticator.objects.get(pk=rc.pk)).generate_codes() == ["12345678"]
    sign_in_with_totp(client, staff_user, secret=secret)
    assert client.get("/").status_code == 200

    _migration.decrypt_seeds(apps, None)
    assert Authenticator.objects.get(pk=totp.pk).data == {"secret": secret}
