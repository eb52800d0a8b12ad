"""Building the released report: report.json, one CSV per object type, report.html, README.txt.

The input is what review released, already selected and edited (``ReportSection``);
this module only formats it. Records are pulled from each section's iterator and
written straight into the zip entry, so memory does not grow with the number of
records. Nothing reads the clock: ``ReportMeta.generated_at`` dates the report and
the zip entries, so the same input always gives the same bytes.

``_report_html_parts`` is the only code that makes report.html: ``render_report_html``
writes it into the zip and ``stream_report_html`` streams the staff preview from it,
so what staff preview is byte for byte what the subject receives.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import html
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, BinaryIO, TextIO
from uuid import UUID

from django.template.loader import get_template
from django.utils.safestring import mark_safe
from django.utils.text import slugify

FORMAT = "dsar-report/1"
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
WIDE_COLUMNS = 6  # more columns than this: one definition list per record, not a table
_TEMPLATES = "requests_app/report/"


class ReportBuildError(RuntimeError):
    """The input changed while the report was being written (formats would disagree)."""


@dataclass(frozen=True)
class ReportMeta:
    """What the report says about the request; ``generated_at`` is its only timestamp."""

    reference: str
    request_type: str
    regulation: str
    subject_name: str
    subject_email: str
    received_at: dt.datetime
    generated_at: dt.datetime
    # Plain sentences for README.txt (e.g. a system skipped because nobody answered).
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportSection:
    """The released records of one object type from one connection.

    ``columns`` are the released dotted field paths, in display order; nothing
    outside them is written, whatever the records hold. ``records()`` must return
    a fresh iterator on every call (each format reads the records once) and yield
    the same records each time.
    """

    system: str
    provider: str
    object_type: str
    label: str
    columns: list[str]
    records: Callable[[], Iterator[dict]]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportFile:
    """A file added to the zip as is: ``path`` is ``files/<system>/<name>``.

    ``open()`` returns an iterable of byte chunks (closed after use if it has
    ``close``), e.g. a decrypted blob from the report storage.
    """

    path: str
    open: Callable[[], Iterable[bytes]]


@dataclass(frozen=True)
class ReportDigest:
    """The zip as written: SHA-256 (hex) of its bytes, its size, and the records in it."""

    sha256: str
    size: int
    record_count: int


# --- values and field paths ----------------------------------------------------------------

_MISSING = object()
_Tree = dict[str, "_Tree | None"]  # None: this path is released with everything under it


def _path_tree(columns: Iterable[str]) -> _Tree:
    tree: _Tree = {}
    for column in columns:
        node = tree
        parts = column.split(".")
        for i, part in enumerate(parts):
            if i == len(parts) - 1:
                node[part] = None
            else:
                child = node.get(part, {})
                if child is None:  # an ancestor is already released whole
                    break
                node = node.setdefault(part, child)
    return tree


def _prune(record: Mapping[str, Any], tree: _Tree) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in record.items():
        if key not in tree:
            continue
        sub = tree[key]
        if sub is None:
            kept[key] = value
        elif isinstance(value, dict):
            inner = _prune(value, sub)
            if inner:
                kept[key] = inner
    return kept


def released_fields(record: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    """The record cut down to ``columns`` (dotted paths), keeping its nesting.

    A path naming an object releases everything under it; paths do not reach into
    lists (a list is one value).
    """
    return _prune(record, _path_tree(columns))


def flatten_record(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted paths to leaf values; lists stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_record(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _lookup(record: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    value: Any = record
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return None
    return value


def value_at(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or ``None`` when the record lacks it."""
    return _lookup(record, tuple(path.split(".")))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _scalar_text(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return _to_json(value)
    text = _json_default(value) if not isinstance(value, int | float) else value
    return str(text)


def neutralise_cell(text: str) -> str:
    """Prefix an apostrophe when a spreadsheet would read the cell as a formula.

    Every cell starting with a listed character is neutralised, negative numbers
    included ("-5" becomes "'-5", which spreadsheets still display as -5 text):
    telling a number from a formula like "-1+cmd|..." is exactly what attacks
    exploit. Leading spaces and line breaks are looked past, as spreadsheets do.
    report.json keeps the real values.
    """
    if text.startswith(CSV_FORMULA_PREFIXES) or text.lstrip().startswith(CSV_FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    """One CSV cell: scalars as text, objects and lists as JSON, then neutralised."""
    return neutralise_cell(_scalar_text(value))


# --- report.json ------------------------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def _human_time(moment: dt.datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def _systems(sections: Iterable[ReportSection]) -> list[tuple[str, str, list[ReportSection]]]:
    """Sections grouped by system, in order of first appearance."""
    groups: dict[tuple[str, str], list[ReportSection]] = {}
    for section in sections:
        groups.setdefault((section.system, section.provider), []).append(section)
    return [(system, provider, group) for (system, provider), group in groups.items()]


def write_report_json(meta: ReportMeta, sections: list[ReportSection], out: TextIO) -> list[int]:
    """Stream report.json; returns the record count of each section, in input order."""
    counts: dict[int, int] = {}
    j = _to_json
    request = {
        "type": meta.request_type,
        "regulation": meta.regulation,
        "received_at": _iso(meta.received_at),
        "subject": {"name": meta.subject_name, "email": meta.subject_email},
    }
    out.write(
        "{\n"
        f'  "format": {j(FORMAT)},\n'
        f'  "reference": {j(meta.reference)},\n'
        f'  "generated_at": {j(_iso(meta.generated_at))},\n'
        f'  "request": {j(request)},\n'
        '  "systems": ['
    )
    index = {id(s): i for i, s in enumerate(sections)}
    for s_i, (system, provider, group) in enumerate(_systems(sections)):
        out.write(
            f'{"," if s_i else ""}\n    {{\n      "system": {j(system)},\n'
            f'      "provider": {j(provider)},\n      "object_types": ['
        )
        for t_i, section in enumerate(group):
            out.write(
                f"{',' if t_i else ''}\n        {{\n"
                f'          "object_type": {j(section.object_type)},\n'
                f'          "label": {j(section.label)},\n'
                f'          "columns": {j(list(section.columns))},\n'
                f'          "notes": {j(list(section.notes))},\n'
                '          "records": ['
            )
            tree = _path_tree(section.columns)
            count = 0
            for record in section.records():
                out.write(f"{',' if count else ''}\n            {j(_prune(record, tree))}")
                count += 1
            out.write(f"{chr(10) + '          ' if count else ''}],\n")
            out.write(f'          "record_count": {count}\n        }}')
            counts[index[id(section)]] = count
        out.write(f"{chr(10) + '      ' if group else ''}]\n    }}")
    out.write(f"{chr(10) + '  ' if sections else ''}]\n}}\n")
    return [counts[i] for i in range(len(sections))]


# --- CSV --------------------------------------------------------------------------------------


def csv_names(sections: list[ReportSection]) -> list[str]:
    """``csv/<system-slug>__<object-type>.csv`` per section, made unique in order."""
    names: list[str] = []
    seen: set[str] = set()
    for i, section in enumerate(sections):
        system = slugify(section.system) or f"system-{i + 1}"
        kind = slugify(section.object_type) or f"type-{i + 1}"
        base = f"csv/{system}__{kind}"
        name, n = f"{base}.csv", 2
        while name in seen:
            name, n = f"{base}-{n}.csv", n + 1
        seen.add(name)
        names.append(name)
    return names


def write_section_csv(section: ReportSection, out: TextIO) -> int:
    """One object type as CSV (header = columns); returns the record count.

    ``out`` should encode as UTF-8 with a BOM ("utf-8-sig") and use ``newline=""``.
    """
    writer = csv.writer(out)
    writer.writerow([neutralise_cell(c) for c in section.columns])
    count = 0
    paths = [tuple(c.split(".")) for c in section.columns]
    for record in section.records():
        writer.writerow([csv_cell(_lookup(record, p)) for p in paths])
        count += 1
    return count


# --- report.html ------------------------------------------------------------------------------


@cache
def _template(name: str):
    return get_template(_TEMPLATES + name)


def _render(name: str, context: dict[str, Any]) -> str:
    return _template(name).render(context)


@cache
def report_css() -> str:
    """The report's only style sheet, inlined in its head."""
    return _render("report.css", {})


def report_style_csp_source() -> str:
    """The CSP source (``'sha256-…'``) that allows the report's inline style in a preview."""
    digest = hashlib.sha256(report_css().encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


_esc = html.escape


def _html_value(value: Any) -> str:
    """Escaped HTML for one value; objects as nested definition lists, lists as numbered lists."""
    if type(value) is str:
        return _esc(value)
    if isinstance(value, dict):
        if not value:
            return ""
        items = "".join(
            f"<dt>{_esc(str(k))}</dt><dd>{_html_value(v)}</dd>"
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]).casefold())
        )
        return f'<dl class="nested">{items}</dl>'
    if isinstance(value, list | tuple):
        if not value:
            return ""
        items = "".join(f"<li>{_html_value(v)}</li>" for v in value)
        return f'<ol class="list">{items}</ol>'
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return _esc(_scalar_text(value))


def _row_parts(section: ReportSection, first: dict, rest: Iterator[dict]) -> Iterator[str]:
    """One piece of HTML per record; the generator returns how many records it wrote."""
    columns = section.columns
    paths = [tuple(c.split(".")) for c in columns]
    wide = len(columns) > WIDE_COLUMNS
    heads = [_esc(c) for c in columns]
    count = 0
    record: dict | None = first
    while record is not None:
        count += 1
        cells = [_html_value(_lookup(record, p)) for p in paths]
        if wide:
            fields = "".join(f"<dt>{h}</dt><dd>{v}</dd>" for h, v in zip(heads, cells, strict=True))
            yield (
                f'<article class="record"><h4>Record {count}</h4>'
                f'<dl class="fields">{fields}</dl></article>\n'
            )
        else:
            yield f"<tr><td>{count}</td>{''.join(f'<td>{v}</td>' for v in cells)}</tr>\n"
        record = next(rest, None)
    return count


def _report_html_parts(
    meta: ReportMeta, sections: list[ReportSection], counts: dict[int, int]
) -> Iterator[str]:
    """report.html piece by piece (a record at a time); fills ``counts`` per section id."""
    groups = _systems(sections)
    anchors = {id(s): f"section-{i + 1}" for i, s in enumerate(sections)}
    generated = _human_time(meta.generated_at)
    yield _render(
        "head.html",
        {
            "reference": meta.reference,
            "request_type": meta.request_type,
            "regulation": meta.regulation,
            "subject_name": meta.subject_name,
            "subject_email": meta.subject_email,
            "received": _human_time(meta.received_at),
            "generated": generated,
            "css": mark_safe(report_css()),  # noqa: S308 - our own static style sheet
            "systems": [
                {
                    "name": system,
                    "sections": [{"anchor": anchors[id(s)], "label": s.label} for s in group],
                }
                for system, _provider, group in groups
            ],
        },
    )
    for system, provider, group in groups:
        yield _render("system_start.html", {"name": system, "provider": provider})
        for section in group:
            records = section.records()
            first = next(records, None)
            if first is None:
                layout = "empty"
            else:
                layout = "records" if len(section.columns) > WIDE_COLUMNS else "table"
            context = {
                "anchor": anchors[id(section)],
                "label": section.label,
                "notes": section.notes,
                "layout": layout,
                "columns": section.columns,
            }
            yield _render("section_start.html", context)
            count = 0
            if first is not None:
                count = yield from _row_parts(section, first, records)
            yield _render("section_end.html", {"layout": layout, "count": count})
            counts[id(section)] = count
        yield _render("system_end.html", {})
    yield _render("foot.html", {"reference": meta.reference, "generated": generated})


def render_report_html(meta: ReportMeta, sections: list[ReportSection], out: TextIO) -> list[int]:
    """Write report.html (self-contained, escaped, printable); returns per-section counts.

    The same pieces make the staff preview (``stream_report_html``), so preview and
    delivery match byte for byte. Records are written one at a time.
    """
    counts: dict[int, int] = {}
    for part in _report_html_parts(meta, sections, counts):
        out.write(part)
    return [counts[id(s)] for s in sections]


HTML_CHUNK_CHARS = 64 * 1024
# How every text entry of the zip (and the streamed preview) encodes what UTF-8 cannot.
HTML_ENCODING_ERRORS = "replace"


def stream_report_html(
    meta: ReportMeta, sections: list[ReportSection], chunk_size: int = HTML_CHUNK_CHARS
) -> Iterator[bytes]:
    """report.html as UTF-8 chunks of about ``chunk_size`` characters, for a streamed
    preview: the text sink that the zip entry writes to, turned into a generator.

    Encoded exactly as the zip entry is (``errors="replace"`` for a provider's lone
    surrogate), so the bytes equal the delivered report.html.
    """
    pending: list[str] = []
    size = 0
    for part in _report_html_parts(meta, sections, {}):
        pending.append(part)
        size += len(part)
        if size >= chunk_size:
            yield "".join(pending).encode("utf-8", HTML_ENCODING_ERRORS)
            pending, size = [], 0
    if pending:
        yield "".join(pending).encode("utf-8", HTML_ENCODING_ERRORS)


# --- README and zip ---------------------------------------------------------------------------


def render_readme(
    meta: ReportMeta, sections: list[ReportSection], files: Sequence[ReportFile] = ()
) -> str:
    """README.txt: what each file in the zip is."""
    return _render(
        "README.txt",
        {
            "notices": list(meta.notices),
            "attached_files": [f.path for f in files],
            "reference": meta.reference,
            "request_type": meta.request_type,
            "regulation": meta.regulation,
            "received": _human_time(meta.received_at),
            "generated": _human_time(meta.generated_at),
            "csv_files": [
                {"name": name, "label": s.label, "system": s.system}
                for name, s in zip(csv_names(sections), sections, strict=True)
            ],
        },
    )


class _HashingSink:
    """Forward-only writer that hashes and counts what passes to ``dst``.

    It has no ``seek``, so zipfile writes every byte once, in order (data
    descriptors instead of rewritten headers): the hash is of the final file.
    """

    def __init__(self, dst: BinaryIO) -> None:
        self._dst = dst
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._dst.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._dst.flush()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _zip_time(moment: dt.datetime) -> tuple[int, int, int, int, int, int]:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    if moment.year < 1980:  # the zip format starts in 1980
        return (1980, 1, 1, 0, 0, 0)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _entry(name: str, when: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever the building machine is
    info.external_attr = 0o644 << 16
    return info


def _checked_files(files: Sequence[ReportFile] | None) -> list[ReportFile]:
    files = list(files or ())
    seen: set[str] = set()
    for f in files:
        parts = f.path.split("/")
        if len(parts) != 3 or parts[0] != "files" or not all(parts) or ".." in parts:
            raise ValueError(f"An attached file must be files/<system>/<name>, not {f.path!r}.")
        if f.path in seen:
            raise ValueError(f"Two attached files share the path {f.path!r}.")
        seen.add(f.path)
    return files


def write_report_zip(
    meta: ReportMeta,
    sections: list[ReportSection],
    dst: BinaryIO,
    files: Sequence[ReportFile] | None = None,
) -> ReportDigest:
    """Write the report zip to ``dst`` (forward only, e.g. an encrypting writer).

    Entries: README.txt, report.json, report.html, ``csv/…`` per section, then
    each of ``files`` at its ``files/<system>/<name>`` path, copied as is.
    Raises ``ReportBuildError`` if a section's records differ between formats.
    """
    sink = _HashingSink(dst)
    when = _zip_time(meta.generated_at)
    sections = list(sections)
    files = _checked_files(files)

    def text_entry(
        archive: zipfile.ZipFile, name: str, encoding: str = "utf-8"
    ) -> io.TextIOWrapper:
        raw = archive.open(_entry(name, when), "w", force_zip64=True)
        # A lone surrogate from a provider must not abort an approval: it is replaced.
        return io.TextIOWrapper(raw, encoding=encoding, errors=HTML_ENCODING_ERRORS, newline="")

    with zipfile.ZipFile(sink, "w") as archive:  # type: ignore[arg-type]
        with text_entry(archive, "README.txt") as out:
            out.write(render_readme(meta, sections, files))
        with text_entry(archive, "report.json") as out:
            counts = write_report_json(meta, sections, out)
        with text_entry(archive, "report.html") as out:
            html_counts = render_report_html(meta, sections, out)
        csv_counts = []
        for name, section in zip(csv_names(sections), sections, strict=True):
            with text_entry(archive, name, encoding="utf-8-sig") as out:
                csv_counts.append(write_section_csv(section, out))
        for attached in files:
            chunks = attached.open()
            try:
                with archive.open(_entry(attached.path, when), "w", force_zip64=True) as raw:
                    for chunk in chunks:
                        raw.write(chunk)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
    if counts != html_counts or counts != csv_counts:
        raise ReportBuildError("A section yielded different records for different formats.")
    sink.flush()
    return ReportDigest(sha256=sink.hexdigest(), size=sink.size, record_count=sum(counts))


def render_report_html_string(meta: ReportMeta, sections: list[ReportSection]) -> str:
    """report.html as one string (small previews and tests; stream large ones)."""
    buffer = io.StringIO(newline="")
    render_report_html(meta, sections, buffer)
    return buffer.getvalue()
