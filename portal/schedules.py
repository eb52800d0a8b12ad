"""The periodic django-q2 tasks, upserted by name so running set-up twice is harmless."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django_q.models import Schedule

SCHEDULES = {
    "refresh-expiring-tokens": {
        "func": "connectors.tasks.refresh_expiring",
        "schedule_type": Schedule.MINUTES,
        "minutes": 5,
    },
    "fetch-sweeper": {
        "func": "requests_app.tasks.fetch_sweep",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
    # Retries failed emails to data subjects.
    "subject-sweep": {
        "func": "requests_app.tasks.subject_sweep",
        "schedule_type": Schedule.MINUTES,
        "minutes": 5,
    },
    "direct-contact-tick": {
        "func": "requests_app.tasks.direct_contact_tick",
        "schedule_type": Schedule.MINUTES,
        "minutes": settings.DIRECT_CONTACT_TICK_MINUTES,
    },
    # Purges requests past retention (and unconfirmed ones), then sweeps orphaned blobs.
    "retention-purge": {
        "func": "requests_app.tasks.retention_purge",
        "schedule_type": Schedule.HOURLY,
    },
}


def schedules_ensure() -> list[str]:
    with transaction.atomic():
        for name, fields in SCHEDULES.items():
            Schedule.objects.update_or_create(name=name, defaults={**fields, "repeats": -1})
    return list(SCHEDULES)
