"""Hostile and broken package files (issue 17): each is refused with a message naming the
entry, through the designer's page, the API and the command line, and nothing is written."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_tool.db import get_session
from lti_tool.domain.items import MAX_STEM_LENGTH
from lti_tool.domain.texts import MAX_TITLE_LENGTH
from lti_tool.interchange import package as fmt
from lti_tool.models import Certification, Course, Framework, Item, JobRole, Mapping, PackageImport
from tests.functional import test_api
from tests.functional.test_packages import OTHER, export, loaded

api, new_token = test_api.api, test_api.new_token


def repack(
    data: bytes,
    change: Callable[[dict[str, bytes]], None] | None = None,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    checksums: bool = True,
) -> bytes:
    """The package with its entries changed (and the manifest's checksums made to fit)."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    entries = {name: archive.read(name) for name in archive.namelist()}
    head = json.loads(entries.pop(fmt.MANIFEST))
    if change:
        change(entries)
    if checksums:
        for entry in head["entries"]:
            if entry["path"] in entries:
                body = entries[entry["path"]]
                entry["sha256"] = hashlib.sha256(body).hexdigest()
                entry["size"] = len(body)
    if manifest:
        manifest(head)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(fmt.MANIFEST, json.dumps(head))
        for name, body in entries.items():
            zf.writestr(name, body)
    return out.getvalue()


def _add(name: str, body: bytes, mode: int | None = None) -> Callable[[bytes], bytes]:
    """Append a raw entry (any name, any mode) to a package."""

    def build(data: bytes) -> bytes:
        out = io.BytesIO(data)
        with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, body)
        return out.getvalue()

    return build


def _items(change: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    def edit(entries: dict[str, bytes]) -> None:
        doc = json.loads(entries["items.json"])
        change(doc)
        entries["items.json"] = json.dumps(doc).encode()

    return lambda data: repack(data, edit)


def _set(**values: Any) -> Callable[[bytes], bytes]:
    return lambda data: repack(data, manifest=lambda head: head.update(values))


def _replace(name: str, body: bytes) -> Callable[[bytes], bytes]:
    def edit(entries: dict[str, bytes]) -> None:
        entries[name] = body

    return lambda data: repack(data, edit)


def _no_manifest(data: bytes) -> bytes:
    archive = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in archive.namelist():
            if name != fmt.MANIFEST:
                zf.writestr(name, archive.read(name))
    return out.getvalue()


def _bad_checksum(data: bytes) -> bytes:
    def edit(entries: dict[str, bytes]) -> None:
        doc = json.loads(entries["items.json"])
        doc["items"][0]["points"] = 99
        entries["items.json"] = json.dumps(doc).encode()

    return repack(data, edit, checksums=False)


def _stem_type(doc: dict[str, Any]) -> None:
    doc["items"][0]["stem"] = 42


def _nul(doc: dict[str, Any]) -> None:
    doc["items"][0]["stem"] = {"nb": "a\x00b"}


def _item_twice(doc: dict[str, Any]) -> None:
    doc["items"].append(dict(doc["items"][0]))


def _competence_twice(doc: dict[str, Any]) -> None:
    doc["items"][0]["competences"] *= 2


def _huge(doc: dict[str, Any]) -> None:
    doc["items"][0]["points"] = 10**30


def _no_options(doc: dict[str, Any]) -> None:
    choice = next(i for i in doc["items"] if i["kind"] != "self_assessment")
    choice["options"] = []


def _deep(entries: dict[str, bytes]) -> None:
    entries["certifications.json"] = (
        b'{"format": "laeringslop-certifications", "version": 1, "certifications": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}"
    )


def _not_a_number(entries: dict[str, bytes]) -> None:
    doc = entries["items.json"].decode().replace('"points": 1.0', '"points": NaN', 1)
    entries["items.json"] = doc.encode()


def _directories(count: int) -> Callable[[bytes], bytes]:
    """Append ``count`` empty directory entries (which hold nothing, but still count)."""

    def build(data: bytes) -> bytes:
        out = io.BytesIO(data)
        with zipfile.ZipFile(out, "a") as zf:
            for n in range(count):
                zf.writestr(zipfile.ZipInfo(f"d{n}/"), b"")
        return out.getvalue()

    return build


def _settings(value: str) -> Callable[[bytes], bytes]:
    """An item's free-form settings holding ``value`` spelt as raw JSON."""

    def edit(entries: dict[str, bytes]) -> None:
        doc = json.loads(entries["items.json"])
        doc["items"][0]["settings"] = {"unit": "@@"}
        entries["items.json"] = json.dumps(doc).replace('"@@"', value).encode()

    return lambda data: repack(data, edit)


def _activity(**values: Any) -> Callable[[bytes], bytes]:
    def edit(entries: dict[str, bytes]) -> None:
        doc = json.loads(entries["activities.json"])
        doc["activities"][0].update(values)
        entries["activities.json"] = json.dumps(doc).encode()

    return lambda data: repack(data, edit)


def _long_stem(doc: dict[str, Any]) -> None:
    doc["items"][0]["stem"] = {"nb": "x" * (MAX_STEM_LENGTH + 1)}


def _encrypted(data: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("secret.json", b"{}")
        zf.getinfo("secret.json").flag_bits |= 0x1  # in the central directory, read first
    return out.getvalue()


def _understated(data: bytes) -> bytes:
    """A zip bomb whose central directory claims 1,000 bytes unpacked (and so a harmless
    ratio): the reader never unpacks more than the claim, and the lie does not add up."""
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb.json", b"0" * (50 * 1024 * 1024))
        zf.getinfo("bomb.json").file_size = 1000
    return out.getvalue()


FRAMEWORK_PATH = "frameworks/informasjonssikkerhet.case.json"


def _case_ref(ref: str) -> Callable[[bytes], bytes]:
    """The first competence's external reference (in our CASE extension) set to ``ref``."""

    def edit(entries: dict[str, bytes]) -> None:
        doc = json.loads(entries[FRAMEWORK_PATH])
        item = doc["CFItems"][0]
        item.setdefault("extensions", {}).setdefault("laeringslop", {})["external_ref"] = ref
        entries[FRAMEWORK_PATH] = json.dumps(doc).encode()

    return lambda data: repack(data, edit)


def _size_lies(head: dict[str, Any]) -> None:
    listed = next(e for e in head["entries"] if e["path"] == FRAMEWORK_PATH)
    listed["size"] += 1


def _framework_elsewhere(data: bytes) -> bytes:
    """The framework moved out of frameworks/, the manifest still calling it one."""

    def edit(entries: dict[str, bytes]) -> None:
        entries["framework.json"] = entries.pop(FRAMEWORK_PATH)

    def listed(head: dict[str, Any]) -> None:
        for entry in head["entries"]:
            if entry["path"] == FRAMEWORK_PATH:
                entry["path"] = "framework.json"

    return repack(data, edit, manifest=listed)


def _zip64(data: bytes) -> bytes:
    """The same package written with ZIP64 records (a legitimate form)."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in archive.namelist():
            with zf.open(name, "w", force_zip64=True) as entry:
                entry.write(archive.read(name))
    return out.getvalue()


def _duplicate(data: bytes) -> bytes:
    with pytest.warns(UserWarning, match="Duplicate name"):
        return _add("items.json", b'{"format": "x"}')(data)


#: name → (how to spoil a good package, the entry the message must name, words in it)
HOSTILE: dict[str, tuple[Callable[[bytes], bytes], str, str]] = {
    "not a zip": (lambda data: b"PK\x03\x04 not really a zip", "", "not a zip"),
    "a text file": (lambda data: b"name,version\n", "", "not a zip"),
    "no manifest": (_no_manifest, "manifest.json", "no manifest"),
    "zip bomb": (_add("bomb.json", b"0" * (4 * 1024 * 1024)), "bomb.json", "zip bomb"),
    "too big unpacked": (
        _add("big.json", b"0" * (fmt.MAX_ENTRY_BYTES + 10)),
        "big.json",
        "bytes unpacked",
    ),
    "path traversal": (_add("../../etc/passwd", b"{}"), "../../etc/passwd", "leaves the package"),
    "absolute path": (_add("/etc/cron.d/x", b"{}"), "/etc/cron.d/x", "leaves the package"),
    "windows path": (_add("..\\evil.json", b"{}"), "..\\evil.json", "leaves the package"),
    "symlink": (
        _add("link.json", b"/etc/passwd", stat.S_IFLNK | 0o777),
        "link.json",
        "symbolic link",
    ),
    "duplicate entry": (_duplicate, "items.json", "twice"),
    "unknown format version": (_set(format_version=2), "manifest.json", "format version 2"),
    "manifest schema violation": (_set(licence=""), "manifest.json", "schema"),
    "document schema violation": (_items(_stem_type), "items.json", "schema"),
    "NUL character": (_items(_nul), "items.json", "NUL"),
    "not JSON": (_replace("mappings.json", b"{not json"), "mappings.json", "not JSON"),
    "checksum mismatch": (_bad_checksum, "items.json", "checksum"),
    "unlisted entry": (_add("extra.json", b"{}"), "extra.json", "does not list"),
    "listed entry missing": (
        lambda data: repack(data, lambda entries: entries.pop("activities.json")),
        "activities.json",
        "lacks",
    ),
    "the same item twice": (_items(_item_twice), "items.json", "named twice"),
    "a competence twice in an item": (_items(_competence_twice), "items.json", "named twice"),
    "a number too large": (_items(_huge), "items.json", "number"),
    "an unusable item": (_items(_no_options), "items.json", "option"),
    "deep nesting": (lambda data: repack(data, _deep), "certifications.json", ""),
    "NaN": (lambda data: repack(data, _not_a_number), "items.json", "not JSON"),
    "a directory entry leaving the package": (
        _add("../evil/", b""),
        "../evil/",
        "leaves the package",
    ),
    "many directory entries": (_directories(fmt.MAX_ENTRIES + 1), "", "entries"),
    "an infinite number": (_settings("1e999"), "items.json", "number"),
    "a huge whole number": (_settings("1" + "0" * 400), "items.json", "number"),
    "an activity's address without a host": (
        _activity(lms_url="https://"),
        "activities.json",
        "address",
    ),
    "an activity's address with a tab": (
        _activity(lms_url="https://\tjavascript:alert(1)"),
        "activities.json",
        "address",
    ),
    "an activity's title too long": (
        _activity(title={"nb": "x" * (MAX_TITLE_LENGTH + 1)}),
        "activities.json",
        "longer than",
    ),
    "an item's text too long": (_items(_long_stem), "items.json", "longer than"),
    "an encrypted entry": (_encrypted, "secret.json", "encrypted"),
    "a header understating the size": (_understated, "bomb.json", "cannot be unpacked"),
    "the same name in other case": (_add("ITEMS.json", b"{}"), "ITEMS.json", "twice"),
    "a drive letter": (_add("C:evil.json", b"{}"), "C:evil.json", "leaves the package"),
    "a NUL in a name": (_add("extra\x00.json", b"{}"), "extra", "does not list"),
    "a dot segment": (_add("frameworks/./x.json", b"{}"), "frameworks/./x.json", "leaves"),
    "the manifest lists an entry twice": (
        _set(entries=[{"path": "items.json", "type": "items", "sha256": "0" * 64, "size": 1}] * 2),
        "items.json",
        "twice",
    ),
    "the manifest's size lies": (
        lambda data: repack(data, manifest=_size_lies),
        FRAMEWORK_PATH,
        "the manifest says",
    ),
    "a framework outside frameworks/": (_framework_elsewhere, "framework.json", "frameworks/"),
    "a competence's reference runs script": (
        _case_ref("javascript:alert(1)"),
        FRAMEWORK_PATH,
        "https://",
    ),
    "broken CASE": (
        _replace("frameworks/informasjonssikkerhet.case.json", b'{"CFDocument": {}}'),
        "frameworks/informasjonssikkerhet.case.json",
        "schema",
    ),
}


def counts(app: Any) -> tuple[int, ...]:
    with app.app_context():
        session = get_session()
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Framework, JobRole, Item, Mapping, Course, Certification, PackageImport)
        )


@pytest.fixture
def good(app: Any, lms: Any, cli: Any, tmp_path: Any) -> bytes:
    loaded(cli)
    cli("organisation", "add", OTHER)
    return export(cli, tmp_path / "good.zip", "Testkommune", "--framework", "informasjonssikkerhet")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_package_is_refused_naming_the_entry(app, api, new_token, good, name):
    spoil, entry, words = HOSTILE[name]
    before = counts(app)
    response = api.call(
        "post",
        "/packages/import",
        new_token(OTHER, "write"),
        data={"file": (io.BytesIO(spoil(good)), "p.zip")},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    problems = response.get_json()["problems"]
    assert any(entry in p and words in p for p in problems), problems
    assert counts(app) == before


@pytest.mark.parametrize("form", [bytes, _zip64], ids=["as exported", "with ZIP64 records"])
def test_the_good_package_itself_imports(app, api, new_token, good, form):
    made = api.call(
        "post",
        "/packages/import",
        new_token(OTHER, "write"),
        data={"file": (io.BytesIO(form(good)), "p")},
    )
    assert made.status_code == 201, made.get_data(as_text=True)


def test_an_oversized_file_is_refused_before_it_is_opened(app, cli, good, tmp_path):
    (tmp_path / "huge.zip").write_bytes(good + b"\0" * (fmt.MAX_PACKAGE_BYTES + 1 - len(good)))
    before = counts(app)
    refused = cli(
        "package", "import", "--organisation", OTHER, str(tmp_path / "huge.zip"), ok=False
    )
    assert refused.exit_code != 0
    assert "larger than" in refused.output
    assert counts(app) == before


def test_the_refusal_is_translated_on_the_designers_page(app, lms, cli, good, tmp_path):
    from tests.fakes.lms import TestLms
    from tests.functional.test_packages import PAGE, form_of

    browser = TestLms.browser(app)
    assert lms.landed(lms.launch(browser, "designer", locale="nb"))
    form = form_of(browser.get(PAGE).get_data(as_text=True), PAGE + "/import")
    bad = HOSTILE["path traversal"][0](good)
    before = counts(app)
    response = browser.post(
        form["action"],
        data={"csrf_token": form["fields"]["csrf_token"], "file": (io.BytesIO(bad), "p.zip")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "../../etc/passwd" in page
    assert "leaves the package" not in page  # in bokmål
    assert counts(app) == before
    # and the command line refuses it too
    (tmp_path / "bad.zip").write_bytes(bad)
    refused = cli("package", "import", "--organisation", OTHER, str(tmp_path / "bad.zip"), ok=False)
    assert refused.exit_code != 0 and "../../etc/passwd" in refused.output
