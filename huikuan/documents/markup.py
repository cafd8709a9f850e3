"""The letter markup: the small HTML subset a letter template writes, read into blocks.

``render.render_letter`` checks a letter with it (exactly one title), ``RenderedLetter.text`` reads it as plain
text, and ``pdf.letter_pdf`` lays the blocks out on A4. The subset is listed in ``render``'s docstring; anything
outside it is an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from xml.sax.saxutils import escape


@dataclass
class Block:
    tag: str
    cls: str = ""
    markup: str = ""
    text: str = ""
    span: int = 1
    rows: list[tuple[str, list[Block]]] = field(default_factory=list)
    children: list[Block] = field(default_factory=list)


_INLINE = {"b": ("<b>", "</b>"), "strong": ("<b>", "</b>"), "i": ("<i>", "</i>"), "em": ("<i>", "</i>"), "u": ("<u>", "</u>")}
_AMOUNT_FONT = ('<font size="15" color="#A31515">', "</font>")


class _LetterParser(HTMLParser):
    """Reads the letter markup into blocks; anything outside the subset is an error."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Block("root")
        self._containers = [self.root]
        self._run: Block | None = None
        self._closers: list[tuple[str, str]] = []
        self._table: Block | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if self._run is not None:
            self._inline(tag, cls)
        elif tag == "article":
            return
        elif tag == "div":
            self._containers.append(Block("div", cls))
        elif tag == "hr":
            self._containers[-1].children.append(Block("hr", cls))
        elif tag == "table":
            self._table = Block("table", cls)
        elif tag == "tr" and self._table is not None:
            self._table.rows.append((cls, []))
        elif tag in ("th", "td") and self._table is not None and self._table.rows:
            self._run = Block(tag, cls, span=int(dict(attrs).get("colspan") or 1))
            self._table.rows[-1][1].append(self._run)
        elif tag in ("h1", "p"):
            self._run = Block(tag, cls)
            self._containers[-1].children.append(self._run)
        else:
            raise ValueError(f"letter markup: <{tag}> is not allowed here")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and self._run is not None:
            self._run.markup += "<br/>"
            self._run.text += "\n"
        elif tag == "hr" and self._run is None:
            self.handle_starttag(tag, attrs)
        else:
            raise ValueError(f"letter markup: <{tag}/> is not allowed here")

    def _inline(self, tag: str, cls: str) -> None:
        assert self._run is not None
        if tag == "br":
            self.handle_startendtag(tag, [])
            return
        if tag == "span":
            opener, closer = _AMOUNT_FONT if cls == "amount" else ("", "")
        elif tag in _INLINE:
            opener, closer = _INLINE[tag]
        else:
            raise ValueError(f"letter markup: <{tag}> is not allowed inside <{self._run.tag}>")
        self._run.markup += opener
        self._closers.append((tag, closer))

    def handle_endtag(self, tag: str) -> None:
        if self._closers and self._closers[-1][0] == tag:
            self._run.markup += self._closers.pop()[1]  # type: ignore[union-attr]
        elif self._run is not None and tag == self._run.tag:
            if self._closers:
                raise ValueError(f"letter markup: <{self._closers[-1][0]}> not closed in <{tag}>")
            self._run.text = "\n".join(" ".join(line.split()) for line in self._run.text.split("\n"))
            self._run = None
        elif tag == "div" and len(self._containers) > 1:
            div = self._containers.pop()
            self._containers[-1].children.append(div)
        elif tag == "table" and self._table is not None:
            self._containers[-1].children.append(self._table)
            self._table = None
        elif tag not in ("tr", "article", "br", "hr"):
            raise ValueError(f"letter markup: unexpected </{tag}>")

    def handle_data(self, data: str) -> None:
        if self._run is not None:
            self._run.markup += escape(data)
            self._run.text += data
        elif data.strip():
            raise ValueError(f"letter markup: text outside a paragraph: {data.strip()[:40]!r}")


def parse_letter(markup: str) -> list[Block]:
    parser = _LetterParser()
    parser.feed(markup)
    parser.close()
    if parser._run is not None or len(parser._containers) > 1 or parser._table is not None:
        raise ValueError("letter markup: an element is not closed")
    return parser.root.children


def walk(blocks: list[Block]) -> Iterator[Block]:
    for block in blocks:
        yield block
        yield from walk(block.children)


def blocks_text(blocks: list[Block]) -> str:
    parts = []
    for block in blocks:
        if block.tag == "table":
            parts.append("\n".join("  ".join(cell.text for cell in cells) for _, cells in block.rows))
        elif block.tag == "hr":
            parts.append("- " * 30)
        elif block.tag == "div":
            parts.append(blocks_text(block.children).replace("\n\n", "\n").strip())
        else:
            parts.append(block.text.strip())
    return "\n\n".join(parts) + "\n"
