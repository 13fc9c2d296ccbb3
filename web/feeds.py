"""Any search as a feed: Atom 1.0 and JSON Feed 1.1, newest first."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 50

# What no feed text may hold: the characters XML 1.0 forbids (C0 controls but tab, LF and CR;
# lone surrogates; U+FFFE and U+FFFF), which make the whole document unparseable, and the C1
# controls (U+007F-U+009F, "discouraged" in XML 1.0 and in JSON text nothing but noise).
# ElementTree escapes markup but writes these as they are; no library here drops them.
_NOT_XML_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def feed_text(value: object) -> str:
    """``value`` as text a feed may carry: the characters above dropped, the rest kept."""
    return _NOT_XML_TEXT.sub("", str(value))


def _updated(hit: Mapping[str, Any]) -> str:
    published = hit.get("published_at") or ""
    if len(published) == 10:  # a date: midnight UTC
        return f"{published}T00:00:00Z"
    return published or datetime.now(UTC).isoformat(timespec="seconds")


def _summary(hit: Mapping[str, Any]) -> str:
    """The snippet as plain text: the feed readers escape and style it themselves."""
    text = str(hit.get("snippet") or "")
    for tag in ("<mark>", "</mark>"):
        text = text.replace(tag, "")
    # The snippet is HTML-escaped by Elasticsearch; undo it for a text field.
    for escaped, plain in (
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", '"'),
        ("&#x27;", "'"),
        ("&#39;", "'"),
        ("&amp;", "&"),
    ):
        text = text.replace(escaped, plain)
    return text


def atom_feed(
    title: str, self_url: str, page_url: str, hits: Sequence[Mapping[str, Any]], article_url: Any
) -> bytes:
    """``article_url(id)`` gives the address of an article's page."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}id").text = self_url
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=page_url)
    updated = max(
        (_updated(hit) for hit in hits), default=datetime.now(UTC).isoformat(timespec="seconds")
    )
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "Newsroom"
    for hit in hits:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        link = article_url(hit["id"])
        ET.SubElement(entry, f"{{{ATOM}}}id").text = link
        ET.SubElement(entry, f"{{{ATOM}}}title").text = hit.get("title") or "(untitled)"
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=link)
        if hit.get("url"):
            ET.SubElement(entry, f"{{{ATOM}}}link", rel="related", href=str(hit["url"]))
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _updated(hit)
        # Authors when the article names them, else its source.
        names = hit.get("authors") or ([hit["source"]] if hit.get("source") else [])
        for name in names:
            entry_author = ET.SubElement(entry, f"{{{ATOM}}}author")
            ET.SubElement(entry_author, f"{{{ATOM}}}name").text = str(name)
        ET.SubElement(entry, f"{{{ATOM}}}summary", type="text").text = _summary(hit)
    # Every text and attribute value, whatever field or query it came from, in one place.
    for element in feed.iter():
        if element.text is not None:
            element.text = feed_text(element.text)
        for name, attribute in element.attrib.items():
            element.set(name, feed_text(attribute))
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def _clean_json(value: Any) -> Any:
    """Every string in a JSON value (keys too) through ``feed_text``."""
    if isinstance(value, str):
        return feed_text(value)
    if isinstance(value, dict):
        return {feed_text(key): _clean_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_json(item) for item in value]
    return value


def json_feed(
    title: str, self_url: str, page_url: str, hits: Sequence[Mapping[str, Any]], article_url: Any
) -> dict[str, Any]:
    feed: dict[str, Any] = _clean_json(_json_feed(title, self_url, page_url, hits, article_url))
    return feed


def _json_feed(
    title: str, self_url: str, page_url: str, hits: Sequence[Mapping[str, Any]], article_url: Any
) -> dict[str, Any]:
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": page_url,
        "feed_url": self_url,
        "items": [
            {
                "id": article_url(hit["id"]),
                "url": article_url(hit["id"]),
                **({"external_url": hit["url"]} if hit.get("url") else {}),
                "title": hit.get("title") or "(untitled)",
                "summary": _summary(hit),
                "content_text": _summary(hit),
                "date_published": _updated(hit),
                **(
                    {"authors": [{"name": n} for n in hit["authors"]]} if hit.get("authors") else {}
                ),
                **({"language": hit["language"]} if hit.get("language") else {}),
            }
            for hit in hits
        ],
    }
