from __future__ import annotations

import pytest

from tests.factories import AdminFactory, StaffFactory, UserFactory

pytest_plugins = ["tests.fixtures.simulator", "tests.fixtures.clock"]


@pytest.fixture
def staff_user(db):
    return StaffFactory()


@pytest.fixture
def admin_user(db):
    return AdminFactory()


@pytest.fixture
def plain_user(db):
    return UserFactory()


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture(autouse=True)
def fake_clock():
    """Retries and rate-limit waits never really sleep in tests; they advance this clock."""
    from datetime import UTC, datetime

    from connectors import clock

    with clock.use(clock.FakeClock(start=datetime.now(UTC))) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (rate limits, throttles)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
