"""Due dates: calendar months with clamping for GDPR, days for CCPA, one extension each."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Regulation
from requests_app.services.due_dates import (
    add_months,
    days_left,
    due_at_compute,
    extended_due_at_compute,
    local_date,
    privacy_request_extend,
)
from tests.factories import PrivacyRequestFactory, StaffFactory

UTC = ZoneInfo("UTC")


def at(y: int, m: int, d: int, hh: int = 10, tz: ZoneInfo = UTC) -> datetime:
    return datetime(y, m, d, hh, 0, tzinfo=tz)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2025, 12, 31), 1, date(2026, 1, 31)),  # year boundary
        (date(2025, 12, 15), 2, date(2026, 2, 15)),
        (date(2025, 2, 28), 1, date(2025, 3, 28)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2023, 12, 31), 2, date(2024, 2, 29)),
    ],
)
def test_add_months_clamps_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("received", "expected_due"),
    [
        (at(2025, 1, 31), date(2025, 2, 28)),
        (at(2024, 1, 31), date(2024, 2, 29)),
        (at(2025, 1, 15), date(2025, 2, 15)),
        (at(2025, 12, 31), date(2026, 1, 31)),
        (at(2025, 5, 31), date(2025, 6, 30)),
    ],
)
def test_gdpr_due_one_calendar_month(received, expected_due):
    due = due_at_compute(regulation=Regulation.GDPR, received_at=received)
    assert local_date(due) == expected_due
    # Due at the end of that day: still in time a second before midnight.
    assert due > datetime.combine(expected_due, datetime.min.time(), UTC) + timedelta(
        hours=23, minutes=59, seconds=58
    )
    assert local_date(due + timedelta(seconds=1)) == expected_due + timedelta(days=1)


@pytest.mark.parametrize(
    ("received", "expected_due"),
    [
        (at(2025, 1, 1), date(2025, 2, 15)),
        (at(2025, 12, 31), date(2026, 2, 14)),
        (at(2024, 2, 1), date(2024, 3, 17)),  # 29 days in Feb 2024
        (at(2025, 2, 1), date(2025, 3, 18)),
    ],
)
def test_ccpa_due_45_days(received, expected_due):
    assert local_date(due_at_compute(regulation=Regulation.CCPA, received_at=received)) == (
        expected_due
    )


def test_other_regulation_uses_settings(settings):
    settings.OTHER_REGULATION_DUE_DAYS = 10
    settings.OTHER_REGULATION_EXTENSION_DAYS = 20
    due = due_at_compute(regulation=Regulation.OTHER, received_at=at(2025, 3, 1))
    assert local_date(due) == date(2025, 3, 11)
    assert local_date(
        extended_due_at_compute(regulation=Regulation.OTHER, original_due_at=due)
    ) == date(2025, 3, 31)


def test_unknown_regulation_is_refused():
    with pytest.raises(ValidationError):
        due_at_compute(regulation="hipaa", received_at=at(2025, 3, 1))


@pytest.mark.parametrize(
    ("received", "regulation", "expected_extended"),
    [
        # GDPR: two months from the original due date, clamped.
        (at(2024, 11, 30), Regulation.GDPR, date(2025, 2, 28)),  # due 30 Dec → 28 Feb
        (at(2023, 11, 30), Regulation.GDPR, date(2024, 2, 29)),  # leap year
        (at(2025, 1, 31), Regulation.GDPR, date(2025, 4, 28)),  # due 28 Feb → 28 Apr
        (at(2025, 11, 30), Regulation.GDPR, date(2026, 2, 28)),  # across the year
        # CCPA: 45 more days.
        (at(2025, 1, 1), Regulation.CCPA, date(2025, 4, 1)),
    ],
)
def test_extension_counts_from_original_due(received, regulation, expected_extended):
    original = due_at_compute(regulation=regulation, received_at=received)
    extended = extended_due_at_compute(regulation=regulation, original_due_at=original)
    assert local_date(extended) == expected_extended


def test_due_dates_follow_the_configured_time_zone(settings):
    settings.TIME_ZONE = "America/Los_Angeles"
    # 31 Jan 20:00 in Los Angeles is already 1 Feb in UTC: the local date counts.
    received = datetime(2025, 2, 1, 4, 0, tzinfo=UTC)
    due = due_at_compute(regulation=Regulation.GDPR, received_at=received)
    assert local_date(due) == date(2025, 2, 28)
    assert due.astimezone(ZoneInfo("America/Los_Angeles")).date() == date(2025, 2, 28)
    # Days left count local calendar days: at 23:00 LA on 27 Feb (07:00 UTC on 28 Feb) one day.
    assert days_left(due_at=due, now=datetime(2025, 2, 28, 7, 0, tzinfo=UTC)) == 1


def test_days_left_is_negative_when_overdue():
    due = due_at_compute(regulation=Regulation.CCPA, received_at=at(2025, 1, 1))
    assert days_left(due_at=due, now=at(2025, 2, 15, 23)) == 0
    assert days_left(due_at=due, now=at(2025, 2, 16, 0)) == -1
    assert days_left(due_at=due, now=at(2025, 2, 5)) == 10


@pytest.mark.django_db
class TestExtend:
    def _request(self, regulation=Regulation.GDPR, received=None):
        received = received or at(2025, 1, 31)
        due = due_at_compute(regulation=regulation, received_at=received)
        return PrivacyRequestFactory(
            regulation=regulation, received_at=received, due_at=due, original_due_at=due
        )

    @time_machine.travel(datetime(2025, 2, 10, 12, tzinfo=UTC), tick=False)
    def test_extend_once_records_and_audits(self):
        staff = StaffFactory()
        pr = self._request()
        extended = privacy_request_extend(
            privacy_request=pr, reason="  Many systems to search  ", actor=staff
        )
        assert local_date(extended.due_at) == date(2025, 4, 28)
        assert local_date(extended.original_due_at) == date(2025, 2, 28)
        assert extended.extended_at == datetime(2025, 2, 10, 12, tzinfo=UTC)
        assert extended.extension_reason == "Many systems to search"
        event = AuditEvent.objects.get(action="request.extended")
        assert event.actor == staff
        assert event.target_id == str(pr.pk)
        assert event.reason == "Many systems to search"

    def test_second_extension_is_refused(self):
        pr = self._request(regulation=Regulation.CCPA)
        privacy_request_extend(privacy_request=pr, reason="Complex", actor=None)
        due_after_first = PrivacyRequest.objects.get(pk=pr.pk).due_at
        with pytest.raises(ValidationError, match="already extended"):
            privacy_request_extend(privacy_request=pr, reason="Again", actor=None)
        assert PrivacyRequest.objects.get(pk=pr.pk).due_at == due_after_first
        assert AuditEvent.objects.filter(action="request.extended").count() == 1

    def test_reason_is_required(self):
        pr = self._request()
        with pytest.raises(ValidationError) as exc:
            privacy_request_extend(privacy_request=pr, reason="   ", actor=None)
        assert "reason" in exc.value.message_dict
        assert PrivacyRequest.objects.get(pk=pr.pk).extended_at is None

    def test_closed_request_cannot_be_extended(self):
        pr = self._request()
        PrivacyRequest.objects.filter(pk=pr.pk).update(status=PrivacyRequest.Status.CLOSED)
        with pytest.raises(ValidationError, match="open"):
            privacy_request_extend(privacy_request=pr, reason="Late", actor=None)
