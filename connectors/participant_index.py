"""The database side of the Webex participant index: rows, the lease and the key.

What it stores, per connection: the ids and start times of ended (and in-progress)
meeting instances of the lookback, whether each has settled, and for each
participant a keyed hash of their normalised email: HMAC-SHA256 with a key derived
(HKDF) from the first ``FIELD_ENCRYPTION_KEY`` for this purpose alone, truncated to
128 bits. No email, name or other field of a participant is kept, and a hash cannot
be recomputed without the key; a match is always confirmed by reading the instance
again. Rotating the key (a new first key) rebuilds the index.

Single flight: the index-state row carries a lease (token and expiry). Taking it is
one conditional UPDATE, atomic on SQLite and PostgreSQL alike, so workers on any
machine agree on one holder; every write of the holder checks the token, and a
holder that died stops blocking the others when its lease expires.

The fetch logic is in ``connectors/providers/webex_index.py``; this module only
implements its ``IndexStore``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.models import (
    Connection,
    WebexIndexedInstance,
    WebexIndexedParticipant,
    WebexParticipantIndex,
)
from connectors.providers.webex_index import IndexedInstance, IndexState, LeaseLost

PURPOSE = b"dsar-portal webex participant index v1"
HASH_HEX = 32  # 128 bits: a collision costs two calls, never a wrong answer
POLL_SECONDS = 0.5  # how often a waiting worker asks for the lease again


def index_key(fernet_key: str | None = None) -> tuple[bytes, str]:
    """The HMAC key for this purpose and its id (which names the key, not reveals it)."""
    source = fernet_key if fernet_key is not None else _first_key()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        source.encode()
    )
    return key, hashlib.sha256(b"key-id:" + key).hexdigest()[:16]


def _first_key() -> str:
    keys = settings.FIELD_ENCRYPTION_KEY
    if isinstance(keys, str):
        keys = keys.split(",")
    first = next((k.strip() for k in keys if k and k.strip()), "")
    if not first:
        raise ValueError("FIELD_ENCRYPTION_KEY is empty: no key to hash participants with.")
    return first


def participant_index_for(provider: Any, connection: Connection) -> ParticipantIndexStore | None:
    """The store a fetch should use, or None (another provider, or the setting is off)."""
    if not settings.WEBEX_PARTICIPANT_INDEX:
        return None
    if not getattr(provider, "uses_participant_index", False):
        return None
    return ParticipantIndexStore(connection)


class ParticipantIndexStore:
    """``IndexStore`` on the database for one connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection_id = connection.pk
        self.scopes = tuple(sorted(connection.granted_scopes or []))
        self._key, self.key_id = index_key()
        self.lease_seconds = float(settings.WEBEX_PARTICIPANT_INDEX_LEASE_SECONDS)

    # --- keys and state ------------------------------------------------------------

    def email_hash(self, email: str) -> str:
        return hmac.new(self._key, email.encode(), hashlib.sha256).hexdigest()[:HASH_HEX]

    def _row(self) -> WebexParticipantIndex:
        try:
            row, _ = WebexParticipantIndex.objects.get_or_create(connection_id=self.connection_id)
        except IntegrityError:  # created by another worker at the same moment
            row = WebexParticipantIndex.objects.get(connection_id=self.connection_id)
        return row

    def peek(self) -> IndexState:
        return _state(self._row())

    def _mine(self, token: str):
        return WebexParticipantIndex.objects.filter(
            connection_id=self.connection_id, lease_token=token
        )

    # --- the lease -------------------------------------------------------------------

    def acquire(self, token: str) -> IndexState | None:
        row = self._row()
        now = timezone.now()
        taken = (
            WebexParticipantIndex.objects.filter(pk=row.pk)
            .filter(Q(lease_token="") | Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_token=token, lease_until=self._until())
        )
        if not taken:
            return None
        return _state(WebexParticipantIndex.objects.get(pk=row.pk))

    def renew(self, token: str) -> None:
        if not self._mine(token).update(lease_until=self._until()):
            raise LeaseLost

    def release(self, token: str) -> None:
        self._mine(token).update(lease_token="", lease_until=None)

    def wait(self) -> None:
        time.sleep(POLL_SECONDS)  # real time: the holder is another thread or machine

    def _until(self) -> datetime:
        return timezone.now() + timedelta(seconds=self.lease_seconds)

    # --- writes (each checks the lease) -------------------------------------------------

    def reset(self, token: str, state: IndexState) -> None:
        with transaction.atomic():
            row = self._locked(token)
            WebexIndexedInstance.objects.filter(index=row).delete()
            row.version = state.version
            row.org_id = state.org_id
            row.scopes = list(state.scopes)
            row.key_id = state.key_id
            row.covered_from = state.covered_from
            row.watermark = state.watermark
            row.scan = state.scan
            row.built_at = None
            row.save()

    def save(
        self,
        token: str,
        scan: dict[str, Any] | None,
        entries: Sequence[IndexedInstance] = (),
    ) -> None:
        with transaction.atomic():
            row = self._locked(token)
            row.scan = scan
            row.lease_until = self._until()
            row.save(update_fields=["scan", "lease_until", "updated_at"])
            if entries:
                self._replace(row, entries)

    def forget(self, token: str, instance_ids: Sequence[str]) -> None:
        if not instance_ids:
            return
        with transaction.atomic():
            row = self._locked(token)
            WebexIndexedInstance.objects.filter(index=row, instance_id__in=instance_ids).delete()

    def finish(self, token: str, *, watermark: datetime, purge_before: datetime) -> None:
        with transaction.atomic():
            row = self._locked(token)
            WebexIndexedInstance.objects.filter(index=row, start__lt=purge_before).delete()
            row.watermark = watermark
            if row.covered_from is None or row.covered_from < purge_before:
                row.covered_from = purge_before
            row.scan = None
            row.built_at = row.built_at or timezone.now()
            row.save()

    def _locked(self, token: str) -> WebexParticipantIndex:
        row = self._mine(token).select_for_update().first()
        if row is None:
            raise LeaseLost
        return row

    def _replace(self, row: WebexParticipantIndex, entries: Sequence[IndexedInstance]) -> None:
        ids = [entry.instance_id for entry in entries]
        WebexIndexedInstance.objects.filter(index=row, instance_id__in=ids).delete()
        WebexIndexedInstance.objects.bulk_create(
            WebexIndexedInstance(
                index=row, instance_id=e.instance_id[:255], start=e.start, settled=e.settled
            )
            for e in entries
        )
        pks = dict(
            WebexIndexedInstance.objects.filter(index=row, instance_id__in=ids).values_list(
                "instance_id", "pk"
            )
        )
        WebexIndexedParticipant.objects.bulk_create(
            WebexIndexedParticipant(instance_id=pks[e.instance_id[:255]], email_hash=h)
            for e in entries
            for h in sorted(e.hashes)
        )

    # --- reads ---------------------------------------------------------------------------

    def _instances(self):
        return WebexIndexedInstance.objects.filter(index__connection_id=self.connection_id)

    def settled_ids(self, instance_ids: Sequence[str]) -> set[str]:
        return set(
            self._instances()
            .filter(instance_id__in=list(instance_ids), settled=True)
            .values_list("instance_id", flat=True)
        )

    def unsettled(self, start_from: datetime, start_to: datetime) -> list[tuple[str, datetime]]:
        rows = self._instances().filter(settled=False, start__gte=start_from, start__lt=start_to)
        return list(rows.order_by("start", "instance_id").values_list("instance_id", "start"))

    def matches(
        self, email_hash: str, start_from: datetime, start_to: datetime
    ) -> list[tuple[str, datetime]]:
        rows = self._instances().filter(
            participants__email_hash=email_hash, start__gte=start_from, start__lt=start_to
        )
        return list(
            rows.distinct().order_by("start", "instance_id").values_list("instance_id", "start")
        )


def _state(row: WebexParticipantIndex) -> IndexState:
    return IndexState(
        version=row.version,
        org_id=row.org_id,
        scopes=tuple(row.scopes or ()),
        key_id=row.key_id,
        covered_from=row.covered_from,
        watermark=row.watermark,
        scan=row.scan,
    )


def participant_index_rebuild(connection: Connection) -> int:
    """Rebuild one connection's index from scratch (waiting for a scan in progress);
    returns the number of instances indexed."""
    from connectors.clients import api_client_for
    from connectors.providers.webex_index import index_rebuild

    store = ParticipantIndexStore(connection)
    with api_client_for(connection) as client:
        for _ in index_rebuild(client, store):
            pass
    return WebexIndexedInstance.objects.filter(index__connection_id=connection.pk).count()
