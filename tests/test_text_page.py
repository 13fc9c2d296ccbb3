"""The article page shows a body by paragraphs: a hard-wrapped story, stored reflowed, one
paragraph a line; a story posted one paragraph a line (with or without blank lines) as before.
Enriched and indexed by the pipeline's own function (no Celery), into the real index."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.clients import get_elasticsearch, get_redis
from shared.schema import ArticleIn, to_payload
from shared.settings import Settings
from tests.test_text_reflow import WIRE, WIRE_REFLOWED
from web.article_views import body_paragraphs
from worker.pipeline import process_batch

pytestmark = pytest.mark.usefixtures("services")

_BODY_DIV = re.compile(r'<div class="body">(.*?)</div>', re.S)
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.S)


def _index(settings: Settings, body: str) -> dict[str, Any]:
    payload = to_payload(
        ArticleIn(body=body, source="Page Wire"),
        content_type="text/plain",
        received_at=datetime.now(UTC),
    )
    es, redis_client = get_elasticsearch(settings), get_redis(settings)
    outcome = process_batch([payload], es=es, redis_client=redis_client, settings=settings)
    assert outcome.indexed == [payload["id"]], outcome
    source: dict[str, Any] = es.get(index=settings.articles_alias, id=payload["id"]).body["_source"]
    return {**source, "id": payload["id"]}


def _shown(web_client: FlaskClient, article_id: str) -> tuple[list[str], str]:
    page = web_client.get(f"/articles/{article_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    match = _BODY_DIV.search(text)
    assert match is not None
    return [html.unescape(p) for p in _PARAGRAPH.findall(match.group(1))], text


def test_a_hard_wrapped_story_shows_as_its_paragraphs(
    settings: Settings, web_client: FlaskClient
) -> None:
    stored = _index(settings, WIRE)
    assert stored["body_reflowed"] is True  # the strict mapping knows the field
    assert stored["body"] == WIRE_REFLOWED
    paragraphs, page = _shown(web_client, stored["id"])
    assert paragraphs == [line.strip() for line in WIRE_REFLOWED.split("\n")]
    assert len(paragraphs) == 5  # four paragraphs and the signature, not 11 lines
    assert any(p.startswith('"The price reduction') and p.endswith("company.") for p in paragraphs)
    assert "posted hard-wrapped" in page


def test_a_story_posted_one_paragraph_a_line_shows_as_before(
    settings: Settings, web_client: FlaskClient, sample_text: str
) -> None:
    single = re.sub(r"\n\s*\n", "\n", sample_text.strip())  # no blank lines between
    for body in (sample_text, single):
        stored = _index(settings, body)
        assert stored["body_reflowed"] is False
        paragraphs, page = _shown(web_client, stored["id"])
        assert paragraphs == body_paragraphs(stored["body"])
        assert len(paragraphs) == len([line for line in stored["body"].split("\n") if line.strip()])
        assert len(paragraphs) > 8
        assert "posted hard-wrapped" not in page


def test_body_paragraphs() -> None:
    assert body_paragraphs("One.\n\n  Two.\n    Three.\n \n") == ["One.", "Two.", "Three."]
    assert body_paragraphs("") == []
