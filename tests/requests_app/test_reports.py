"""The released report: its formats, what they may and may not contain, and its stability."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import re
import zipfile

import pytest

from requests_app.reports import (
    CSV_FORMULA_PREFIXES,
    ReportBuildError,
    ReportMeta,
    ReportSection,
    csv_names,
    flatten_record,
    released_fields,
    render_report_html,
    render_report_html_string,
    report_style_csp_source,
    stream_report_html,
    write_report_zip,
)

META = ReportMeta(
    reference="DSR-2025-0042",
    request_type="access",
    regulation="GDPR",
    subject_name="Zoë O'Neil <admin>",
    subject_email="zoe@example.com",
    received_at=dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC),
    generated_at=dt.datetime(2025, 3, 20, 14, 5, 7, tzinfo=dt.UTC),
)

HOSTILE = {
    "script": "<script>alert('x')</script>",
    "agenda": '<b onmouseover="steal()">Agenda</b><img src=x onerror=alert(1)>',
    "emoji": "Team 🎉 sync 👩🏽‍💻",
    "newlines": "line one\nline two\r\nline three",
    "quote": "O'Brien said \"hi",
    "amp": "R&D &amp; more",
}


def section(records, columns, *, system="Zoom (Acme)", object_type="meetings", notes=()):
    return ReportSection(
        system=system,
        provider=system.split()[0].lower(),
        object_type=object_type,
        label=object_type.replace("_", " ").capitalize(),
        columns=list(columns),
        records=lambda: iter([dict(r) for r in records]),
        notes=list(notes),
    )


def build(sections, meta=META) -> tuple[bytes, object]:
    out = io.BytesIO()
    digest = write_report_zip(meta, sections, out)
    return out.getvalue(), digest


def entries(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


MEETINGS = [
    {
        "id": "m1",
        "topic": "Weekly sync",
        "start_time": "2025-03-02T10:00:00Z",
        "settings": {"audio": "both", "host_video": True, "password": "PW-SHOULD-NOT-LEAK"},
        "tracking_fields": [{"field": "cost centre", "value": "42"}],
        "start_url": "https://zoom.example/s/1?zak=TOKEN-SHOULD-NOT-LEAK",
    },
    {"id": "m2", "topic": "1:1", "settings": {"audio": "voip"}, "tracking_fields": []},
]
MEETING_COLUMNS = ["id", "topic", "start_time", "settings.audio", "settings.host_video"]


def test_the_zip_holds_readme_json_html_and_a_csv_per_object_type():
    sections = [
        section(MEETINGS, MEETING_COLUMNS),
        section([{"id": "r1"}], ["id"], object_type="recordings"),
        section([{"id": "w1"}], ["id"], system="Webex", object_type="meetings"),
    ]
    blob, digest = build(sections)
    assert list(entries(blob)) == [
        "README.txt",
        "report.json",
        "report.html",
        "csv/zoom-acme__meetings.csv",
        "csv/zoom-acme__recordings.csv",
        "csv/webex__meetings.csv",
    ]
    assert digest.sha256 == hashlib.sha256(blob).hexdigest()
    assert digest.size == len(blob)
    assert digest.record_count == 4
    readme = entries(blob)["README.txt"].decode()
    for name in ("report.html", "report.json", "csv/webex__meetings.csv", "README.txt"):
        assert name in readme


def test_same_input_gives_the_same_bytes():
    sections = [section(MEETINGS, MEETING_COLUMNS), section([], ["id"], object_type="webinars")]
    first, digest_1 = build(sections)
    second, digest_2 = build(sections)
    assert first == second and digest_1 == digest_2
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2025, 3, 20, 14, 5, 6)}
    later = ReportMeta(**{**META.__dict__, "generated_at": META.generated_at + dt.timedelta(1)})
    assert build(sections, later)[0] != first


def test_preview_equals_the_delivered_html_byte_for_byte():
    sections = [
        section([*MEETINGS, HOSTILE], [*MEETING_COLUMNS, *HOSTILE]),
        section([], ["id"], system="Webex", notes=["No meetings in the last 365 days"]),
    ]
    blob, _ = build(sections)
    preview = render_report_html_string(META, sections)
    assert preview.encode("utf-8") == entries(blob)["report.html"]


def test_the_streamed_preview_equals_the_delivered_html_in_bounded_chunks():
    many = [{"id": f"m{i}", "topic": f"Topic {i} " + "x" * 200} for i in range(400)]
    odd = {"id": "lone", "topic": "half a pair \ud83d here"}  # a provider's lone surrogate
    sections = [section([*many, odd, HOSTILE], ["id", "topic", *HOSTILE])]
    blob, _ = build(sections)
    chunks = list(stream_report_html(META, sections, chunk_size=16 * 1024))
    assert len(chunks) > 3
    assert max(len(c) for c in chunks[:-1]) < 3 * 16 * 1024
    assert b"".join(chunks) == entries(blob)["report.html"]


def test_render_report_html_streams_to_any_text_file():
    out = io.StringIO()
    counts = render_report_html(META, [section(MEETINGS, MEETING_COLUMNS)], out)
    assert counts == [2]
    assert out.getvalue().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("prefix", CSV_FORMULA_PREFIXES)
def test_csv_injection_is_neutralised_for_every_prefix(prefix):
    payload = f'{prefix}HYPERLINK("http://evil.example","x")'
    records = [{"topic": payload, "nested": {"value": payload}, "list": [payload]}]
    columns = ["topic", "nested.value", "list", f"{prefix}column"]
    blob, _ = build([section(records, columns)])
    header, row = read_csv(entries(blob)["csv/zoom-acme__meetings.csv"])
    assert header[-1] == f"'{prefix}column"
    assert row[0] == f"'{payload}"
    assert row[1] == f"'{payload}"
    assert row[2] == json.dumps([payload])  # starts with "[": a JSON list is never a formula
    for cell in header + row:
        assert not cell.startswith(CSV_FORMULA_PREFIXES)
    # The machine-readable copy keeps the value exactly.
    report = json.loads(entries(blob)["report.json"])
    assert report["systems"][0]["object_types"][0]["records"][0]["topic"] == payload


@pytest.mark.parametrize("value", [" =1+1", "\n@SUM(A1)", "   -2+3"])
def test_csv_injection_behind_leading_whitespace_is_neutralised(value):
    from requests_app.reports import neutralise_cell

    assert neutralise_cell(value) == "'" + value
    assert neutralise_cell("  plain") == "  plain"


def test_negative_numbers_are_neutralised_too_and_exact_in_json():
    blob, _ = build([section([{"delta": -5, "price": "-1.5", "ok": 3}], ["delta", "price", "ok"])])
    _, row = read_csv(entries(blob)["csv/zoom-acme__meetings.csv"])
    assert row == ["'-5", "'-1.5", "3"]
    record = json.loads(entries(blob)["report.json"])["systems"][0]["object_types"][0]
    assert record["records"] == [{"delta": -5, "price": "-1.5", "ok": 3}]


def test_hostile_titles_are_escaped_in_html_and_intact_in_json_and_csv():
    blob, _ = build([section([HOSTILE], list(HOSTILE))])
    files = entries(blob)
    page = files["report.html"].decode("utf-8")
    assert "<script" not in page.lower()
    assert "<img" not in page and "<b " not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;b onmouseover=&quot;steal()&quot;&gt;Agenda&lt;/b&gt;" in page
    assert HOSTILE["emoji"] in page
    assert "line one\nline two\r\nline three" in page
    assert "O&#x27;Brien said &quot;hi" in page
    assert "R&amp;D &amp;amp; more" in page
    assert "Zoë O&#x27;Neil &lt;admin&gt;" in page
    record = json.loads(files["report.json"].decode("utf-8"))["systems"][0]["object_types"][0]
    assert record["records"] == [HOSTILE]
    assert "🎉" in files["report.json"].decode("utf-8")  # UTF-8, not \\u escapes
    _, row = read_csv(files["csv/zoom-acme__meetings.csv"])
    assert row == list(HOSTILE.values())


def test_a_field_or_record_not_released_never_appears_in_any_format():
    # The records hold fields outside the columns (as if a selection were applied upstream
    # wrongly): the report still writes only the released columns.
    blob, _ = build([section(MEETINGS, MEETING_COLUMNS)])
    for name, data in entries(blob).items():
        text = data.decode("utf-8-sig")
        for secret in ("PW-SHOULD-NOT-LEAK", "TOKEN-SHOULD-NOT-LEAK", "start_url", "password"):
            assert secret not in text, (name, secret)
        assert "tracking_fields" not in text and "cost centre" not in text, name
    report = json.loads(entries(blob)["report.json"])
    records = report["systems"][0]["object_types"][0]["records"]
    assert records[0] == {
        "id": "m1",
        "topic": "Weekly sync",
        "start_time": "2025-03-02T10:00:00Z",
        "settings": {"audio": "both", "host_video": True},
    }


def test_nested_values_are_readable_in_every_format():
    records = [
        {
            "id": "c1",
            "caller": {"name": "Zoë", "number": "+4930123"},
            "tags": ["a", "b"],
            "legs": [{"to": "x", "seconds": 12}],
            "empty": {},
        }
    ]
    columns = ["id", "caller", "tags", "legs", "empty"]
    blob, _ = build([section(records, columns, object_type="call_logs")])
    files = entries(blob)
    header, row = read_csv(files["csv/zoom-acme__call_logs.csv"])
    assert header == columns
    assert row == [
        "c1",
        '{"name": "Zoë", "number": "+4930123"}',
        '["a", "b"]',
        '[{"to": "x", "seconds": 12}]',
        "{}",
    ]
    page = files["report.html"].decode()
    assert (
        '<dl class="nested"><dt>name</dt><dd>Zoë</dd><dt>number</dt><dd>+4930123</dd></dl>' in page
    )
    assert '<ol class="list"><li>a</li><li>b</li></ol>' in page
    assert "{&quot;" not in page  # never a raw JSON dump in the readable report


def test_wide_records_render_as_one_definition_list_each():
    columns = [f"field_{i}" for i in range(10)]
    blob, _ = build([section([{c: c.upper() for c in columns}], columns)])
    page = entries(blob)["report.html"].decode()
    assert '<article class="record"><h4>Record 1</h4><dl class="fields">' in page
    assert "<table>" not in page
    assert "<dt>field_9</dt><dd>FIELD_9</dd>" in page


def test_empty_sections_show_an_empty_state_with_their_notes():
    notes = ["Zoom Phone is not enabled for this account", "Listing cut at <300> pages"]
    blob, digest = build([section([], ["id", "topic"], object_type="phone_calls", notes=notes)])
    files = entries(blob)
    page = files["report.html"].decode()
    assert "No records of this type were released." in page
    assert "<li>Zoom Phone is not enabled for this account</li>" in page
    assert "Listing cut at &lt;300&gt; pages" in page
    assert "<table>" not in page
    object_type = json.loads(files["report.json"])["systems"][0]["object_types"][0]
    assert object_type["records"] == [] and object_type["notes"] == notes
    assert object_type["record_count"] == 0
    assert read_csv(files["csv/zoom-acme__phone_calls.csv"]) == [["id", "topic"]]
    assert digest.record_count == 0


def test_a_report_without_any_section_is_valid():
    blob, digest = build([])
    files = entries(blob)
    assert json.loads(files["report.json"])["systems"] == []
    assert "No data about you was found" in files["report.html"].decode()
    assert list(files) == ["README.txt", "report.json", "report.html"]
    assert digest.record_count == 0


def test_json_is_grouped_by_system_then_object_type():
    sections = [
        section([{"id": 1}], ["id"], object_type="meetings"),
        section([{"id": 2}], ["id"], system="Webex", object_type="meetings"),
        section([{"id": 3}, {"id": 4}], ["id"], object_type="recordings"),
    ]
    report = json.loads(entries(build(sections)[0])["report.json"])
    assert report["format"] == "dsar-report/1"
    assert report["reference"] == "DSR-2025-0042"
    assert report["generated_at"] == "2025-03-20T14:05:07+00:00"
    assert report["request"]["subject"]["email"] == "zoe@example.com"
    shape = [
        (s["system"], [(t["object_type"], t["record_count"]) for t in s["object_types"]])
        for s in report["systems"]
    ]
    assert shape == [
        ("Zoom (Acme)", [("meetings", 1), ("recordings", 2)]),
        ("Webex", [("meetings", 1)]),
    ]


def test_only_byte_order_marks_on_csv_files():
    files = entries(build([section(MEETINGS, MEETING_COLUMNS)])[0])
    for name, data in files.items():
        assert data.startswith(b"\xef\xbb\xbf") == name.endswith(".csv"), name


def test_the_html_loads_nothing_from_anywhere():
    page = entries(build([section(MEETINGS, MEETING_COLUMNS)])[0])["report.html"].decode()
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "url(" not in page and "@import" not in page
    assert re.findall(r'(?:href|src)="([^"]*)"', page) == ["#section-1"]
    assert " style=" not in page  # inline style attributes would need 'unsafe-hashes'
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    expected = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert report_style_csp_source() == f"'sha256-{expected}'"


def test_csv_names_are_unique_and_safe():
    sections = [
        section([], ["id"], system="Zoom ../../etc", object_type="meetings"),
        section([], ["id"], system="zoom etc", object_type="meetings"),
        section([], ["id"], system="日本", object_type="電話"),
    ]
    assert csv_names(sections) == [
        "csv/zoom-etc__meetings.csv",
        "csv/zoom-etc__meetings-2.csv",
        "csv/system-3__type-3.csv",
    ]


def test_records_that_change_between_formats_stop_the_build():
    calls = []

    def records():
        calls.append(1)
        return iter([{"id": i} for i in range(len(calls))])

    broken = ReportSection("Zoom", "zoom", "meetings", "Meetings", ["id"], records)
    with pytest.raises(ReportBuildError):
        write_report_zip(META, [broken], io.BytesIO())


def test_records_are_read_lazily():
    pulled = []

    def records():
        for i in range(3):
            pulled.append(i)
            yield {"id": i}

    lazy = ReportSection("Zoom", "zoom", "meetings", "Meetings", ["id"], records)
    _, digest = build([lazy])
    assert digest.record_count == 3
    assert len(pulled) == 9  # one pass per format, nothing cached


def test_the_encrypted_zip_decrypts_to_the_recorded_checksum(settings, tmp_path):
    from cryptography.fernet import Fernet

    from portal import report_storage, streamcrypt

    settings.DATA_DIR = tmp_path
    sections = [section(MEETINGS, MEETING_COLUMNS)]
    name, digest = report_storage.save_encrypted_from(lambda f: write_report_zip(META, sections, f))
    stored = (tmp_path / "reports" / name).read_bytes()
    assert b"Weekly sync" not in stored and b"report.json" not in stored
    assert report_storage.plaintext_digest(name) == (digest.sha256, digest.size)
    plain = b"".join(report_storage.open_decrypted(name))
    assert entries(plain)["report.html"] == render_report_html_string(META, sections).encode()
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    with pytest.raises(streamcrypt.StreamCryptError):
        report_storage.open_decrypted(name)


def test_released_fields_and_flatten_record():
    record = {"a": {"b": 1, "c": {"d": 2, "e": 3}}, "f": [1, {"g": 2}], "h": None}
    assert released_fields(record, ["a.c.d", "f", "missing.path"]) == {
        "a": {"c": {"d": 2}},
        "f": [1, {"g": 2}],
    }
    assert released_fields(record, ["a", "a.b"]) == {"a": record["a"]}
    assert released_fields(record, ["f.g"]) == {}  # paths never reach into lists
    assert flatten_record(record) == {
        "a.b": 1,
        "a.c.d": 2,
        "a.c.e": 3,
        "f": [1, {"g": 2}],
        "h": None,
    }
