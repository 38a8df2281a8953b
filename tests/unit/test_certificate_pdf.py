"""The certificate PDF, read back with pypdf: text, link, QR code, page flow and determinism."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import segno
from pypdf import PageObject, PdfReader
from pypdf.generic import ContentStream
from reportlab.lib.units import mm

from lti_tool.documents import competence_pdf
from lti_tool.documents.certificate_pdf import (
    QR_QUIET_ZONE,
    QR_TAG,
    CertificateDocument,
    render_certificate,
)

URL = "https://kompetanse.example.no/bevis/K7QM-2XD9-PH4T?lang=nb&src=pdf"
NAME = "Áile Đuŋŋá Šárá Ŧiŋŧ Øyvårdsen"
COMPETENCES = (
    ("Personvern og taushetsplikt", "Nivå 2 – Selvstendig"),
    ("Dokumentasjon i pasientjournal (EPJ)", "Nivå 1 – Grunnleggende"),
    ("Trygghetsalarm, sensorer og varsling", "Nivå 3 – Veileder"),
)

DOC = CertificateDocument(
    language="nb",
    heading="Kursbevis",
    holder_label="Dette bekrefter at",
    holder_name=NAME,
    achievement_title="Grunnkurs i velferdsteknologi",
    achievement_description="Trygg bruk av velferdsteknologi i hjemmetjenesten.",
    competences_heading="Kompetanser",
    competences=COMPETENCES,
    organisation_label="Utstedt av",
    organisation_name="Guovdageainnu suohkan / Kautokeino kommune",
    issued_label="Utstedt",
    issued_on="3. mars 2026",
    issued_at=dt.datetime(2026, 3, 3, 9, 30, tzinfo=dt.UTC),
    expires_label="Gyldig til",
    expires_on="3. mars 2029",
    no_expiry_text="Utløper ikke",
    code_label="Kontrollkode",
    verification_code="K7QM-2XD9-PH4T",
    verify_label="Kontroller beviset på",
    verification_url=URL,
    document_title="Kursbevis – Grunnkurs i velferdsteknologi",
)


def read(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text with whitespace normalised, so line wrapping does not matter."""
    return [" ".join(page.extract_text().split()) for page in read(pdf).pages]


def text(pdf: bytes) -> str:
    return " ".join(page_texts(pdf))


def qr_read_back(page: PageObject) -> tuple[set[tuple[int, int]], float]:
    """Dark (row, col) modules drawn in the page's QR block, and the module size in points."""
    operations = ContentStream(page.get_contents(), page.pdf).operations
    start = next(
        i for i, (args, op) in enumerate(operations) if op == b"BMC" and args[0] == f"/{QR_TAG}"
    )
    dark: set[tuple[int, int]] = set()
    module = 1.0
    for args, op in operations[start + 1 :]:
        if op == b"EMC":
            break
        if op == b"cm":
            module *= float(args[0])
        elif op == b"rg":
            assert [float(v) for v in args] == [0, 0, 0]
        elif op == b"re":
            x, y, width, height = (float(v) for v in args)
            assert height == 1
            assert x == int(x) and y == int(y) and width == int(width)
            row = int(y) - QR_QUIET_ZONE
            dark |= {(row, col - QR_QUIET_ZONE) for col in range(int(x), int(x + width))}
    return dark, module


def test_prints_every_field_in_norwegian_and_sami_letters() -> None:
    pdf = render_certificate(DOC)

    content = text(pdf)
    for expected in (
        "Kursbevis",
        "Dette bekrefter at",
        NAME,
        "Grunnkurs i velferdsteknologi",
        "Trygg bruk av velferdsteknologi i hjemmetjenesten.",
        "Kompetanser",
        *(part for competence in COMPETENCES for part in competence),
        "Guovdageainnu suohkan / Kautokeino kommune",
        "3. mars 2026",
        "3. mars 2029",
        "K7QM-2XD9-PH4T",
        "Kontroller beviset på",
        URL,
    ):
        assert expected in content
    assert "Utløper ikke" not in content


def test_metadata_and_language() -> None:
    reader = read(render_certificate(DOC))

    assert reader.metadata is not None
    assert reader.metadata.title == DOC.document_title
    assert reader.metadata.author == DOC.organisation_name
    assert reader.metadata.subject == f"{DOC.achievement_title} — {NAME}"
    # the day it was issued, not ReportLab's fixed 2000-01-01 of its reproducible mode
    assert reader.metadata.creation_date == DOC.issued_at
    assert reader.metadata.modification_date == DOC.issued_at
    assert reader.trailer["/Root"]["/Lang"] == "nb"
    assert len(reader.pages) == 1
    assert [round(float(v)) for v in reader.pages[0].mediabox] == [0, 0, 595, 842]


def test_verification_url_is_a_link() -> None:
    page = read(render_certificate(DOC)).pages[0]

    uris = [annot.get_object()["/A"]["/URI"] for annot in page["/Annots"]]

    # the printed address and the QR code are both clickable
    assert uris == [URL, URL]


def test_qr_code_reads_back_as_the_verification_url() -> None:
    page = read(render_certificate(DOC)).pages[0]
    expected = segno.make_qr(URL, error="m").matrix
    size = len(expected)

    dark, module = qr_read_back(page)

    assert all(0 <= row < size and 0 <= col < size for row, col in dark)
    drawn = [[int((row, col) in dark) for col in range(size)] for row in range(size)]
    assert drawn == [list(row) for row in expected]
    assert abs(module) * (size + 2 * QR_QUIET_ZONE) >= 35 * mm


def test_many_long_competences_flow_onto_more_pages() -> None:
    competences = tuple(
        (
            f"Kompetanse {i:02d}: trygg og forsvarlig bruk av velferdsteknologi, personvern "
            "og dokumentasjon i den kommunale helse- og omsorgstjenesten",
            f"Nivå {i % 3 + 1}",
        )
        for i in range(40)
    )
    pdf = render_certificate(dataclasses.replace(DOC, competences=competences))

    pages = page_texts(pdf)
    assert len(pages) >= 2
    content = " ".join(pages)
    for title, _level in competences:
        assert title in content
    # the heading repeats, and every page says which certificate it belongs to
    assert all("Kompetanser" in page and "K7QM-2XD9-PH4T" in page for page in pages)
    assert qr_read_back(read(pdf).pages[-1])[0]


def test_without_expiry_prints_the_no_expiry_text() -> None:
    content = text(render_certificate(dataclasses.replace(DOC, expires_on=None)))

    assert "Gyldig til Utløper ikke" in content
    assert "3. mars 2029" not in content


def test_revoked_certificate_says_so() -> None:
    revoked = "TILBAKEKALT – dette beviset er ikke lenger gyldig"

    assert revoked not in text(render_certificate(DOC))
    assert revoked in text(render_certificate(dataclasses.replace(DOC, revoked_text=revoked)))


def test_without_description_and_competences() -> None:
    content = text(
        render_certificate(dataclasses.replace(DOC, achievement_description="", competences=()))
    )

    assert "Grunnkurs i velferdsteknologi" in content
    assert "Kompetanser" not in content


def test_texts_are_printed_literally_not_as_markup() -> None:
    name = "Ola <b>Nordmann</b> & Kari"

    assert name in text(render_certificate(dataclasses.replace(DOC, holder_name=name)))


def test_same_document_gives_the_same_bytes() -> None:
    assert render_certificate(DOC) == render_certificate(DOC)


# --- titles wrap between words (the certificate and the competence documentation) ----------

LONG_TITLE = "LM-01 – Legemiddelhåndtering i hjemmesykepleien"
SHORT_WORDS = "HMS – Helse, miljø og sikkerhet på jobben"
DOCUMENTATION = competence_pdf.DocumentationDocument(
    language="nb",
    created=dt.datetime(2026, 12, 7, 22, 5, 9, tzinfo=dt.UTC),
    heading="Kompetansedokumentasjon",
    details=(("Enhet", "Hjemmesykepleien"),),
    summary_heading="Sammendrag",
    summary=(("Personer", "1"),),
    legend_heading="Hva statusene betyr",
    legend=(("Oppfylt", "Har nivået som kreves."),),
    matrix_heading="Matrisen",
    name_label="Navn",
    not_required="–: kreves ikke",
    empty_text="Ingen",
    code_label="Kontrollkode",
    verification_code="K7QM-2XD9-PH4T",
    verify_label="Kontroller dokumentet på",
    verification_url=URL,
    page_label="Side",
    document_title="Kompetansedokumentasjon – " + "Hjemmesykepleien Nordre distrikt " * 4,
    author="Guovdageainnu suohkan",
)


def rebuilt(lines: list[str]) -> str:
    """Lines put back together: a line ending in the break's hyphen goes on without a space."""
    text = ""
    for line in lines:
        text += line[:-1] if line.endswith("-") else line + " "
    return text.strip()


def test_a_long_norwegian_title_wraps_between_words_and_breaks_only_a_word_too_wide() -> None:
    rows = iter(
        [
            competence_pdf.MatrixRow(
                "Kari Nordmann",
                "Sykepleier",
                (
                    competence_pdf.MatrixCell("Oppfylt", False),
                    competence_pdf.MatrixCell("Gap", True),
                ),
            )
        ]
    )
    out = io.BytesIO()
    competence_pdf.render_documentation(DOCUMENTATION, [LONG_TITLE, SHORT_WORDS], rows, out)
    lines = [line.strip() for line in read(out.getvalue()).pages[1].extract_text().splitlines()]
    first = lines.index("LM-01 –")
    second = next(i for i, line in enumerate(lines) if line.startswith("HMS"))
    end = lines.index("Kari Nordmann")

    # each line a whole number of words, but for a word wider than the column: that one
    # starts a line of its own and breaks with a hyphen
    assert rebuilt(lines[first:second]) == LONG_TITLE
    broken = [line for line in lines[first:second] if line.endswith("-")]
    assert broken and all(" " not in line for line in broken)
    assert broken[0].startswith("Legemiddel")
    assert not any(line.endswith("-") for line in lines[second:end])
    assert rebuilt(lines[second:end]) == SHORT_WORDS
    # the footer's title stays on its third of the line, cut after a word
    footer = next(line for line in lines if line.startswith("Kompetansedokumentasjon – "))
    assert footer.endswith("…") and len(footer) < len(DOCUMENTATION.document_title)


def test_a_long_competence_title_on_a_certificate_wraps_between_words() -> None:
    title = (
        "Legemiddelhåndteringsopplæringsprogramevalueringsrapportskriving i kommunehelsetjenesten"
    )
    pdf = render_certificate(dataclasses.replace(DOC, competences=((title, "Nivå 2"),)))
    lines = [line.strip() for line in read(pdf).pages[0].extract_text().splitlines()]
    first = next(i for i, line in enumerate(lines) if line.startswith("Legemiddel"))
    end = lines.index("Nivå 2")
    assert rebuilt(lines[first:end]) == title
    assert lines[first].endswith("-") and " " not in lines[first]  # the word too wide
