"""A rendered letter set as a one-page A4 PDF (reportlab), Chinese as text in an embedded CJK font.

``letter_pdf`` refuses a letter whose own part needs a second page; a schedule (附件) follows on the pages after it.
The font is the first TrueType CJK font found (``FONT_DIRS``), else the one packaged with the product
(``cjk_font``).
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from huikuan.documents.markup import Block, parse_letter
from huikuan.documents.render import DocumentContext, RenderedLetter

log = logging.getLogger(__name__)

CJK_FONT_NAME = "HuikuanCJK"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
_FONT_FILES = ("wqy-microhei.ttc", "wqy-zenhei.ttc", "DroidSansFallbackFull.ttf", "DroidSansFallback.ttf")
_NOTO_CJK = re.compile(r"^Noto(Sans|Serif)(Mono)?(CJK|SC|TC|JP|KR).*\.(ttc|ttf)$", re.IGNORECASE)


def _has_truetype_outlines(path: Path) -> bool:
    """reportlab embeds TrueType outlines only; most Noto CJK files are CFF (``OTTO``)."""
    try:
        with path.open("rb") as font:
            tag = font.read(4)
            if tag == b"ttcf":
                font.seek(12)
                font.seek(int.from_bytes(font.read(4), "big"))
                tag = font.read(4)
    except OSError:
        return False
    return tag in (b"\x00\x01\x00\x00", b"true")


def _font_candidates() -> Iterator[Path]:
    """TrueType CJK fonts, best first: the one the install brings, then the system's.

    The packaged WenQuanYi Micro Hei (dependency ``paperang-p2-fonts-cjk``) comes first,
    so that a letter looks the same on every machine.
    """
    from importlib import resources

    try:
        packaged = resources.files("paperang_p2_fonts_cjk") / "fonts" / "wqy-microhei.ttc"
    except ModuleNotFoundError:
        pass
    else:
        if packaged.is_file():
            yield Path(str(packaged))
    files = [path for folder in FONT_DIRS if folder.is_dir() for path in sorted(folder.rglob("*")) if path.is_file()]
    for wanted in _FONT_FILES:
        yield from (path for path in files if path.name == wanted)
    yield from (path for path in files if _NOTO_CJK.match(path.name) and _has_truetype_outlines(path))


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, str]:
    """The font letters are set in, registered with reportlab once: (font name, where it came from).

    The first usable TrueType font of :func:`_font_candidates` is embedded (subset) in
    every letter. Never reportlab's built-in CID font ``STSong-Light``: it is not embedded,
    and viewers without Adobe's language pack show a blank page.

    Raises:
        RuntimeError: no usable font; the message names what to install.
    """
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    for path in _font_candidates():
        try:
            pdfmetrics.registerFont(TTFont(CJK_FONT_NAME, str(path), subfontIndex=0))
        except (TTFError, OSError) as exc:
            log.info("CJK font %s not usable: %s", path, exc)
            continue
        break
    else:
        raise RuntimeError(
            "no TrueType Chinese font for letters: install the package paperang-p2-fonts-cjk (python3 -m uv sync) or Debian's fonts-wqy-microhei"
        )
    # One face only: <b> and <i> keep the face (the amount stands out by size, colour and a box).
    for bold in (0, 1):
        for italic in (0, 1):
            addMapping(CJK_FONT_NAME, bold, italic, CJK_FONT_NAME)
    return CJK_FONT_NAME, str(path)


_INK = "#1F2D5A"
_AMOUNT_BG = "#FDF0EC"
_AMOUNT_BAR = "#A31515"


def _styles(font: str, locale: str, scale: float) -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle

    def style(name: str, parent: Any = None, **values: Any) -> ParagraphStyle:
        for key in ("fontSize", "leading", "spaceBefore", "spaceAfter"):
            if key in values:
                values[key] *= scale
        return ParagraphStyle(name, parent, **values)

    grey = colors.HexColor("#555555")
    body = style("body", fontName=font, fontSize=10.5, leading=16, spaceAfter=5, wordWrap="CJK" if locale == "zh_CN" else None)
    return {
        "body": body,
        "company": style("company", body, fontSize=17, leading=22, alignment=TA_CENTER, textColor=colors.HexColor(_INK), spaceAfter=2),
        "address": style("address", body, fontSize=8.5, leading=11, alignment=TA_CENTER, textColor=grey, spaceAfter=0),
        "h1": style("h1", body, fontSize=18, leading=24, alignment=TA_CENTER, spaceBefore=8, spaceAfter=8),
        "ref": style("ref", body, alignment=TA_RIGHT, spaceAfter=2),
        "to": style("to", body, spaceAfter=6),
        "sign": style("sign", body, leading=15, spaceAfter=0),
        "amount": style("amount", body, fontSize=12, leading=19, spaceAfter=0),
        "center": style("center", body, fontSize=13, leading=18, alignment=TA_CENTER),
        "note": style("note", body, fontSize=8.5, leading=12, textColor=grey, alignment=TA_CENTER, spaceAfter=2),
        "slip": style("slip", body, fontSize=10, leading=17, spaceAfter=4),
        "cell": style("cell", body, fontSize=9, leading=11, spaceAfter=0, alignment=TA_LEFT),
        "num": style("num", body, fontSize=9, leading=11, spaceAfter=0, alignment=TA_RIGHT),
    }


def _paragraph(block: Block, styles: dict[str, Any], default: str = "body") -> Any:
    from reportlab.platypus import Paragraph

    style = styles.get(block.cls) or styles.get(block.tag) or styles[default]
    markup = block.markup.strip(" \n\t")
    # A Chinese paragraph opens with two ideographic spaces, which reportlab would drop.
    indent = len(markup) - len(markup.lstrip("\u3000"))
    if indent:
        style = style.clone(f"{style.name}-indent", firstLineIndent=indent * style.fontSize)
    return Paragraph(markup.lstrip("\u3000"), style)


def _invoice_table(block: Block, styles: dict[str, Any], width: float) -> Any:
    from reportlab.lib import colors
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Table, TableStyle

    columns = max(sum(cell.span for cell in cells) for _, cells in block.rows)
    # Each column as wide as its widest cell, the room left shared out evenly.
    needed = [0.0] * columns
    for _, cells in block.rows:
        column = 0
        for cell in cells:
            if cell.span == 1 and column < columns:
                text_width = stringWidth(cell.text.strip(), styles["cell"].fontName, styles["cell"].fontSize)
                needed[column] = max(needed[column], text_width + 8)
            column += cell.span
    spare = (width - sum(needed)) / columns
    widths = [need + spare for need in needed] if spare >= 0 else [width * need / sum(needed) for need in needed]
    style = [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.HexColor(_INK)),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.HexColor(_INK)),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEF1F6")),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#C8CDD8")),
    ]
    data = []
    for index, (cls, cells) in enumerate(block.rows):
        row: list[Any] = []
        for cell in cells:
            if cell.span > 1:
                style.append(("SPAN", (len(row), index), (len(row) + cell.span - 1, index)))
            row += [_paragraph(cell, styles, "num" if cell.cls == "num" else "cell")] + [""] * (cell.span - 1)
        data.append(row + [""] * (columns - len(row)))
        if cls == "total":
            style += [("LINEABOVE", (0, index), (-1, index), 0.8, colors.HexColor(_INK)), ("LINEBELOW", (0, index), (-1, index), 0.8, colors.HexColor(_INK))]
    table = Table(data, colWidths=widths, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    return table


def _flowables(blocks: list[Block], styles: dict[str, Any], width: float) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import HRFlowable, PageBreak, Spacer, Table, TableStyle

    flowables: list[Any] = []
    for block in blocks:
        if block.tag == "table":
            flowables += [_invoice_table(block, styles, width), Spacer(1, 6)]
        elif block.tag == "hr":
            flowables.append(HRFlowable(width="100%", thickness=0.6, color=colors.grey, dash=(4, 3), spaceBefore=8, spaceAfter=2))
        elif block.tag == "div" and block.cls == "schedule":
            flowables += [PageBreak(), *_flowables(block.children, styles, width)]
        elif block.tag == "div" and block.cls == "signature":
            inner = _flowables(block.children, {**styles, "body": styles["sign"]}, width / 2)
            table = Table([[inner]], colWidths=[width / 2], hAlign="RIGHT")
            table.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
            flowables.append(table)
        elif block.tag == "div":
            inner = _flowables(block.children, {**styles, "body": styles["slip"]}, width - 16)
            table = Table([[inner]], colWidths=[width])
            table.setStyle(
                TableStyle(
                    [
                        ("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor(_INK)),
                        ("TOPPADDING", (0, 0), (-1, -1), 6),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                        ("LEFTPADDING", (0, 0), (-1, -1), 8),
                        ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                    ]
                )
            )
            flowables.append(table)
        elif block.tag == "p" and block.cls == "amount":
            table = Table([[_paragraph(block, styles)]], colWidths=[width])
            table.setStyle(
                TableStyle(
                    [
                        ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(_AMOUNT_BG)),
                        ("LINEBEFORE", (0, 0), (0, -1), 3, colors.HexColor(_AMOUNT_BAR)),
                        ("TOPPADDING", (0, 0), (-1, -1), 5),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                        ("LEFTPADDING", (0, 0), (-1, -1), 10),
                    ]
                )
            )
            flowables += [table, Spacer(1, 6)]
        else:
            flowables.append(_paragraph(block, styles))
    return flowables


# A letter that overflows is set again a little smaller before it is refused.
_SCALES = (1.0, 0.93, 0.86)


def _build_pdf(letter: RenderedLetter, context: DocumentContext, blocks: list[Block], styles: dict[str, Any]) -> tuple[bytes, int]:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import HRFlowable, Paragraph, SimpleDocTemplate
    from reportlab.platypus.doctemplate import LayoutError

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=letter.title,
        author=context.company,
        subject=f"{letter.title} - {context.customer_name}",
        creator="huikuan",
        invariant=True,
    )
    letterhead = [
        Paragraph(escape(context.company), styles["company"]),
        Paragraph(escape(context.company_address), styles["address"]),
        HRFlowable(width="100%", thickness=1.2, color=colors.HexColor(_INK), spaceBefore=4, spaceAfter=2),
    ]
    try:
        doc.build(letterhead + _flowables(blocks, styles, doc.width))
    except LayoutError:
        return b"", 2
    return buffer.getvalue(), doc.page


def letter_pdf(letter: RenderedLetter, context: DocumentContext) -> bytes:
    """The letter as a one-page A4 PDF: letterhead, date, addressee, body, amount, invoices, signature.

    The same letter gives the same bytes (no timestamps inside), so it can be stored and
    compared by its hash.

    Raises:
        ValueError: the letter does not fit on one page, even set a little smaller
            (a letter is one page at most).
    """
    font, _ = cjk_font()
    blocks = parse_letter(letter.html)
    letter_blocks = [b for b in blocks if not (b.tag == "div" and b.cls == "schedule")]
    pages = 0
    for scale in _SCALES:
        pdf, pages = _build_pdf(letter, context, letter_blocks, _styles(font, context.locale, scale))
        if pages == 1:
            if len(letter_blocks) < len(blocks):  # the schedule follows on pages of its own
                pdf, _ = _build_pdf(letter, context, blocks, _styles(font, context.locale, scale))
            return pdf
    raise ValueError(f"{letter.title}: needs {pages} pages even set smaller; a letter is one page at most")
