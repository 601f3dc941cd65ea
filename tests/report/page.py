"""A small element tree of an HTML page, built with the standard library's ``html.parser``: what the HTML report's
tests read, from the reporter's own output and from the DOM a real browser dumps."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Callable, Dict, Iterator, List, Optional, Tuple

#: Elements that never have an end tag.
VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"])


@dataclass
class Element:
    tag: str
    attrs: Dict[str, str]
    parent: Optional[Element] = None
    children: List[Element] = field(default_factory=list)
    _order: List[Tuple[str, object]] = field(default_factory=list)
    """Text (``"t"``) and child elements (``"e"``) in document order."""

    def get(self, name: str) -> str:
        return self.attrs.get(name, "")

    @property
    def classes(self) -> Tuple[str, ...]:
        return tuple(self.get("class").split())

    def text(self) -> str:
        """All text inside, the children's included, in document order."""
        out: List[str] = []

        def walk(node: Element) -> None:
            for kind, item in node._order:
                if kind == "t":
                    out.append(str(item))
                else:
                    walk(item)  # type: ignore[arg-type]

        walk(self)
        return "".join(out)

    def iter(self) -> Iterator[Element]:
        for child in self.children:
            yield child
            yield from child.iter()

    def find_all(self, tag: str = "", where: Optional[Callable[[Element], bool]] = None) -> List[Element]:
        return [e for e in self.iter() if (not tag or e.tag == tag) and (where is None or where(e))]

    def by_id(self, ident: str) -> Element:
        found = [e for e in self.iter() if e.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(element)
        self.current._order.append(("e", element))
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(element)
        self.current._order.append(("e", element))

    def handle_endtag(self, tag: str) -> None:
        node: Optional[Element] = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"</{tag}> closes nothing open"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current._order.append(("t", data))


def parse(text: str) -> Element:
    """The document's tree (its root is ``#document``)."""
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root
