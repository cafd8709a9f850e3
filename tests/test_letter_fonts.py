"""Letters embed their Chinese font on any machine, also one without system fonts (issue #13).

reportlab's built-in STSong-Light is not embedded: poppler-based viewers show such a
letter blank. The font comes with the install (``paperang-p2-fonts-cjk``), so these
tests hide the system's font folders and read each letter back.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import pypdf
import pytest

from huikuan.documents import pdf
from huikuan.documents.pdf import letter_pdf
from huikuan.documents.render import LETTER_KINDS, LOCALES, capital_yuan, format_money, render_letter
from tests.test_documents import COMPANY, CUSTOMER, make_context, squeeze

# PDF readers always have these; reportlab declares Helvetica on every page.
STANDARD_14 = ("/Helvetica", "/Times-Roman", "/Courier", "/Symbol", "/ZapfDingbats")


@pytest.fixture
def no_system_fonts(monkeypatch, tmp_path):
    """The system's font folders hidden, and the letters' font looked up anew (and again after)."""
    monkeypatch.setattr(pdf, "FONT_DIRS", (tmp_path,))
    pdf.cjk_font.cache_clear()
    yield
    pdf.cjk_font.cache_clear()


def page_fonts(page: pypdf.PageObject) -> list[tuple[str, bool]]:
    """(base font, whether its font program is embedded) for each font the page declares."""
    fonts = []
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        described = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
        descriptor = described.get("/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else {}
        embedded = any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
        fonts.append((str(font["/BaseFont"]), embedded))
    return fonts


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_every_letter_embeds_its_font_and_reads_back_without_system_fonts(no_system_fonts, kind, locale):
    context = make_context(kind, locale)
    letter = render_letter(context)
    reader = pypdf.PdfReader(io.BytesIO(letter_pdf(letter, context)))
    assert len(reader.pages) == 1
    fonts = page_fonts(reader.pages[0])
    assert any("WenQuanYiMicroHei" in name and embedded for name, embedded in fonts), fonts
    assert all(embedded or name.split("+")[-1] in STANDARD_14 for name, embedded in fonts), fonts
    text = squeeze(reader.pages[0].extract_text())
    needed = [COMPANY, CUSTOMER, squeeze(letter.title), format_money(context.total_open, locale)]
    if locale == "zh_CN":
        needed.append(capital_yuan(context.total_open))
    for part in needed:
        assert squeeze(part) in text, (kind, locale, part)


def test_the_packaged_font_comes_first(no_system_fonts):
    name, source = pdf.cjk_font()
    assert name == pdf.CJK_FONT_NAME
    assert source.endswith("wqy-microhei.ttc") and "paperang_p2_fonts_cjk" in source


def test_without_any_font_letters_fail_naming_what_to_install(no_system_fonts, monkeypatch):
    monkeypatch.setattr(pdf, "_font_candidates", lambda: iter(()))
    with pytest.raises(RuntimeError, match="paperang-p2-fonts-cjk.*fonts-wqy-microhei"):
        pdf.cjk_font()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
def test_poppler_reads_the_final_notice_without_system_fonts(no_system_fonts, tmp_path):
    context = make_context("final_notice")
    (tmp_path / "letter.pdf").write_bytes(letter_pdf(render_letter(context), context))
    done = subprocess.run(["pdftotext", "letter.pdf", "-"], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert "Missing language pack" not in done.stderr
    assert COMPANY in squeeze(done.stdout) and format_money(context.total_open, "zh_CN") in done.stdout
