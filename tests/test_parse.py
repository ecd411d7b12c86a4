from __future__ import annotations

import json

import pytest

from ingest.parse import ParseError, parse_bytes
from tests.conftest import CORPUS

FILES = {
    "000_7399247191e587c3": "transcript",
    "001_b99e32355209f981": "text",
    "002_9480da9f1f03aad0": "markdown",
    "003_ea9daf657743a40c": "wordpress-json",
}


@pytest.mark.parametrize(("stem", "fmt"), sorted(FILES.items()))
def test_corpus_formats_detected_by_content(stem: str, fmt: str) -> None:
    path = CORPUS / f"{stem}.txt"
    doc = parse_bytes(path.read_bytes(), path.name)
    assert doc.format == fmt
    assert doc.sections
    prev_end = 0
    for s in doc.sections:
        assert prev_end <= s.start < s.end <= len(doc.text)
        assert doc.text[s.start : s.end] == doc.text[s.start : s.end].strip()
        prev_end = s.end


def test_wordpress_metadata_and_entities() -> None:
    raw = (CORPUS / "003_ea9daf657743a40c.txt").read_bytes()
    doc = parse_bytes(raw, "x.txt")
    assert doc.title == "How to Become a Machine Learning Engineer in 2026"
    assert doc.url == "https://blogacademy.tech/en/become-a-machine-learning-engineer/"
    assert doc.date and doc.date.startswith("2026-02-21")
    assert "&#8217;" not in doc.text and "<p>" not in doc.text
    assert "you’ve been thinking" in doc.text.lower() or "you’ve" in doc.text
    assert "12 to 18 months" in doc.text
    titles = [s.title for s in doc.sections]
    assert any("How Long Does It Take?" in t for t in titles)


def test_markdown_markup_removed_and_headings_nested() -> None:
    doc = parse_bytes((CORPUS / "002_9480da9f1f03aad0.txt").read_bytes(), "x.txt")
    assert "**" not in doc.text and "<br/>" not in doc.text and "\n#" not in doc.text
    assert "Time: 1–2 months" in doc.text
    paths = [s.path for s in doc.sections]
    assert any(p[-2:] == ("Phase 9: MLOps (MOST IMPORTANT FOR JOBS)", "Core Tools") for p in paths)


def test_plain_text_implicit_headings_and_bullets() -> None:
    doc = parse_bytes((CORPUS / "001_b99e32355209f981.txt").read_bytes(), "x.txt")
    titles = {s.title for s in doc.sections}
    assert {"The Core Pillars of Success", "Where You Live Matters",
            "How Long Does This Journey Take?"} <= titles
    # captions in sentence case are body text, not headings
    assert "Infographic about how to become a machine learning engineer" not in titles
    assert "\n• Coding Proficiency:" in doc.text


def test_transcript_is_one_long_section() -> None:
    doc = parse_bytes((CORPUS / "000_7399247191e587c3.txt").read_bytes(), "x.txt")
    longest = max(doc.sections, key=lambda s: s.end - s.start)
    assert longest.title == "Transcript" and longest.end - longest.start > 4000


def test_html_file() -> None:
    page = b"""<!doctype html><html><head><title>Guide</title><script>x()</script></head>
    <body><h1>Intro</h1><p>Learn &amp; build.</p><h2>Tools</h2><ul><li>PyTorch</li>
    <li>Docker</li></ul><table><tr><td>City</td><td>$1</td></tr></table></body></html>"""
    doc = parse_bytes(page, "g.html")
    assert doc.format == "html" and doc.title == "Guide"
    assert "Learn & build." in doc.text and "x()" not in doc.text
    assert "• PyTorch\n• Docker" in doc.text and "City | $1" in doc.text
    assert [s.path for s in doc.sections] == [("Intro",), ("Intro", "Tools")]


def _tiny_pdf(text: str) -> bytes:
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        None,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs[3] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def test_pdf_file() -> None:
    doc = parse_bytes(_tiny_pdf("A bachelor degree is usually enough."), "g.pdf")
    assert doc.format == "pdf"
    assert "bachelor degree is usually enough" in doc.text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b'{"content": {"rendered": "<p>x</p>"', "broken JSON"),
        (json.dumps([1, 2]).encode(), "not a WordPress"),
        (json.dumps({"title": "x"}).encode(), "content.rendered"),
        (b"\xff\xfe\xfa bad", "UTF-8"),
        (b"%PDF-1.4 garbage", "PDF"),
    ],
)
def test_unparseable_files_give_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_bytes(raw, "bad.txt")


def test_a_nested_list_keeps_its_nesting_at_no_cost_in_offsets() -> None:
    md = "# Gears\n\n* Spur\n* Measures:\n\n  * Tooth count\n  * Pitch\n* Helical\n"
    html = ("<html><body><h1>Gears</h1><ul><li>Spur</li><li>Measures:<ul><li>Tooth count"
            "</li><li>Pitch</li></ul></li><li>Helical</li></ul></body></html>")
    for raw, name in ((md, "g.md"), (html, "g.html")):
        text = parse_bytes(raw.encode(), name).text
        assert "• Spur\n• Measures:\n◦ Tooth count\n◦ Pitch\n• Helical" in text, (name, text)
