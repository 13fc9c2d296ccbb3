"""Main text and metadata of a whole HTML page, with trafilatura."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trafilatura


@dataclass(frozen=True)
class ExtractedPage:
    text: str
    title: str | None
    authors: list[str]
    published: str | None  # ISO date
    site_name: str | None
    url: str | None


def extract_page(html: str, *, url: str | None = None) -> ExtractedPage | None:
    """The article in ``html`` without navigation, ads and comments; None when the page has no
    main text."""
    found = trafilatura.bare_extraction(
        html,
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
    )
