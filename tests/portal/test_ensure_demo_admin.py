"""ensure_demo_admin: one superuser, a private password file, the same line every run."""

from __future__ import annotations

import re
import stat
from io import StringIO

import pytest
from django.core.management import call_command

from portal.models import User

pytestmark = pytest.mark.django_db


def _run() -> str:
    out = StringIO()
    call_command("ensure_demo_admin", stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def test_creates_superuser_and_private_password_file(data_dir):
    line = _run()
    match = re.fullmatch(r"Sign in: admin@example\.com / (\S+)", line)
    assert match
    password = match.group(1)
    assert len(password) >= 20
    user = User.objects.get(email="admin@example.com")
    assert user.is_superuser and user.is_staff
    assert user.check_password(password)
    path = data_dir / "demo-admin-password"
    assert path.read_text().strip() == password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_idempotent(data_dir):
    first = _run()
    second = _run()
    assert first == second
    assert User.objects.filter(email="admin@example.com").count() == 1


def test_reuses_stored_password_after_database_reset(data_dir):
    first = _run()
    User.objects.all().delete()
    assert _run() == first


def test_changed_password_is_not_printed(data_dir):
    _run()
    user = User.objects.get(email="admin@example.com")
    user.set_password("changed by the operator 1")
    user.save()
    line = _run()
    assert line.startswith("Sign in: admin@example.com (")
    assert "changed by the operator" not in line


def test_demo_admin_can_sign_in(client, data_dir):
    password = _run().rsplit(" / ", 1)[1]
    response = client.post("/accounts/login/", {"login": "admin@example.com", "password": password})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
