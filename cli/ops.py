"""`newsroom ingest`, `newsroom feed` and `newsroom status` (registered in cli/main.py)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click
import redis
import requests
from pydantic import SecretStr
from tqdm import tqdm

from cli.client import GaveUpError, IngestClient, KeyRefusedError
from cli.ingesting import Ingestion, Summary
from cli.sources import FeedError, Item, collect_files, parse_feed, read_files
from cli.status import format_status
from shared.monitoring import pipeline_snapshot
from shared.settings import get_settings
from shared.tasks import ARTICLE_QUEUES

F = TypeVar("F", bound=Callable[..., Any])


def _posting_options(command: F) -> F:
    """The options `ingest` and `feed` share: where to post, how, and whether to wait."""
    options = [
        click.option(
            "--url",
            envvar="NEWSROOM_INGEST_URL",
            help="The ingest service [default: NEWSROOM_INGEST_URL, else http://127.0.0.1:8001].",
        ),
        click.option(
            "--token",
            envvar="NEWSROOM_INGEST_TOKEN",
            help="API token sent as 'Authorization: Bearer' (an ingest token, or an editor's) "
            "[default: NEWSROOM_INGEST_TOKEN].",
        ),
        click.option(
            "--api-key",
            envvar="NEWSROOM_INGEST_API_KEY",
            help="Deprecated: the shared key, sent when no token is given "
            "[default: NEWSROOM_INGEST_API_KEY].",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1, 5000),
            default=100,
            show_default=True,
            help="Articles per request.",
        ),
        click.option(
            "--batch-mb",
            type=click.FloatRange(0.01, 100),
            default=4.0,
            show_default=True,
            help="Most megabytes per request (a larger article goes alone).",
        ),
        click.option(
            "--source",
            help="Source of the articles (text and HTML files; for a feed, instead of its title).",
        ),
        click.option(
            "--queue",
            type=click.Choice(ARTICLE_QUEUES),
            default=None,
            help="Ingest's queue: bulk (the default of `ingest`: archive loads must not delay "
            "live articles; a worker must consume it) or live (the default of `feed`).",
        ),
        click.option(
            "--wait",
            is_flag=True,
            help="Then wait until every accepted article is indexed or failed.",
        ),
        click.option(
            "--wait-timeout",
            type=click.FloatRange(1),
            default=600.0,
            show_default=True,
            help="Seconds --wait waits at most.",
        ),
        click.option(
            "--max-wait",
            type=click.FloatRange(0),
            default=600.0,
            show_default=True,
            help="Seconds to keep one request waiting while ingest is busy (429) or "
            "unreachable, before counting its articles as not sent.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _credential(given: str | None, setting: SecretStr | None) -> str | None:
    """An option's value, else the setting's (from the environment or .env)."""
    return given or (setting.get_secret_value() if setting is not None else None)


def _refused(token: str | None, api_key: str | None, error: KeyRefusedError) -> str:
    if token:
        return f"ingest refused the token: {error}"
    if api_key:
        return f"ingest refused the API key: {error}"
    return f"ingest refused the API key or token (none given: --token): {error}"


def _bar(quiet: bool, **kwargs: Any) -> tqdm[Any]:
    # disable=None: drawn only on a terminal, so logs and pipes get the summary alone.
    return tqdm(file=sys.stderr, disable=True if quiet else None, dynamic_ncols=True, **kwargs)


def _post(
    items: Iterable[Item], total_bytes: int, *, files: int, options: dict[str, Any]
) -> Summary:
    settings = get_settings()
    token = _credential(options["token"], settings.ingest_token)
    api_key = _credential(options["api_key"], settings.ingest_api_key)
    quiet = options["quiet"]
    with _bar(
        quiet, total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="Sending"
    ) as bar:

        def waiting(reason: str, seconds: float) -> None:
            bar.set_postfix_str(f"{reason}: waiting {seconds:.0f} s")

        client = IngestClient(
            options["url"] or settings.ingest_url,
            token=token or api_key,
            max_wait_s=options["max_wait"],
            on_wait=waiting,
        )
        run = Ingestion(
            client,
            batch_size=options["batch_size"],
            max_batch_bytes=int(options["batch_mb"] * 1024 * 1024),
            progress=bar,
            queue=options["queue"],
        )
        try:
            summary = run.run(items)
        except KeyRefusedError as error:
            raise click.ClickException(_refused(token, api_key, error)) from error
    summary.files = files
    if options["wait"] and run.ids:
        with _bar(quiet, total=len(run.ids), unit="article", desc="Indexing") as bar:
            try:
                run.wait_until_done(timeout_s=options["wait_timeout"], progress=bar)
            except (GaveUpError, KeyRefusedError) as error:
                raise click.ClickException(str(error)) from error
    return summary


def _report(summary: Summary, as_json: bool) -> None:
    click.echo(json.dumps(summary.as_dict(), indent=2) if as_json else summary.render())
    if not summary.ok:
        sys.exit(1)


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=False))
@_posting_options
def ingest_command(paths: tuple[Path, ...], **options: Any) -> None:
    """Post files, or whole directories, to the ingest API.

    \b
    .txt            one article: the text ("date YYYY-MM-DD" on its first line is understood)
    .html .htm      one article: a whole web page (its main text is extracted)
    .json           one article (an object) or many (an array)
    .ndjson .jsonl  one article per line

    Directories are read recursively (hidden entries skipped). Articles go in batches, with a
    progress bar; ingest being busy (429) or unreachable is waited out. The summary counts
    the articles accepted, the duplicates (one id given twice in this run) and those rejected,
    each with its file, position and reason. Exits 1 when any article was rejected, not
    sent or (with --wait) failed.

    \b
    Examples:
      newsroom ingest articles/
      newsroom ingest --source "Example Wire" --wait today/*.txt
      newsroom ingest --url http://ingest:8001 --json dump.ndjson
    """
    options["queue"] = options["queue"] or "bulk"  # an archive load: off the live queue
    files, errors = collect_files(list(paths))
    total = sum(path.stat().st_size for path in files) + sum(item.weight for item in errors)

    def items() -> Iterable[Item]:
        yield from errors
        yield from read_files(files, source=options["source"])

    summary = _post(items(), total, files=len(files), options=options)
    _report(summary, options["as_json"])


@click.command("feed")
@click.argument("feed")
@click.option(
    "--timeout",
    type=click.FloatRange(1, 300),
    default=30.0,
    show_default=True,
    help="Seconds to fetch a feed URL.",
)
@_posting_options
def feed_command(feed: str, timeout: float, **options: Any) -> None:
    """Ingest the items of an RSS or Atom feed (a URL or a file).

    Each entry becomes an article: its title, its link as the url, its publication date,
    its content (else its summary) as the body, and the feed's title as the source. Posting
    the feed again updates the same articles (ids come from the links).

    \b
    Examples:
      newsroom feed https://example.org/news.rss
      newsroom feed --wait saved-feed.xml
    """
    content_type = None
    if feed.startswith(("http://", "https://")):
        try:
            response = requests.get(feed, timeout=timeout, headers={"User-Agent": "newsroom-cli"})
            response.raise_for_status()
        except requests.RequestException as error:
            raise click.ClickException(f"cannot fetch {feed}: {error}") from error
        raw, content_type = response.content, response.headers.get("Content-Type")
    else:
        try:
            raw = Path(feed).read_bytes()
        except OSError as error:
            raise click.ClickException(f"cannot read {feed}: {error.strerror}") from error
    try:
        title, items = parse_feed(
            raw, origin=feed, source=options["source"], content_type=content_type
        )
    except FeedError as error:
        raise click.ClickException(str(error)) from error
    if not options["as_json"] and not options["quiet"]:
        click.echo(f"{title or feed}: {len(items)} entries", err=True)
    summary = _post(items, len(raw), files=1, options=options)
    _report(summary, options["as_json"])


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="The whole snapshot as JSON.")
@click.option(
    "--watch",
    type=click.FloatRange(0.5),
    default=None,
    help="Refresh every this many seconds until Ctrl-C.",
)
@click.option(
    "--minutes",
    type=click.IntRange(1, 180),
    default=15,
    show_default=True,
    help="Count failures over this many minutes.",
)
def status_command(as_json: bool, watch: float | None, minutes: int) -> None:
    """Where the pipeline stands: queue depth, workers, throughput, failures, dead letters
    and the index's size.

    Reads Redis and Elasticsearch directly (NEWSROOM_REDIS_URL, NEWSROOM_ELASTICSEARCH_URL),
    like the services. The same numbers feed the web's /pipeline page and /metrics.
    """
    settings = get_settings()
    while True:
        try:
            snapshot = pipeline_snapshot(
                settings,
                failure_window=minutes,
                minutes=max(minutes, 30),
            )
        except (redis.RedisError, OSError) as error:
            raise click.ClickException(f"Redis is unreachable: {error}") from error
        text = json.dumps(snapshot, indent=2) if as_json else format_status(snapshot)
        if watch is None:
            click.echo(text)
            return
        click.clear()
        click.echo(text)
        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            return
