"""A posted HTML page becomes the body (trafilatura, worker.enrich.html)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.schema import MAX_TITLE_CHARS
from worker.enrich.html import extract_page
from worker.enrich.step import Document, Step, package_version, truncated


def extract_html(doc: Mapping[str, Any]) -> Document:
    """A posted HTML page becomes the body; its metadata fills only what the client left out."""
    html = doc.get("_html")
    if not html:
        return {}  # nothing to do is not a skip: skips say what an article missed
    page = extract_page(html, url=doc.get("url"))
    if page is None:
        raise ValueError("the HTML page has no main text")
    found: Document = {"body": page.text, "original": {"html": html}}
    cuts = list(page.cuts)
    if not doc.get("title") and page.title:
        # As long as ingest lets a posted title be: later steps may read a title's every word.
        found["title"] = page.title[:MAX_TITLE_CHARS]
        if len(page.title) > MAX_TITLE_CHARS:
            cuts.append(f"title cut at {MAX_TITLE_CHARS} of {len(page.title)} characters")
    if not doc.get("authors") and page.authors:
        found["authors"] = page.authors
    if not doc.get("source") and page.site_name:
        found["source"] = page.site_name
    if not doc.get("url") and page.url:
        found["url"] = page.url
    if not doc.get("published_at") and page.published:
        found |= {"published_at": page.published, "published_at_source": "html"}
    return found | truncated(*cuts)


# Every field it writes is the posted article's own (the core's).
STEP = Step("extract_html", extract_html, models={"html": package_version("trafilatura")})
