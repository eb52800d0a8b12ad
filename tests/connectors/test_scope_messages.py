"""The connection page's scope messages agree with its own table (issue: scope messages)."""

from __future__ import annotations

import pytest

from connectors import services
from connectors.models import Connection
from connectors.providers import get_provider
from connectors.providers import zoom_scopes as zs
from connectors.selectors import connection_scope_report
from tests.factories import ConnectionFactory, StaffFactory, simulator_connection

pytestmark = pytest.mark.django_db


def _page(client, connection: Connection) -> str:
    return client.get(f"/connections/{connection.pk}/").content.decode()


def test_every_needed_for_text_is_a_full_sentence():
    for slug in ("webex", "zoom"):
        requirement = get_provider(slug).scopes
        for scope, text in {**requirement.blocks, **requirement.optional}.items():
            assert text[:1].isupper() and text.endswith("."), scope
            assert len(text.split()) >= 6, scope


def test_the_optional_list_users_scope_is_in_the_table_marked_optional(simulator, staff_client):
    connection = simulator_connection(simulator, "zoom", account="full")
    services.connection_verify(connection=connection, actor=StaffFactory())
    connection.refresh_from_db()
    # The advice names a scope, and the table lists that same scope as optional.
    assert zs.LIST_USERS_SCOPE in connection.verification_notes
    assert "optional" in connection.verification_notes.lower()
    report = connection_scope_report(connection)
    (row,) = [r for r in report.rows if r.scope == zs.LIST_USERS_SCOPE]
    assert row.optional and not row.granted
    assert zs.LIST_USERS_SCOPE not in report.missing  # not a missing (required) scope
    page = _page(staff_client, connection)
    assert f'<code>{zs.LIST_USERS_SCOPE}</code> <span class="badge' in page
    assert "Optional" in page and "the email lookup works without it" in page
    assert "Missing" not in page.split('id="scopes"')[1].split("</table>")[0].replace(
        "Not granted", ""
    )


def test_granted_optional_scope_is_not_excess():
    granted = {*zs.GRANULAR_SCOPES, zs.LIST_USERS_SCOPE}
    assert get_provider("zoom").scopes.excess(granted) == []


def test_zoom_without_phone_says_the_scope_is_there_and_the_product_is_not(simulator, staff_client):
    connection = simulator_connection(simulator, "zoom", account="basic")
    assert zs.CLASSIC_PHONE_SCOPE in connection.granted_scopes
    services.connection_verify(connection=connection, actor=StaffFactory())
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
    assert connection.missing_products == ["Zoom Phone"]
    report = connection_scope_report(connection)
    assert report.missing == []
    assert report.products_missing == {"Zoom Phone": [zs.CLASSIC_PHONE_SCOPE]}
    page = _page(staff_client, connection)
    assert "The scope is there; Zoom Phone is not." in page
    assert "This is not a scope problem" in page
    assert "Granted, but this account has no Zoom Phone" in page


def test_an_account_with_zoom_phone_has_no_such_message(simulator, staff_client):
    connection = simulator_connection(simulator, "zoom", account="full")
    services.connection_verify(connection=connection, actor=StaffFactory())
    connection.refresh_from_db()
    assert connection.missing_products == []
    assert "Zoom Phone is not" not in _page(staff_client, connection)


def test_a_product_is_only_named_for_its_own_granted_scopes(staff_client):
    connection = ConnectionFactory(
        provider="zoom",
        connected=True,
        granted_scopes=[zs.USER_SCOPE],
        missing_products=["Zoom Phone"],
    )
    report = connection_scope_report(connection)
    assert report.products_missing == {}  # the phone scopes are not granted: a scope problem
    assert zs.PHONE_USER_SCOPE in report.missing
