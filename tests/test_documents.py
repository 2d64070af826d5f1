"""Policy documents in PDF, DOCX, HTML and TXT, in Chinese and English, become the writer's
source text; the documents are made here with reportlab and python-docx."""

from __future__ import annotations

from pathlib import Path

import pytest

ZH = "自2027年1月1日起，城市公交票价调整为每次2元。老年人凭卡免费乘车。"
EN = "From 1 January 2027 bus fares are 2 yuan per ride. Seniors ride free with a card."


def make_pdf(path: Path, lines: list[str], chinese: bool = False) -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path))
    if chinese:  # a CID font, as Chinese government PDFs use: the text maps through a CMap
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
        page.setFont("STSong-Light", 12)
    for i, line in enumerate(lines):
        page.drawString(60, 760 - 20 * i, line)
    page.save()
    return path


def make_docx(path: Path, heading: str, paragraphs: list[str], table: list[list[str]]) -> Path:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, cell in enumerate(row):
            grid.cell(r, c).text = cell
    document.save(str(path))
    return path


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("language", ["zh", "en"])
def test_policy_pdf_in_chinese_and_english_gives_its_text(tmp_path, language):
    from factory.documents import read_document

    text = ZH if language == "zh" else EN
    half = len(text) // 2
    pdf = make_pdf(tmp_path / f"notice-{language}.pdf", [text[:half], text[half:]], chinese=language == "zh")
    extracted = read_document(pdf)
    assert _squash(extracted) == _squash(text)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_policy_docx_in_chinese_and_english_gives_paragraphs_and_tables_in_order(tmp_path, language):
    from factory.documents import read_document

    text = ZH if language == "zh" else EN
    heading = "公交票价通知" if language == "zh" else "Bus fare notice"
    table = [["票种", "价格"], ["单程", "2元"]] if language == "zh" else [["Ticket", "Price"], ["Single", "2 yuan"]]
    path = make_docx(tmp_path / f"notice-{language}.docx", heading, [text, ""], table)
    extracted = read_document(path)
    lines = extracted.splitlines()
    assert lines[0] == heading and lines[1] == text
    assert lines[-2:] == [" | ".join(table[0]), " | ".join(table[1])]


def test_policy_document_becomes_a_policy_explainer_request_with_the_exact_text(tmp_path):
    """What a folder schedule or ``--source-file`` hands the writer: the document's text, as is
    (the writer's grounding check compares the narration against it)."""
    from factory.documents import read_document
    from factory.payloads import WriterRequest

    pdf = make_pdf(tmp_path / "zh.pdf", [ZH], chinese=True)
    request = WriterRequest.for_policy(read_document(pdf), "zh").to_value()
    assert request["use_case"] == "policy" and _squash(request["source"]) == _squash(ZH)


def test_html_drops_scripts_navigation_and_page_furniture(tmp_path):
    from factory.documents import read_document

    page = tmp_path / "notice.html"
    page.write_text(
        "<html><head><title>t</title><style>p{color:red}</style><script>var tracking = 1;</script></head><body>"
        "<nav><a href='/'>Home</a> | <a href='/news'>News</a></nav><header>City portal</header>"
        f"<main><h1>Bus fares</h1><p>{EN}</p><p>{ZH}</p></main>"
        "<footer>© City 2026</footer></body></html>", encoding="utf-8")
    text = read_document(page)
    assert text.splitlines() == ["Bus fares", EN, ZH]


def test_unreadable_documents_are_refused_with_a_sentence(tmp_path):
    from factory.documents import DocumentError, read_document

    scan = make_pdf(tmp_path / "scan.pdf", [])  # a page with no text layer, like a scan
    with pytest.raises(DocumentError, match="no text layer"):
        read_document(scan)
    fake = tmp_path / "fake.docx"
    fake.write_bytes(b"not a zip file")
    with pytest.raises(DocumentError, match="not a readable Word"):
        read_document(fake)
    other = tmp_path / "sheet.xls"
    other.write_bytes(bytes(range(256)) * 4)  # binary, as an old Excel file is
    with pytest.raises(DocumentError, match="neither text nor a supported document"):
        read_document(other)
    utf16 = tmp_path / "notice.txt"
    utf16.write_bytes(ZH.encode("utf-16"))  # Windows "Unicode" text
    assert read_document(utf16) == ZH


def test_a_watched_folder_lists_each_document_once_by_content(tmp_path):
    from factory.sources import read_folder

    folder = tmp_path / "inbox"
    folder.mkdir()
    make_pdf(folder / "a.pdf", [EN])
    (folder / "b.txt").write_text(EN, encoding="utf-8")
    (folder / "copy-of-b.txt").write_text(EN, encoding="utf-8")
    (folder / "photo.png").write_bytes(b"\x89PNG")
    items = read_folder(str(folder))
    assert [i.title for i in items] == ["a.pdf", "b.txt", "copy-of-b.txt"]
    assert items[1].key == items[2].key != items[0].key  # the same bytes are the same document


def test_an_uploaded_document_lands_in_the_watched_folder_under_its_own_name_only(tmp_path):
    from factory.sources import read_folder, save_document

    folder = tmp_path / "inbox"
    folder.mkdir()
    saved = save_document(folder, "..\\..\\secret/notice.txt", ZH.encode())
    assert saved == folder / "notice.txt" and saved.read_text(encoding="utf-8") == ZH
    with pytest.raises(ValueError, match="takes .pdf"):
        save_document(folder, "tool.exe", b"MZ")
    assert [i.title for i in read_folder(str(folder))] == ["notice.txt"]
