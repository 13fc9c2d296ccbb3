"""``newsroom stories``: stories over time (issue 17; registered in cli/main.py). The logic:
``shared.stories_rebuild`` (the assigner it runs is the worker's, shared/stories_assign.py)."""

from __future__ import annotations

import sys

import click
import redis
from elasticsearch import ApiError as ElasticsearchError
from elasticsearch import TransportError
from tqdm import tqdm

from cli.audit import record_command
from cli.users import command_settings
from shared.clients import get_elasticsearch, get_redis
from shared.stories_rebuild import StoryRebuildError, rebuild_stories


@click.group("stories")
def stories_group() -> None:
    """Stories: one event reported over days, by several outlets, in different words."""


@stories_group.command("rebuild")
@click.option("--quiet", is_flag=True, help="No progress bar, only the summary.")
def stories_rebuild(quiet: bool) -> None:
    """Assign every indexed article a story again, in the order its news happened, from a
    clean story namespace: articles indexed before stories get theirs. Workers may keep
    running. Needs the story mapping (a worker of this version has started once)."""
    settings = command_settings()
    # disable=None: drawn only on a terminal, so logs and pipes get the summary alone.
    with tqdm(file=sys.stderr, disable=True if quiet else None, unit="article") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = rebuild_stories(
                get_elasticsearch(settings), get_redis(settings), settings, progress=progress
            )
        except StoryRebuildError as error:
            raise click.ClickException(str(error)) from error
        except (redis.RedisError, OSError) as error:
            raise click.ClickException(f"Redis is unreachable: {error}") from error
        except (TransportError, ElasticsearchError) as error:
            raise click.ClickException(f"Elasticsearch: {error}") from error
    record_command(settings, "stories.rebuild", settings.articles_alias,
                   articles=report.articles, stories=report.stories, merges=report.merges,
                   failed=len(report.failed))  # fmt: skip
    click.echo(
        f"{report.articles} articles in {report.stories} stories ({report.merges} merged, "
        f"{report.restamped} re-stamped after merges, {len(report.failed)} failed)"
    )
    for article_id, why in list(report.failed.items())[:20]:
        click.echo(f"  failed {article_id}: {why}")
    if report.failed:
        raise SystemExit(1)
