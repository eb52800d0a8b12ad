"""Review: what staff release of the fetched records, and the corrections they make.

Selections and edits live beside the fetched data (``ObjectTypeSelection``,
``Record.included``, ``RecordEdit``); ``Record.data`` is never changed. The rules,
where deselection always wins:

- An object type is released unless staff deselected it. Deselecting a type
  withholds every record and field of it, whatever the records' own choices (kept,
  and in force again when the type is selected again).
- A field (a dotted path, for every record of its type) is released unless staff
  deselected it or, by default, the provider's data rules mark it as a credential
  or as other people's data (``connectors.providers.field_rules``).
- A record follows its type unless staff deselected (or explicitly selected) it.

``report_sections`` and ``report_meta`` are the one path from the current selection
to the report's input: the preview and the approved report both use them.

Every change is audited on the request with ids and field paths, never values.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q
from django.utils import timezone

from connectors.providers.field_rules import FieldRule, object_type_label, path_sort_key, rule_for
from portal import report_storage
from portal.audit import audit_record
from portal.models import User
from portal.roles import require_role
from requests_app.models import ObjectTypeSelection, PrivacyRequest, Record, RecordEdit, Result
from requests_app.reports import ReportFile, ReportMeta, ReportSection, flatten_record

PER_PAGE_MAX = 200
REASON_MAX = 1000
VALUE_JSON_MAX = 100_000  # characters of an edited value as JSON
CHUNK_SIZE = 2000  # records per database round trip when streaming a report
_PATHS_CACHE_SECONDS = 24 * 3600
_MISSING = object()


class ReviewLocked(ValidationError):
    """The request is not in review: its selection and edits cannot change now."""


# --- what the pages show ------------------------------------------------------------------


@dataclass(frozen=True)
class FieldState:
    """One field path of an object type: released or not, and whether that is the default."""

    path: str
    selected: bool
    is_default: bool
    rule: FieldRule | None


@dataclass(frozen=True)
class TypeReview:
    """One object type of one Result, as review sees it."""

    result: Result
    object_type: str
    label: str
    record_count: int
    included: bool
    is_default: bool
    fields: list[FieldState]
    excluded_record_count: int = 0
    edit_count: int = 0

    @property
    def selected_paths(self) -> list[str]:
        return [f.path for f in self.fields if f.selected]

    @property
    def hidden_fields(self) -> list[FieldState]:
        return [f for f in self.fields if not f.selected]


@dataclass(frozen=True)
class RecordView:
    """One record on a review page: its effective inclusion and its values after edits."""

    record: Record
    included: bool
    is_default: bool
    cells: dict[str, Any]
    edits: dict[str, RecordEdit]


@dataclass
class RecordsPage:
    """One page of records (server-side pagination); iterates over its ``RecordView``s."""

    records: list[RecordView]
    number: int
    per_page: int
    count: int
    type_review: TypeReview
    fields: list[FieldState] = field(default_factory=list)

    def __iter__(self) -> Iterator[RecordView]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_pages(self) -> int:
        return max(1, math.ceil(self.count / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def start_index(self) -> int:
        return 0 if not self.count else (self.number - 1) * self.per_page + 1

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.records)


# --- field paths ---------------------------------------------------------------------------


def _type_scan(result: Result, object_type: str) -> tuple[list[str], frozenset[str]]:
    """Field paths of a type (union over its records, in ``path_sort_key`` order), and the paths
    where a conditional data rule matched some record's value.

    Reading every record is the slow part of a page, so the scan is cached under a
    key that changes whenever the type's records do (count, newest id, latest fetch).
    """
    records = Record.objects.filter(result_id=result.pk, object_type=object_type)
    stamp = records.aggregate(n=Count("id"), last=Max("id"), fetched=Max("fetched_at"))
    fetched = stamp["fetched"].isoformat() if stamp["fetched"] else ""
    key = f"review:paths:{result.pk}:{object_type}:{stamp['n']}:{stamp['last']}:{fetched}"
    cached = cache.get(key)
    if cached is None:
        seen: dict[str, None] = {}
        conditional: dict[str, FieldRule] = {}
        hits: set[str] = set()
        for data in records.order_by("id").values_list("data", flat=True).iterator(CHUNK_SIZE):
            if not isinstance(data, dict):
                continue
            for path, value in flatten_record(data).items():
                if path not in seen:
                    seen[path] = None
                    rule = rule_for(result.provider, object_type, path)
                    if rule is not None and rule.when is not None:
                        conditional[path] = rule
                if path in conditional and path not in hits and conditional[path].when(value):
                    hits.add(path)
        cached = (sorted(seen, key=path_sort_key), sorted(hits))
        cache.set(key, cached, _PATHS_CACHE_SECONDS)
    return list(cached[0]), frozenset(cached[1])


def object_type_paths(result: Result, object_type: str) -> list[str]:
    """Union of the flattened field paths of a type's records, in ``path_sort_key`` order."""
    return _type_scan(result, object_type)[0]


def _field_states(
    result: Result, object_type: str, selection: ObjectTypeSelection | None
) -> list[FieldState]:
    chosen = selection.fields if selection else {}
    paths, hits = _type_scan(result, object_type)
    states = []
    for path in paths:
        rule = rule_for(result.provider, object_type, path)
        if rule is not None and rule.when is not None and path not in hits:
            rule = None  # e.g. a join link without a passcode in any record
        choice = chosen.get(path)
        selected = (rule is None) if choice is None else bool(choice)
        states.append(FieldState(path, selected, choice is None, rule))
    return states


def released_columns(fields: list[FieldState]) -> list[str]:
    """The selected paths that may be written whole.

    A path that is a leaf in some records and holds deeper paths in others (an empty
    object, a value whose shape varies) is released only if every path under it is:
    writing it whole must never bring back a deselected field.
    """
    selected = [f.path for f in fields if f.selected]
    hidden = [f.path for f in fields if not f.selected]
    return [p for p in selected if not any(h.startswith(p + ".") for h in hidden)]


# --- effective selection -------------------------------------------------------------------


def _selection(result: Result, object_type: str) -> ObjectTypeSelection | None:
    return ObjectTypeSelection.objects.filter(result=result, object_type=object_type).first()


def _type_included(selection: ObjectTypeSelection | None) -> tuple[bool, bool]:
    """(included, is_default) of an object type."""
    if selection is None or selection.included is None:
        return True, True
    return bool(selection.included), False


def _review_results(request: PrivacyRequest):
    has_records = Exists(Record.objects.filter(result_id=OuterRef("pk")))
    return request.results.filter(has_records).order_by("connection_name", "id")


def review_object_types(request: PrivacyRequest) -> list[TypeReview]:
    """Every Result with records, then each of its object types, with fields and defaults."""
    rows = (
        Record.objects.filter(result__request=request)
        .values("result_id", "object_type")
        .annotate(
            n=Count("id"),
            excluded=Count("id", filter=Q(included=False)),
        )
        .order_by("result_id", "object_type")
    )
    counts = {(r["result_id"], r["object_type"]): r for r in rows}
    edit_counts: dict[tuple[int, str], int] = {}
    for result_id, object_type, n in (
        RecordEdit.objects.filter(record__result__request=request, reverted_at__isnull=True)
        .values_list("record__result_id", "record__object_type")
        .annotate(n=Count("id"))
        .order_by()
    ):
        edit_counts[(result_id, object_type)] = n
    selections = {
        (s.result_id, s.object_type): s
        for s in ObjectTypeSelection.objects.filter(result__request=request)
    }
    reviews = []
    for result in _review_results(request).select_related("connection"):
        for (result_id, object_type), row in counts.items():
            if result_id != result.pk:
                continue
            selection = selections.get((result.pk, object_type))
            included, is_default = _type_included(selection)
            reviews.append(
                TypeReview(
                    result=result,
                    object_type=object_type,
                    label=object_type_label(result.provider, object_type),
                    record_count=row["n"],
                    included=included,
                    is_default=is_default,
                    fields=_field_states(result, object_type, selection),
                    excluded_record_count=row["excluded"],
                    edit_count=edit_counts.get((result.pk, object_type), 0),
                )
            )
    return reviews


def type_review(result: Result, object_type: str) -> TypeReview:
    """One object type of one Result (raises ``Record.DoesNotExist`` if it has no records)."""
    records = Record.objects.filter(result=result, object_type=object_type)
    stats = records.aggregate(n=Count("id"), excluded=Count("id", filter=Q(included=False)))
    if not stats["n"]:
        raise Record.DoesNotExist(f"No {object_type} records in this result.")
    selection = _selection(result, object_type)
    included, is_default = _type_included(selection)
    return TypeReview(
        result=result,
        object_type=object_type,
        label=object_type_label(result.provider, object_type),
        record_count=stats["n"],
        included=included,
        is_default=is_default,
        fields=_field_states(result, object_type, selection),
        excluded_record_count=stats["excluded"],
        edit_count=RecordEdit.objects.filter(
            record__result=result, record__object_type=object_type, reverted_at__isnull=True
        ).count(),
    )


# --- applying edits ------------------------------------------------------------------------


def _get(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _set(data: dict, parts: list[str], value: Any) -> dict:
    """A copy of ``data`` with ``value`` at ``parts``; only the dicts on the way are copied."""
    out = dict(data)
    node = out
    for part in parts[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    node[parts[-1]] = value
    return out


def apply_edits(data: dict, edits: Iterator[RecordEdit] | list[RecordEdit]) -> dict:
    """The record's data with its active edits applied; ``data`` itself is not touched."""
    for edit in edits:
        if edit.reverted_at is None:
            data = _set(data, edit.path.split("."), copy.deepcopy(edit.value))
    return data


def _active_edits() -> Prefetch:
    return Prefetch(
        "edits",
        queryset=RecordEdit.objects.filter(reverted_at__isnull=True).order_by("edited_at", "id"),
        to_attr="active_edits",
    )


# --- the records page ----------------------------------------------------------------------


def review_records_page(
    result: Result, object_type: str, page: int = 1, per_page: int = 50
) -> RecordsPage:
    """One page of a type's records with values after edits (``page`` is clamped)."""
    per_page = max(1, min(int(per_page), PER_PAGE_MAX))
    review = type_review(result, object_type)
    count = review.record_count
    num_pages = max(1, math.ceil(count / per_page))
    number = min(max(1, int(page)), num_pages)
    offset = (number - 1) * per_page
    records = list(
        Record.objects.filter(result=result, object_type=object_type)
        .order_by("id")
        .prefetch_related(_active_edits())[offset : offset + per_page]
    )
    paths = [f.path for f in review.fields]
    views = []
    for record in records:
        edits = {e.path: e for e in record.active_edits}
        data = record.data if isinstance(record.data, dict) else {}
        flat = flatten_record(apply_edits(data, record.active_edits) if edits else data)
        cells = {p: flat.get(p) for p in paths}
        for path in edits:
            cells.setdefault(path, flat.get(path))
        if not review.included:
            included, is_default = False, record.included is None
        elif record.included is None:
            included, is_default = True, True
        else:
            included, is_default = bool(record.included), False
        views.append(RecordView(record, included, is_default, cells, edits))
    return RecordsPage(views, number, per_page, count, review, review.fields)


# --- changes -------------------------------------------------------------------------------


def _locked(request: PrivacyRequest, actor: User) -> PrivacyRequest:
    """The request row, locked, after the role and status checks (inside a transaction)."""
    locked = PrivacyRequest.objects.select_for_update().get(pk=request.pk)
    if locked.status != PrivacyRequest.Status.IN_REVIEW:
        raise ReviewLocked(
            f"The request is {locked.get_status_display().lower()}, not in review: "
            "its selection and edits cannot change."
        )
    if approval_in_progress(locked):
        raise ReviewLocked("The report is being built for approval: the review is frozen.")
    return locked


# An approval whose builder died (a killed worker or web process) stops freezing the
# review after this long, so a crash never leaves a request stuck.
APPROVAL_STALE_AFTER = timedelta(hours=1)


def approval_in_progress(request: PrivacyRequest) -> bool:
    """Whether an approval is building this request's report right now."""
    started = request.approval_started_at
    return (
        request.approval_token is not None
        and started is not None
        and timezone.now() - started < APPROVAL_STALE_AFTER
    )


def _edited_by(request: PrivacyRequest, actor: User) -> None:
    PrivacyRequest.objects.filter(pk=request.pk).update(review_last_editor=actor)
    request.review_last_editor = actor


def _own_result(request: PrivacyRequest, result: Result) -> None:
    if result.request_id != request.pk:
        raise ValidationError("That result belongs to another request.")


def _own_record(request: PrivacyRequest, record: Record) -> Result:
    result = Result.objects.get(pk=record.result_id)
    _own_result(request, result)
    return result


def _known_type(result: Result, object_type: str) -> None:
    if not Record.objects.filter(result=result, object_type=object_type).exists():
        raise ValidationError(f"This result has no records of type {object_type!r}.")


def _known_path(result: Result, object_type: str, path: str) -> None:
    if path not in object_type_paths(result, object_type):
        raise ValidationError(f"{object_type!r} records have no field {path!r}.")


def _optional_bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValidationError(f"{name} must be true, false or null (the default).")


def _selection_save(
    selection: ObjectTypeSelection, field: str, request: PrivacyRequest, actor: User
) -> None:
    """Save one changed column of a type's selection and note who changed the review."""
    selection.updated_by = actor
    selection.updated_at = timezone.now()
    selection.save(update_fields=[field, "updated_by", "updated_at"])
    _edited_by(request, actor)


def _selection_for_update(result: Result, object_type: str) -> ObjectTypeSelection:
    selection, _ = ObjectTypeSelection.objects.select_for_update().get_or_create(
        result=result, object_type=object_type
    )
    return selection


def object_type_set_included(
    request: PrivacyRequest,
    result: Result,
    object_type: str,
    included: bool | None,
    *,
    actor: User,
) -> ObjectTypeSelection:
    """Release (True), withhold (False) or reset to the default (None) a whole object type."""
    require_role(actor, "review")
    included = _optional_bool(included, "included")
    _own_result(request, result)
    with transaction.atomic():
        _locked(request, actor)
        _known_type(result, object_type)
        selection = _selection_for_update(result, object_type)
        selection.included = included
        _selection_save(selection, "included", request, actor)
        audit_record(
            action="review.type_selection_changed",
            target=request,
            actor=actor,
            details={"result_id": result.pk, "object_type": object_type, "included": included},
        )
    return selection


def field_set_selected(
    request: PrivacyRequest,
    result: Result,
    object_type: str,
    path: str,
    selected: bool | None,
    *,
    actor: User,
) -> ObjectTypeSelection:
    """Release, withhold or reset (None) one field path for every record of its type."""
    require_role(actor, "review")
    selected = _optional_bool(selected, "selected")
    _own_result(request, result)
    with transaction.atomic():
        _locked(request, actor)
        _known_type(result, object_type)
        _known_path(result, object_type, path)
        selection = _selection_for_update(result, object_type)
        fields = dict(selection.fields)
        if selected is None:
            fields.pop(path, None)
        else:
            fields[path] = selected
        selection.fields = fields
        _selection_save(selection, "fields", request, actor)
        audit_record(
            action="review.field_selection_changed",
            target=request,
            actor=actor,
            details={
                "result_id": result.pk,
                "object_type": object_type,
                "path": path,
                "selected": selected,
            },
        )
    return selection


def record_set_included(
    request: PrivacyRequest, record: Record, included: bool | None, *, actor: User
) -> Record:
    """Withhold (False), release (True) or reset (None: follow its type) one record."""
    require_role(actor, "review")
    included = _optional_bool(included, "included")
    _own_record(request, record)
    with transaction.atomic():
        _locked(request, actor)
        Record.objects.filter(pk=record.pk).update(included=included)
        record.included = included
        _edited_by(request, actor)
        audit_record(
            action="review.record_selection_changed",
            target=request,
            actor=actor,
            details={
                "result_id": record.result_id,
                "record_id": record.pk,
                "object_type": record.object_type,
                "included": included,
            },
        )
    return record


def _clean_reason(reason: Any) -> str:
    reason = (reason or "").strip() if isinstance(reason, str | type(None)) else None
    if reason is None:
        raise ValidationError("The reason must be text.")
    if not reason:
        raise ValidationError("Give a reason for the edit.")
    if len(reason) > REASON_MAX:
        raise ValidationError(f"The reason is longer than {REASON_MAX} characters.")
    return reason


def _clean_value(value: Any) -> Any:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(
            "The value must be JSON: text, a number, true/false, null, a list or an object."
        ) from None
    if len(text) > VALUE_JSON_MAX:
        raise ValidationError(f"The value is longer than {VALUE_JSON_MAX} characters as JSON.")
    return json.loads(text)


def record_edit(
    request: PrivacyRequest, record: Record, path: str, value: Any, reason: str, *, actor: User
) -> RecordEdit:
    """Correct the value at ``path``; the fetched value is kept as the edit's original.

    An earlier active edit of the same path is reverted by this one (both stay on
    record). ``path`` must be one of the type's field paths.
    """
    require_role(actor, "review")
    reason = _clean_reason(reason)
    value = _clean_value(value)
    if not isinstance(path, str) or not path or any(not p for p in path.split(".")):
        raise ValidationError("The field path is not valid.")
    result = _own_record(request, record)
    with transaction.atomic():
        _locked(request, actor)
        _known_path(result, record.object_type, path)
        fresh = Record.objects.select_for_update().get(pk=record.pk)
        original = _get(fresh.data, path.split("."))
        if original is _MISSING:
            parts = path.split(".")
            for end in range(1, len(parts)):
                above = _get(fresh.data, parts[:end])
                if above is not _MISSING and not isinstance(above, dict):
                    raise ValidationError(f"{'.'.join(parts[:end])!r} is not an object here.")
            original = dict(RecordEdit.MISSING_ORIGINAL)
        now = timezone.now()
        previous = RecordEdit.objects.filter(record=fresh, path=path, reverted_at__isnull=True)
        replaced = list(previous.values_list("id", flat=True))
        previous.update(reverted_at=now, reverted_by=actor)
        edit = RecordEdit.objects.create(
            record=fresh,
            path=path,
            original=original,
            value=value,
            reason=reason,
            edited_by=actor,
            edited_at=now,
        )
        _edited_by(request, actor)
        audit_record(
            action="review.record_edited",
            target=request,
            actor=actor,
            details={
                "result_id": fresh.result_id,
                "record_id": fresh.pk,
                "object_type": fresh.object_type,
                "path": path,
                "edit_id": edit.pk,
                "replaced_edit_ids": replaced,
            },
        )
    return edit


def record_edit_revert(request: PrivacyRequest, edit: RecordEdit, *, actor: User) -> RecordEdit:
    """Undo an active edit: the fetched value is released again; the edit stays on record."""
    require_role(actor, "review")
    record = Record.objects.get(pk=edit.record_id)
    _own_record(request, record)
    with transaction.atomic():
        _locked(request, actor)
        fresh = RecordEdit.objects.select_for_update().get(pk=edit.pk)
        if fresh.reverted_at is not None:
            raise ValidationError("This edit is already reverted.")
        fresh.reverted_at = timezone.now()
        fresh.reverted_by = actor
        fresh.save(update_fields=["reverted_at", "reverted_by"])
        edit.reverted_at, edit.reverted_by = fresh.reverted_at, actor
        _edited_by(request, actor)
        audit_record(
            action="review.edit_reverted",
            target=request,
            actor=actor,
            details={
                "result_id": record.result_id,
                "record_id": record.pk,
                "object_type": record.object_type,
                "path": fresh.path,
                "edit_id": fresh.pk,
            },
        )
    return fresh


# --- the report's input --------------------------------------------------------------------


def _released_records(result_id: int, object_type: str, columns: list[str]):
    """A callable giving a fresh iterator of the released records, edits applied."""

    def records() -> Iterator[dict]:
        rows = (
            Record.objects.filter(result_id=result_id, object_type=object_type)
            .exclude(included=False)
            .only("id", "data")
            .order_by("id")
            .prefetch_related(_active_edits())
            .iterator(chunk_size=CHUNK_SIZE)
        )
        for record in rows:
            data = record.data if isinstance(record.data, dict) else {}
            yield apply_edits(data, record.active_edits) if record.active_edits else data

    return records


def report_sections(request: PrivacyRequest) -> list[ReportSection]:
    """The released object types, their released columns, and their records (lazily).

    The one path from the current selection to the report: preview and approval
    both build from it. Withheld types are left out; a released type with every
    record withheld stays, empty.
    """
    sections = []
    for review in review_object_types(request):
        if not review.included:
            continue
        result = review.result
        columns = released_columns(review.fields)
        sections.append(
            ReportSection(
                system=result.connection_name,
                provider=result.provider,
                object_type=review.object_type,
                label=review.label,
                columns=columns,
                records=_released_records(result.pk, review.object_type, columns),
            )
        )
    return sections


# Object types whose records stand for attached files (Direct Contact uploads):
# ``external_id`` is the encrypted blob's storage name, ``data["file"]`` its zip path.
ATTACHED_FILE_TYPES = ("direct_contact_file",)


def _unique_path(path: str, seen: set[str]) -> str:
    """``path``, or ``files/<folder>/<stem>-N.<ext>`` if another file already has it."""
    folder, _, name = path.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = path, 2
    while candidate in seen:
        candidate, n = f"{folder}/{stem}-{n}{'.' + ext if ext else ''}", n + 1
    seen.add(candidate)
    return candidate


def report_files(request: PrivacyRequest) -> list[ReportFile]:
    """The released attached files: records of a released file type not withheld.

    Paths are unique across the whole request: each task's folder is already made
    unique when its answer is accepted, and any clash left (answers accepted before
    that rule) gets a numbered name instead of failing the approval.
    """
    files = []
    seen: set[str] = set()
    for review in review_object_types(request):
        if review.object_type not in ATTACHED_FILE_TYPES or not review.included:
            continue
        rows = (
            Record.objects.filter(result=review.result, object_type=review.object_type)
            .exclude(included=False)
            .order_by("id")
            .values_list("external_id", "data")
        )
        for storage_name, data in rows:
            path = data.get("file") if isinstance(data, dict) else None
            if path:
                files.append(
                    ReportFile(
                        path=_unique_path(path, seen),
                        open=lambda name=storage_name: report_storage.open_decrypted(name),
                    )
                )
    return files


def _report_notices(request: PrivacyRequest) -> tuple[str, ...]:
    skipped = (
        request.results.filter(status=Result.Status.SKIPPED, error_code="escalated_skip")
        .order_by("connection_name")
        .values_list("connection_name", flat=True)
    )
    return tuple(
        f"{name} was not included: its owner did not answer our request in time."
        for name in skipped
    )


def report_meta(request: PrivacyRequest, generated_at: datetime) -> ReportMeta:
    """What the report says about the request, dated ``generated_at``."""
    return ReportMeta(
        notices=_report_notices(request),
        reference=str(request.reference),
        request_type=request.get_request_type_display(),
        regulation=request.get_regulation_display(),
        subject_name=request.subject_name,
        subject_email=request.subject_email,
        received_at=request.received_at,
        generated_at=generated_at,
    )


def selection_snapshot(request: PrivacyRequest) -> dict[str, Any]:
    """What is released, as ids and paths (stored with an approved report)."""
    types = []
    for review in review_object_types(request):
        records = Record.objects.filter(result=review.result, object_type=review.object_type)
        types.append(
            {
                "result_id": review.result.pk,
                "object_type": review.object_type,
                "included": review.included,
                "columns": released_columns(review.fields) if review.included else [],
                "withheld_fields": [f.path for f in review.fields if not f.selected],
                "withheld_record_ids": list(
                    records.filter(included=False).order_by("id").values_list("id", flat=True)
                ),
                "edit_ids": list(
                    RecordEdit.objects.filter(
                        record__in=records.exclude(included=False), reverted_at__isnull=True
                    )
                    .order_by("id")
                    .values_list("id", flat=True)
                )
                if review.included
                else [],
            }
        )
    return {"object_types": types}
