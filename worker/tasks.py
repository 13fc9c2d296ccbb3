"""Celery tasks: thin wrappers that retry; the work is in ``worker.pipeline``."""

from __future__ import annotations

import logging
import time
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Reject, Retry, SoftTimeLimitExceeded
from celery.signals import worker_process_init
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from shared import saved_searches
from shared.article import ArticlePayload
from shared.clients import get_elasticsearch, get_redis
from shared.index import publish_template
from shared.settings import Settings, get_settings
from shared.status import set_states
from shared.tasks import (
    DELIVER_EMAIL_TASK,
    DELIVER_WEBHOOK_TASK,
    EVALUATE_ALERTS_TASK,
    PROCESS_ARTICLES_TASK,
)
from worker import deliveries
from worker.alerts import (
    Alert,
    Spike,
    backoff_s,
    evaluate_batch,
    evaluate_spikes,
    new_delivery_id,
    run_delivery,
    spike_payload,
    webhook_payload,
)
from worker.celery_app import app
from worker.enrich import warm_up
from worker.enrich.registry import article_mappings
from worker.errors import classify
from worker.mail import run_email_delivery
from worker.pipeline import BatchOutcome, dead_letter_batch, process_batch

log = logging.getLogger(__name__)

# How long a batch waits for the broker to take its retry before handing its message back.
BROKER_WAIT_S = 60.0


def _retry(task: Task, error: Exception, countdown: int) -> NoReturn:
    """``task.retry``, without ever dropping the message being worked on.

    ``Task.retry`` queues a copy of the task; when the broker refuses the copy, Celery raises
    ``Reject(requeue=False)`` and the message is *dropped*. The broker being down is often the
    very outage being retried (Redis restarted: tests/test_drills.py lost a batch this way), so
    wait for it, bounded; if it stays away, reject *with* requeue: the message stays in Redis
    and comes back (at once, or after the visibility timeout if even the reject cannot reach it).
    """
    deadline = time.monotonic() + BROKER_WAIT_S
    pause = 0.5
    while True:
        try:
            task.retry(exc=error, countdown=countdown)  # raises Retry once the copy is queued
        except Reject as refused:
            if time.monotonic() + pause > deadline:
                raise Reject(refused.reason, requeue=True) from error
            log.warning("the broker refused a retry; waiting %.1f s for it", pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _load_models(**_: Any) -> None:
    warm_up()
    _publish_mapping()


def _publish_mapping() -> None:
    """Publish this worker's mapping as its index version's template now, not only at the first
    batch (``ensure_index``): `newsroom reindex` needs it even when no article arrives. Quick
    or not at all: the first batch publishes it again."""
    settings = get_settings()
    es = get_elasticsearch(settings).options(request_timeout=2, max_retries=0)
    try:
        publish_template(es, settings, article_mappings())
    except Exception as error:  # whatever it is, the first batch meets it again
        log.warning("the index mapping was not published at start (%s): at the first batch", error)


@app.task(  # type: ignore[untyped-decorator]
    bind=True,
    name=PROCESS_ARTICLES_TASK,
    acks_late=True,
    max_retries=None,  # bounded below by settings.task_max_retries
)
def process_articles(
    self: Task, payloads: list[ArticlePayload], lost_before: int = 0
) -> dict[str, int]:
    """Enrich and index one batch. Every way it can end leaves each article indexed, queued
    again (retried with backoff) or dead-lettered with its reason:

    - an outage or an error answer that passes (``worker.errors.classify``: connection,
      timeout, 429, 5xx, no master, circuit breaker, Redis OOM/READONLY/loading): the batch is
      retried whole with backoff, then dead-lettered with the last error;
    - an error about what the batch holds (a 400, an unexpected exception), the soft time
      limit, or an earlier delivery lost with its worker process (killed, out of memory, over
      the hard limit): the batch is split into single articles, sent again, and a single
      article that fails so is dead-lettered with the reason and the step it was in.

    ``lost_before``: how many deliveries of the batch this one was split from were lost.
    """
    settings = get_settings()
    redis_client = get_redis()
    try:
        delivery = deliveries.begin(
            redis_client,
            settings.index_prefix,
            str(self.request.id),
            int(self.request.retries),
            ttl_s=settings.broker_visibility_timeout_s * 4,
        )
    except RedisError as error:
        _retry(self, error, _backoff(self))
    try:
        result = _deliver(self, payloads, lost_before, delivery, settings)
    except (Retry, Reject):  # sent again, or handed back: this delivery has ended
        deliveries.finish(redis_client, delivery.key)
        raise
    except Exception as error:  # a fault in handling the batch's own failure
        deliveries.finish(redis_client, delivery.key)
        if self.request.retries < settings.task_max_retries:
            _retry(self, error, _backoff(self))
        _dead_letter(self, payloads, f"gave up: {classify(error).reason}", settings)
        return {"dead_lettered": len(payloads)}
    # Anything else (SystemExit from a terminating pool, the process killed outright) leaves
    # the record: the next delivery of this message knows the last one was lost.
    deliveries.finish(redis_client, delivery.key)
    return result


def _deliver(
    task: Task,
    payloads: list[ArticlePayload],
    lost_before: int,
    delivery: deliveries.Delivery,
    settings: Settings,
) -> dict[str, int]:
    redis_client = get_redis()
    lost = delivery.lost_before + (lost_before if delivery.lost_before else 0)
    if lost:
        reason = (
            f"worker_lost: its delivery was lost with the worker process {lost}"
            " time(s) (killed, out of memory or over the hard time limit of"
            f" {settings.task_time_limit_s} s) in step {delivery.last_step or 'unknown'}"
        )
        if len(payloads) == 1 and lost >= settings.task_max_lost_deliveries:
            _dead_letter(task, payloads, reason, settings)
            return {"dead_lettered": 1}
        # Sent again alone, later, on the bulk queue: the process that died is being
        # replaced, and a suspect run at once on the live queue would kill the other process
        # too, leaving none for the stream. Only an article lost alone carries the count: its
        # batch-mates start again from none, so an unrelated loss later cannot condemn them.
        return _send_alone(
            task,
            payloads,
            reason,
            settings,
            lost_before=lost if len(payloads) == 1 else 0,
            queue=settings.bulk_queue_name,
            countdown=settings.lost_retry_delay_s,
        )
    try:
        outcome = process_batch(
            payloads,
            es=get_elasticsearch(),
            redis_client=redis_client,
            settings=settings,
            on_step=lambda step: deliveries.record_step(redis_client, delivery.key, step),
        )
    except SoftTimeLimitExceeded:
        step = deliveries.current_step(redis_client, delivery.key)
        reason = (
            f"time_limit: over the task's soft time limit of {settings.task_soft_time_limit_s}"
            f" s in step {step or 'unknown'}"
        )
        # Slow rather than wrong: tried alone on the bulk queue, away from the stream.
        return _isolate(
            task,
            payloads,
            reason,
            settings,
            lost_before=lost_before,
            queue=settings.bulk_queue_name,
        )
    except Exception as error:  # classified: every kind has its way out below
        failure = classify(error)
        log.warning("batch failed", extra={"kind": failure.kind, "articles": len(payloads)})
        if not failure.transient:
            return _isolate(task, payloads, failure.reason, settings, lost_before=lost_before)
        if task.request.retries < settings.task_max_retries:
            _retry(task, error, _backoff(task))
        reason = f"gave up after {task.request.retries} retries: {failure.reason}"
        _dead_letter(task, payloads, reason, settings)
        return {"dead_lettered": len(payloads)}
    return _after_batch(task, payloads, outcome, settings)


def _backoff(task: Task) -> int:
    return int(min(2 ** int(task.request.retries), 60))


def _queue(task: Task, settings: Settings) -> str:
    """The queue this message came from (live or bulk): what the batch sends again goes there."""
    info = task.request.delivery_info or {}
    return str(info.get("routing_key") or settings.queue_name)


def _isolate(
    task: Task,
    payloads: list[ArticlePayload],
    reason: str,
    settings: Settings,
    *,
    lost_before: int,
    queue: str | None = None,
) -> dict[str, int]:
    """A batch that failed because of what it holds: each article is sent again on its own
    (to ``queue``, by default the one it came from; so the one that does it is found and the
    others are indexed), or, alone already, it is dead-lettered with ``reason``."""
    if len(payloads) == 1:
        _dead_letter(task, payloads, reason, settings)
        return {"dead_lettered": 1}
    return _send_alone(
        task,
        payloads,
        reason,
        settings,
        lost_before=lost_before,
        queue=queue or _queue(task, settings),
        countdown=0,
    )


def _send_alone(
    task: Task,
    payloads: list[ArticlePayload],
    reason: str,
    settings: Settings,
    *,
    lost_before: int,
    queue: str,
    countdown: float,
) -> dict[str, int]:
    """Each article of the batch as a task of its own, its state saying why."""
    log.warning("batch split into single articles", extra={"why": reason})
    try:
        set_states(
            get_redis(),
            settings.index_prefix,
            [(p["id"], "queued", f"retrying alone: {reason}") for p in payloads],
            settings.status_ttl_s,
        )
        for payload in payloads:
            app.send_task(
                PROCESS_ARTICLES_TASK,
                args=[[payload]],
                kwargs={"lost_before": lost_before},
                queue=queue,
                countdown=countdown,
            )
    except (OperationalError, RedisError) as error:
        # The batch again, whole: articles already sent alone are indexed twice, identically.
        _retry(task, error, _backoff(task))
    return {"split": len(payloads)}


def _dead_letter(
    task: Task, payloads: list[ArticlePayload], reason: str, settings: Settings
) -> None:
    try:
        dead_letter_batch(
            payloads,
            reason,
            int(task.request.retries) + 1,
            redis_client=get_redis(),
            settings=settings,
        )
    except RedisError as redis_error:
        # Not even the dead letters can take them: keep retrying rather than drop them.
        _retry(task, redis_error, 60)


def _after_batch(
    task: Task, payloads: list[ArticlePayload], outcome: BatchOutcome, settings: Settings
) -> dict[str, int]:
    if outcome.retry_later:
        attempts = max(int(p["attempts"]) for p in outcome.retry_later)
        try:
            app.send_task(
                PROCESS_ARTICLES_TASK,
                args=[outcome.retry_later],
                queue=_queue(task, settings),
                countdown=min(2**attempts, 60),
            )
        except (OperationalError, RedisError) as error:
            # The batch again, as a whole: what was indexed is rewritten identically.
            _retry(task, error, _backoff(task))
    if not any(p.get("rebuild") for p in payloads):  # a rebuild's articles are not news
        _send_quietly(EVALUATE_ALERTS_TASK, [outcome.indexed], settings)
    return {
        "indexed": len(outcome.indexed),
        "superseded": len(outcome.superseded),
        "dead_lettered": len(outcome.dead_lettered),
        "retry_later": len(outcome.retry_later),
    }


# --- saved-search alerts (the logic is in worker.alerts) --------------------------------------


def _send_quietly(task: str, args: list[Any], settings: Settings) -> None:
    """Queue an alert task. Alerts come after indexing and must never undo it: if the broker
    cannot take the task, the articles stay indexed and the alert is lost (logged)."""
    if task == EVALUATE_ALERTS_TASK and not args[0]:
        return
    try:
        app.send_task(task, args=args, queue=settings.queue_name)
    except Exception:  # whatever the broker raises, the batch is indexed and stays so
        log.exception("alert task not queued", extra={"task": task})


@app.task(  # type: ignore[untyped-decorator]
    bind=True, name=EVALUATE_ALERTS_TASK, acks_late=True, max_retries=None
)
def evaluate_alerts(self: Task, article_ids: list[str]) -> dict[str, int]:
    """Match newly indexed articles against the saved searches; queue one webhook delivery
    per saved search with new matches and a webhook (a spike event instead for those with spike
    alerts, when their matches spike), and one email per saved search with new matches and
    email alerts on."""
    settings = get_settings()
    try:
        found = evaluate_batch(
            article_ids, es=get_elasticsearch(), redis_client=get_redis(), settings=settings
        )
    except Exception as error:
        if not classify(error).transient or self.request.retries >= settings.task_max_retries:
            log.error("alerts not evaluated", extra={"articles": len(article_ids)})
            raise
        _retry(self, error, min(2**self.request.retries, 60))
    spikes = _spikes(found, settings)
    webhooks = [a for a in found if a.search.webhook_url and not a.search.spike_alerts]
    emails = [a for a in found if a.search.email_alerts and not a.search.spike_alerts]
    sends = (
        [(DELIVER_WEBHOOK_TASK, a.search.id, webhook_payload(a)) for a in webhooks]
        + [(DELIVER_WEBHOOK_TASK, s.alert.search.id, spike_payload(s)) for s in spikes
           if s.alert.search.webhook_url]
        + [(DELIVER_EMAIL_TASK, a.search.id, webhook_payload(a)) for a in emails]
        + [(DELIVER_EMAIL_TASK, s.alert.search.id, spike_payload(s)) for s in spikes
           if s.alert.search.email_alerts]
    )  # fmt: skip
    for task, search_id, payload in sends:
        try:  # on the webhook queue: a slow receiver never holds a worker of the live queue
            app.send_task(
                task,
                args=[search_id, payload, new_delivery_id()],
                queue=settings.webhook_queue_name,
            )
        except Exception:  # as _send_quietly: the batch is indexed; the delivery is lost, logged
            log.exception(
                "alert delivery not queued", extra={"saved_search": search_id, "task": task}
            )
    return {
        "saved_searches_matched": len(found),
        "webhooks": len(webhooks),
        "emails": len(emails),
        "spikes": len(spikes),
    }


def _spikes(found: list[Alert], settings: Settings) -> list[Spike]:
    """The spikes among ``found`` (worker.alerts.evaluate_spikes). The matches are recorded by
    now, so a retry would find none: a failure here is logged, and that batch's spike check is
    lost, never the matches."""
    try:
        return evaluate_spikes(
            found, es=get_elasticsearch(), redis_client=get_redis(), settings=settings
        )
    except Exception:
        log.exception("spike alerts not evaluated", extra={"saved_searches": len(found)})
        return []


@app.task(  # type: ignore[untyped-decorator]
    bind=True, name=DELIVER_WEBHOOK_TASK, acks_late=True, max_retries=None
)
def deliver_webhook(
    self: Task,
    search_id: str,
    payload: dict[str, Any],
    delivery_id: str,
    attempt: int = 1,
    slot_waits: int = 0,
) -> str:
    """One delivery attempt on the webhook queue (worker.alerts.run_delivery: a total deadline,
    a slot of its destination, its circuit breaker). Failed attempts come back with backoff
    (2, 4 ... 300 s, at least the breaker's cool-down), deliveries waiting for a slot a few
    seconds later: as new messages carrying ``attempt`` and ``slot_waits``, so no worker ever
    waits. The saved search is read afresh, so a deleted one gets nothing more."""
    settings = get_settings()
    redis_client = get_redis()
    # A copy queued by _retry (the broker refused the new message) counts as an attempt.
    attempt += int(self.request.retries)
    try:
        search = saved_searches.get(redis_client, settings.index_prefix, search_id)
        if search is None or not search.webhook_url:
            return "dropped: the saved search is gone"
        outcome = run_delivery(
            search,
            payload,
            delivery_id,
            attempt=attempt,
            slot_waits=slot_waits,
            redis_client=redis_client,
            settings=settings,
        )
    except RedisError as error:
        _retry(self, error, int(backoff_s(attempt)))
    if outcome.state in ("retrying", "waiting"):
        kwargs = {"attempt": outcome.attempt, "slot_waits": outcome.slot_waits}
        _queue_again(self, DELIVER_WEBHOOK_TASK, [search_id, payload, delivery_id], kwargs,
                     outcome.countdown_s, settings)  # fmt: skip
    return outcome.state


def _queue_again(
    task: Task,
    name: str,
    args: list[Any],
    kwargs: dict[str, int],
    countdown_s: float,
    settings: Settings,
) -> None:
    """A delivery's next attempt, as a new message on the webhook queue due in
    ``countdown_s`` (no worker waits for it); a broker that refuses it retries this one."""
    try:
        app.send_task(name, args=args, kwargs=kwargs, countdown=countdown_s,
                      queue=settings.webhook_queue_name)  # fmt: skip
    except (OperationalError, RedisError) as error:
        _retry(task, error, max(1, round(countdown_s)))


@app.task(  # type: ignore[untyped-decorator]
    bind=True, name=DELIVER_EMAIL_TASK, acks_late=True, max_retries=None
)
def deliver_email(
    self: Task, search_id: str, payload: dict[str, Any], delivery_id: str, attempt: int = 1
) -> str:
    """One email attempt on the webhook queue (worker.mail.run_email_delivery: to the owner's
    address read now, within the SMTP deadline). Failed attempts come back with backoff as new
    messages carrying ``attempt``, so no worker waits. The saved search is read afresh: a deleted
    one, or one whose email alerts were turned off, gets nothing more."""
    settings = get_settings()
    redis_client = get_redis()
    attempt += int(self.request.retries)
    try:
        search = saved_searches.get(redis_client, settings.index_prefix, search_id)
        if search is None or not search.email_alerts:
            return "dropped: the saved search is gone or sends no email"
        outcome = run_email_delivery(
            search,
            payload,
            delivery_id,
            attempt=attempt,
            redis_client=redis_client,
            settings=settings,
        )
    except RedisError as error:
        _retry(self, error, int(backoff_s(attempt)))
    if outcome.state == "retrying":
        _queue_again(self, DELIVER_EMAIL_TASK, [search_id, payload, delivery_id],
                     {"attempt": outcome.attempt}, outcome.countdown_s, settings)  # fmt: skip
    return outcome.state
