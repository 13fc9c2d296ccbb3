"""``newsroom reindex``: parse the options, show progress, print the outcome. The rebuild
itself is ``shared.index.rebuild``; the mapping comes from the index template the workers of
this ``INDEX_VERSION`` published (this command holds none)."""

from __future__ import annotations

import click
from elasticsearch import ApiError as ElasticsearchError

from cli.audit import record_command
from cli.users import command_settings
from shared.clients import get_elasticsearch, get_redis
from shared.http import ApiError
from shared.index.rebuild import RebuildError, abort_rebuild, rebuild_index
from shared.tasks import get_task_producer


@click.command("reindex")
@click.option(
    "--only-outdated",
    is_flag=True,
    help="Re-enrich only articles enriched by another version than the workers'; copy the "
    "others as they are.",
)
@click.option("--abort", is_flag=True, help="Drop an unfinished rebuild's index and alias.")
@click.option(
    "--timeout",
    default=24 * 3600,
    show_default=True,
    help="Seconds to wait for the re-enrichment before giving up (the live index is untouched).",
)
def reindex_command(only_outdated: bool, abort: bool, timeout: int) -> None:
    """Rebuild the article index from the stored original texts with the current mapping and
    enrichment, then switch searches and writers to it at once. Searches keep answering and
    articles posted meanwhile land in both indices. Needs a worker of this version on the
    bulk queue (its index template gives the new index's mapping, even a conflicting one)."""
    settings = command_settings()
    es = get_elasticsearch(settings)
    try:
        if abort:
            dropped = abort_rebuild(es, settings)
            record_command(settings, "index.rebuild.abort", dropped or "", dropped=bool(dropped))
            click.echo(f"dropped {dropped}" if dropped else "no rebuild was running")
            return
        record_command(settings, "index.rebuild.start", settings.articles_alias,
                       only_outdated=only_outdated)  # fmt: skip
        report = rebuild_index(
            es=es,
            redis_client=get_redis(settings),
            celery_app=get_task_producer(settings),
            settings=settings,
            only_outdated=only_outdated,
            timeout_s=timeout,
            progress=_progress_line,
        )
    except (RebuildError, ApiError, ElasticsearchError) as error:
        if not abort:
            record_command(settings, "index.rebuild", settings.articles_alias, ok=False,
                           only_outdated=only_outdated, error=str(error))  # fmt: skip
        raise click.ClickException(str(error)) from error
    record_command(settings, "index.rebuild", report.new_index, ok=True,
                   only_outdated=only_outdated, old_index=report.old_index,
                   reenriched=report.reenriched, copied=report.copied,
                   caught_up=report.caught_up, failed=len(report.failed))  # fmt: skip
    click.echo(
        f"\nswitched {settings.articles_alias} from {report.old_index} to {report.new_index} "
        f"in {report.seconds:.1f} s: {report.reenriched} re-enriched, {report.copied} copied, "
        f"{report.caught_up} caught up, {len(report.failed)} failed"
    )
    for article_id, why in list(report.failed.items())[:20]:
        click.echo(f"  failed {article_id}: {why}")
    click.echo(f"the old index {report.old_index} is kept; delete it when you no longer need it")


def _progress_line(phase: str, done: int, total: int | None) -> None:
    """One status line, rewritten in place on a terminal."""
    line = f"{phase}: {done:,}" + (f" / {total:,} ({done / total:.0%})" if total else "")
    click.echo(f"\r{line:<60}", nl=False)
