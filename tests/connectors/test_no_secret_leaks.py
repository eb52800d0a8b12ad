"""Sentinel secrets (tokens, client secrets) never reach logs, pages, admin, task rows or errors."""

from __future__ import annotations

import logging

import pytest
from django_q.models import Failure, OrmQ, Success, Task

from connectors import tokens
from connectors.exceptions import ApiError
from connectors.models import Connection
from connectors.simulator.seed import DEMO_CLIENTS
from requests_app.models import Result
from requests_app.services import fetching
from tests.factories import (
    AdminFactory,
    ConnectionFactory,
    PrivacyRequestFactory,
    ResultFactory,
    simulator_connection,
)

ZOOM_FULL = next(c for c in DEMO_CLIENTS if c.account == "full")

pytestmark = pytest.mark.django_db


def secrets_of(connection: Connection) -> list[str]:
    return [
        s
        for s in (connection.client_secret, connection.access_token, connection.refresh_token)
        if s
    ]


def test_no_secret_in_logs_pages_admin_tasks_or_errors(simulator, client, caplog):
    caplog.set_level(logging.DEBUG)
    admin = AdminFactory()
    client.force_login(admin)
    connection = simulator_connection(simulator, "zoom", account="full", lifetime=1)
    sentinels = secrets_of(connection)
    # A refresh (rotation), a failing API call and an invalid_grant all log something.
    tokens.refresh_tokens(connection_id=connection.pk, stale_access_token=connection.access_token)
    connection.refresh_from_db()
    sentinels += secrets_of(connection)
    simulator.fault(provider="zoom", path_prefix="/zoom/v2/users", status=500, count=20)
    from connectors.clients import api_client_for

    errors = []
    try:
        api_client_for(connection).get("/users/me")
    except ApiError as exc:
        errors.append(exc)
    simulator.revoke_token(connection.refresh_token)
    try:
        tokens.refresh_tokens(
            connection_id=connection.pk, stale_access_token=connection.access_token
        )
    except ApiError as exc:
        errors.append(exc)
    assert len(errors) == 2
    # Fetch task rows: run one through django-q2 (sync) so Task rows exist.
    result = ResultFactory(request=PrivacyRequestFactory(), connection=connection)
    fetching.enqueue(result_id=result.pk)
    pages = [
        client.get(url).content.decode()
        for url in (
            "/connections/",
            f"/connections/{connection.pk}/",
            f"/connections/{connection.pk}/edit/",
            "/admin/connectors/connection/",
            f"/admin/connectors/connection/{connection.pk}/change/",
            f"/requests/{result.request_id}/",
            "/admin/django_q/success/",
            "/admin/django_q/failure/",
        )
    ]
    task_rows = [
        repr((t.args, t.kwargs, t.result))
        for model in (Task, Success, Failure)
        for t in model.objects.all()
    ] + [q.payload for q in OrmQ.objects.all()]
    haystacks = {
        "logs": caplog.text,
        "errors": " ".join(f"{e} {e!r} {e.args}" for e in errors),
        "pages": " ".join(pages),
        "tasks": " ".join(task_rows),
        "results": repr(list(Result.objects.values())),
    }
    assert Task.objects.exists()
    for where, text in haystacks.items():
        for secret in sentinels:
            assert secret not in text, f"a secret leaked into {where}"


def test_admin_cannot_add_connections_or_see_secret_fields(client):
    client.force_login(AdminFactory())
    connection = ConnectionFactory(connected=True, client_secret="SENTINEL-admin-secret")
    assert client.get("/admin/connectors/connection/add/").status_code == 403
    page = client.get(f"/admin/connectors/connection/{connection.pk}/change/").content.decode()
    assert "SENTINEL" not in page
    assert 'name="client_secret"' not in page
    assert 'name="access_token"' not in page
