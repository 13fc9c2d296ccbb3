"""Real hard-wrapped wire copy through the enrichment steps: the 70 Reuters-21578 stories of
1987 that Debian's r-cran-tm package ships (texts/crude and texts/acq; wrapped at about 65
columns, paragraphs marked by a 4-space indent, the dateline in a field of its own). The
package is fetched with ``apt-get download`` into the corpus cache on first use; no text is
committed. Posted as issue 13 found them: the dateline, a space, the body, and no title."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from quality.corpus import cache_dir
from quality.sources import TM_VERSION
from shared.schema import ArticleIn, to_payload
from worker.enrich import enrich
from worker.enrich.dateline import parse_dateline
from worker.enrich.registry import named
from worker.enrich.text import count_words, first_sentence

RECEIVED = datetime(1987, 3, 3, tzinfo=UTC)
# The steps up to the derived title: what decides the title, the body and the dateline.
TITLE_STEPS = named(
    "extract_html",
    "strip_date_line",
    "reflow_body",
    "take_headline",
    "find_dateline",
    "date_from_dateline",
    "derive_missing_title",
)


@dataclass(frozen=True)
class WireStory:
    name: str
    title: str
    dateline: str
    body: str

    @property
    def posted(self) -> str:
        return f"{self.dateline} {self.body}"


def _package_texts() -> Path:
    """texts/ of r-cran-tm, downloaded and unpacked once."""
    target = cache_dir() / "r-cran-tm-texts"
    if (target / "crude").is_dir() and (target / "acq").is_dir():
        return target
    with tempfile.TemporaryDirectory() as scratch:
        # The version quality/sources.py pins (scripts/test.sh makes sure apt can find it).
        command = ["apt-get", "download", f"r-cran-tm={TM_VERSION}"]
        subprocess.run(command, cwd=scratch, check=True)
        (package,) = Path(scratch).glob("r-cran-tm_*.deb")
        unpacked = Path(scratch) / "unpacked"
        subprocess.run(["dpkg-deb", "-x", str(package), str(unpacked)], check=True)
        (texts,) = unpacked.glob("usr/lib/R/site-library/tm/texts")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        for folder in ("crude", "acq"):
            shutil.copytree(texts / folder, partial / folder)
        partial.rename(target)
    return target


@lru_cache(maxsize=1)
def wire_stories() -> tuple[WireStory, ...]:
    stories = []
    for path in sorted(_package_texts().glob("*/reut-*.xml")):
        root = ET.parse(path).getroot()
        stories.append(
            WireStory(
                name=f"{path.parent.name}/{path.stem}",
                title=root.findtext("TEXT/TITLE") or "",
                dateline=(root.findtext("TEXT/DATELINE") or "").strip(),
                body=root.findtext("TEXT/BODY") or "",
            )
        )
    return tuple(stories)


def _enriched(body: str, title: str | None = None, steps: Any = TITLE_STEPS) -> Mapping[str, Any]:
    payload = to_payload(
        ArticleIn(body=body, title=title), content_type="text/plain", received_at=RECEIVED
    )
    return enrich(payload, steps)


def test_the_package_holds_the_70_stories() -> None:
    stories = wire_stories()
    assert len(stories) == 70
    assert all(story.title and story.dateline and story.body for story in stories)
    # Hard-wrapped: no line of any body is longer than 70 characters.
    assert max(len(line) for story in stories for line in story.body.split("\n")) <= 70


def test_a_title_less_wire_story_keeps_its_first_line_and_its_dateline() -> None:
    read_alone = 0
    for story in wire_stories():
        doc = _enriched(story.posted)
        first_line = story.posted.split("\n", 1)[0]
        body = doc["body"]
        assert doc["body_reflowed"] is True, story.name
        assert body.startswith(first_line + " "), story.name  # kept, and joined to its sentence
        assert count_words(body) == count_words(story.posted), story.name  # nothing lost
        # Its paragraphs: the first, and one for each indented line (the signature too).
        indented = [line for line in story.posted.split("\n")[1:] if line[:1] == " "]
        indented = [line for line in indented if line.strip()]
        paragraphs = [line for line in body.split("\n") if line.strip()]
        assert len(paragraphs) == 1 + len(indented), story.name
        assert doc["title_derived"] is True, story.name
        title = doc["title"]
        assert len(title) <= 111
        assert not title.startswith(story.dateline)
        sentence = first_sentence(body[len(story.dateline) :])
        assert sentence.startswith(title.removesuffix("…")), story.name
        # The whole sentence, or cut at a clause boundary, or between words with an ellipsis.
        after = sentence.rstrip(".").removeprefix(title.removesuffix("…"))
        assert (
            after == ""
            or after.startswith((",", ";", ":", " -", " —", " –"))
            or (title.endswith("…") and after.startswith(" "))
        ), story.name
        if parse_dateline(f"{story.dateline} Text") is not None:  # a dateline the parser reads
            read_alone += 1
            assert doc["dateline"]["raw"] == story.dateline, story.name
    assert read_alone >= 60


def test_with_a_headline_line_or_a_given_title_the_body_is_the_same() -> None:
    for story in wire_stories()[::7]:
        alone = _enriched(story.posted)
        for posted, given in (
            (f"{story.title}\n{story.posted}", None),
            (f"{story.title}\n\n{story.posted}", None),
            (story.posted, story.title),
        ):
            doc = _enriched(posted, given)
            assert (doc["title"], doc.get("title_derived")) == (story.title, None), story.name
            assert doc["body"] == alone["body"], story.name


def test_a_body_posted_without_its_dateline_keeps_its_first_line() -> None:
    for story in wire_stories():
        doc = _enriched(story.body)
        assert doc["body"].startswith(story.body.split("\n", 1)[0] + " "), story.name
        assert doc["title_derived"] is True, story.name
        assert count_words(doc["body"]) == count_words(story.body), story.name


@lru_cache(maxsize=2)
def _fully_enriched(story_name: str) -> Mapping[str, Any]:
    (story,) = [story for story in wire_stories() if story.name == story_name]
    payload = to_payload(
        ArticleIn(body=story.posted), content_type="text/plain", received_at=RECEIVED
    )
    return enrich(payload)


@pytest.mark.parametrize(
    ("story_name", "opening", "speaker"),
    [
        ("crude/reut-00002", "The movement to higher oil prices", "Daniel Yergin"),
        ("crude/reut-00002", "OPEC must hold to its pact", "Dillard Spriggs"),
    ],
)
def test_quotations_across_line_breaks_are_found_whole(
    story_name: str, opening: str, speaker: str
) -> None:
    """Before the reflow, each line of these came out as a quotation of its own (and the second
    speaker as "Dillard", his surname on the next line)."""
    doc = _fully_enriched(story_name)
    found = [quote for quote in doc["quotes"] if quote["text"].startswith(opening)]
    assert len(found) == 1, [quote["text"] for quote in doc["quotes"]]
    (quote,) = found
    assert len(quote["text"]) > 70  # longer than any line of the story: it ran across a break
    assert quote["speaker"] == speaker
    assert doc["body"][quote["start"] : quote["end"]].startswith(f'"{opening}')
