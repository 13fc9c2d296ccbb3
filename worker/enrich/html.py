"""Main text and metadata of a whole HTML page, with trafilatura.

trafilatura's time grows with the number of elements (about 0.3 ms each on one core, as much
again under load: a 5 MB page of empty ``<div>`` took minutes), so the page is bounded first,
on the tree trafilatura itself would build (``trafilatura.utils.load_html``, then handed to it):
a page with no text at all is refused at once, and a page of more than ``MAX_PAGE_ELEMENTS``
elements loses its scripts and styles, then whatever follows its first ``MAX_PAGE_ELEMENTS``
elements. Both cuts are recorded with the article. Smaller pages go through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trafilatura
from lxml.html import HtmlElement
from trafilatura.deduplication import LRU_TEST
from trafilatura.utils import load_html

# A news page has a few thousand elements; a big one with its comments, about 10,000.
MAX_PAGE_ELEMENTS = 20_000
# Text that can be read: not in the head, scripts, styles or templates.
_READABLE_TEXT = (
    "boolean(//text()[normalize-space()]"
    "[not(ancestor::head or ancestor::script or ancestor::style or ancestor::template)])"
)
# Dropped first from an oversized page (JSON-LD stays: trafilatura reads its metadata).
_NOT_CONTENT = "//script[not(@type='application/ld+json')] | //style | //svg"


@dataclass(frozen=True)
class ExtractedPage:
    text: str
    title: str | None
    authors: list[str]
    published: str | None  # ISO date
    site_name: str | None
    url: str | None
    cuts: list[str] = field(default_factory=list)  # how the page was bounded, if it was


def _bounded(tree: HtmlElement) -> list[str]:
    """Cut ``tree`` (in place) to at most ``MAX_PAGE_ELEMENTS`` elements; what was done."""
    elements = sum(1 for _ in tree.iter())
    if elements <= MAX_PAGE_ELEMENTS:
        return []
    for element in tree.xpath(_NOT_CONTENT):
        element.drop_tree()
    kept = list(tree.iter())
    if len(kept) > MAX_PAGE_ELEMENTS:
        # Document order: every element after the first MAX_PAGE_ELEMENTS whose parent stays.
        staying = set(kept[:MAX_PAGE_ELEMENTS])
        for element in kept[MAX_PAGE_ELEMENTS:]:
            parent = element.getparent()
            if parent is not None and parent in staying:
                parent.remove(element)
    return [f"page of {elements} elements cut to {MAX_PAGE_ELEMENTS} (scripts and styles first)"]


def extract_page(html: str, *, url: str | None = None) -> ExtractedPage | None:
    """The article in ``html`` without navigation, ads and comments; None when the page has no
    main text."""
    tree = load_html(html)
    if tree is None or not tree.xpath(_READABLE_TEXT):
        return None
    cuts = _bounded(tree)
    # ``deduplicate`` drops a paragraph seen more than twice, counted in one cache for the whole
    # process: the same page enriched a third time (a retried batch, a re-post, a re-enrichment)
    # came out empty and was dead-lettered as "no main text". Counted per page, as intended.
    LRU_TEST.clear()
    found = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        deduplicate=True,
    )
    if found is None:
        return None
    data: dict[str, Any] = found.as_dict() if hasattr(found, "as_dict") else dict(found)
    text = (data.get("text") or "").strip()
    if not text:
        return None
    title = data.get("title") or None
    # trafilatura repeats the <h1> headline as the first line of the text.
    if title and text.startswith(title):
        text = text[len(title) :].lstrip()
    author = data.get("author") or ""
    return ExtractedPage(
        text=text,
        title=title,
        authors=[name.strip() for name in author.split(";") if name.strip()],
        published=data.get("date") or None,
        site_name=data.get("sitename") or None,
        url=data.get("url") or None,
        cuts=cuts,
    )
