"""Low-severity hardening (issue 10, item 11): no-store, quiet access logs, private files,
no simulator in production."""

from __future__ import annotations

import json
import logging
import stat

import pytest
from django.urls import reverse

from portal.api_tokens import api_token_create
from tests.portal.helpers import production_env, run_python

pytestmark = pytest.mark.django_db


# --- Cache-Control: no-store -------------------------------------------------------------


def test_staff_pages_are_not_stored_by_caches(staff_client):
    response = staff_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_sign_in_page_is_not_stored(client):
    assert "no-store" in client.get(reverse("account_login"))["Cache-Control"]


def test_api_responses_are_not_stored(client, staff_user):
    _, raw = api_token_create(user=staff_user)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    response = client.get(reverse("api_connections"), **headers)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    # Errors too: an error body may echo what was asked.
    assert "no-store" in client.get("/api/v1/nowhere", **headers)["Cache-Control"]
    assert "no-store" in client.get(reverse("api_requests"))["Cache-Control"]


# --- Access logs: no OAuth codes, states or search terms -------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def server_log():
    logger = logging.getLogger("django.server")
    handler = _Capture()
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    "path, secrets",
    [
        ("/connections/3/callback?code=AUTHCODE123&state=STATE456", ["AUTHCODE123", "STATE456"]),
        ("/requests/?q=jane.doe%40example.com&status=open", ["jane.doe", "example.com"]),
        ("/subject/?email=jane@example.com&token=TKN789", ["jane", "TKN789"]),
        ("/x?page=2&Code=Mixed&STATE=Case;q=semi", ["Mixed", "Case", "semi"]),
    ],
)
def test_access_log_redacts_query_values(server_log, path, secrets):
    # The record runserver writes for each request (django.core.servers.basehttp).
    logging.getLogger("django.server").info('"%s" %s %s', f"GET {path} HTTP/1.1", "302", "0")
    (line,) = server_log
    for secret in secrets:
        assert secret not in line
    assert line.startswith('"GET /') and line.endswith('HTTP/1.1" 302 0')
    assert path.split("?")[0] in line


def test_access_log_keeps_harmless_paging(server_log):
    logging.getLogger("django.server").info('"%s" %s %s', "GET /requests/?page=3 HTTP/1.1", 200, 9)
    assert server_log == ['"GET /requests/?page=3 HTTP/1.1" 200 9']


def test_access_log_leaves_other_messages_alone(server_log):
    logging.getLogger("django.server").warning("You're accessing the server over HTTPS?code=1")
    assert server_log == ["You're accessing the server over HTTPS?code=[redacted]"]


# --- Private data folder and database file -------------------------------------------------

_OPEN_DATABASE = """
import json, os, stat
os.umask(0o022)
import django
django.setup()
from django.conf import settings
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE t (x int)")
    cursor.execute("INSERT INTO t VALUES (1)")
name = settings.DATABASES["default"]["NAME"]
modes = {
    "data": stat.S_IMODE(os.stat(settings.DATA_DIR).st_mode),
    "db": stat.S_IMODE(os.stat(name).st_mode),
}
for suffix in ("-wal", "-shm"):
    if os.path.exists(name + suffix):
        modes[suffix] = stat.S_IMODE(os.stat(name + suffix).st_mode)
print(json.dumps(modes))
"""


@pytest.mark.parametrize("django_env", ["development", "production"])
def test_data_folder_and_sqlite_file_are_private(tmp_path, django_env):
    env = production_env(tmp_path, DJANGO_ENV=django_env, REDIS_URL=None, DATABASE_URL=None)
    result = run_python(["-c", _OPEN_DATABASE], env)
    assert result.returncode == 0, result.stderr
    modes = json.loads(result.stdout)
    assert modes.pop("data") == 0o700
    assert modes.pop("db") == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes


def test_existing_world_readable_database_file_is_tightened(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    db = data / "db.sqlite3"
    db.touch(mode=0o644)
    db.chmod(0o644)
    env = production_env(tmp_path, DJANGO_ENV=None, REDIS_URL=None, DATABASE_URL=None)
    result = run_python(["-c", _OPEN_DATABASE], env)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


# --- The simulator is for demos only --------------------------------------------------------


def test_production_refuses_the_simulator(tmp_path):
    result = run_python(["manage.py", "check"], production_env(tmp_path, SIMULATOR_ENABLED="1"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SIMULATOR_ENABLED" in result.stderr


def test_development_allows_the_simulator(tmp_path):
    env = production_env(tmp_path, DJANGO_ENV=None, SIMULATOR_ENABLED="1", REDIS_URL=None)
    result = run_python(["-c", "import django; django.setup()"], env)
    assert result.returncode == 0, result.stderr
