import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import call_command
from django.db import connection as db
from encrypted_model_fields import fields as emf

from connectors.models import Connection
from portal.checks import check_secrets_decrypt
from portal.crypto import DecryptionError, rotate_encryption
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

SENTINELS = {
    "client_secret": "SENTINEL-client-secret-7f3a",
    "access_token": "SENTINEL-access-token-91bc",
    "refresh_token": "SENTINEL-refresh-token-5d2e",
}


def _raw_row(pk: int) -> dict[str, str]:
    with db.cursor() as cur:
        cur.execute(
            "SELECT client_secret, access_token, refresh_token FROM connectors_connection "
            "WHERE id = %s",
            [pk],
        )
        return dict(zip(SENTINELS, cur.fetchone(), strict=True))


def test_secrets_are_fernet_tokens_in_the_raw_row():
    conn = ConnectionFactory(**SENTINELS)
    raw = _raw_row(conn.pk)
    for name, plaintext in SENTINELS.items():
        assert raw[name].startswith("gAAAA"), name
        assert plaintext not in raw[name]
    conn.refresh_from_db()
    assert conn.access_token == SENTINELS["access_token"]


def test_wrong_key_makes_reads_raise_and_the_check_fail(monkeypatch):
    conn = ConnectionFactory(**SENTINELS)
    assert check_secrets_decrypt() == []
    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([Fernet(Fernet.generate_key())]))
    with pytest.raises(DecryptionError):
        Connection.objects.get(pk=conn.pk)
    errors = check_secrets_decrypt()
    assert errors and errors[0].id == "portal.E001"
    assert all(s not in str(e.hint) for e in errors for s in SENTINELS.values())


def test_rotation_re_encrypts_every_row_so_the_old_key_can_go(monkeypatch):
    old = Fernet(Fernet.generate_key())
    new = Fernet(Fernet.generate_key())
    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([old]))
    conns = [ConnectionFactory(**{k: f"{v}-{i}" for k, v in SENTINELS.items()}) for i in range(3)]
    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([new, old]))
    assert rotate_encryption() == 9
    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([new]))
    for i, c in enumerate(conns):
        fresh = Connection.objects.get(pk=c.pk)
        assert fresh.refresh_token == f"{SENTINELS['refresh_token']}-{i}"
    assert check_secrets_decrypt() == []


def test_rotation_command_reports_rows(capsys):
    ConnectionFactory(**SENTINELS)
    call_command("rotate_encryption_keys")
    assert "Re-encrypted 3" in capsys.readouterr().out
