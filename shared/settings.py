"""One typed settings object, read from the environment (prefix ``NEWSROOM_``) and ``.env``.

Every knob is documented in ``.env.example``.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The shortest secret key accepted in production (characters; token_urlsafe(32) gives 43).
MIN_SECRET_KEY_CHARS = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSROOM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["local", "test", "production"] = "local"

    redis_url: str = "redis://127.0.0.1:6379/0"
    # The Celery broker; the same Redis as the status store unless told otherwise.
    broker_url: str | None = None
    redis_timeout_s: float = Field(5.0, gt=0)

    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_timeout_s: float = Field(10.0, gt=0)
    # An Elasticsearch with its security on (docker-compose): https URLs, the CA file that
    # signed its certificates, and a user (basic auth). Unset: plain http on loopback, no login.
    elasticsearch_ca_certs: str | None = None
    elasticsearch_username: str | None = None
    elasticsearch_password: SecretStr | None = None
    # Index names are "<prefix>-articles-v<N>", read and written through the alias
    # "<prefix>-articles"; tests use their own prefix so they never touch real data.
    index_prefix: str = Field("newsroom", pattern=r"^[a-z0-9][a-z0-9_-]{0,60}$")
    index_shards: int = Field(1, ge=1)
    index_replicas: int = Field(0, ge=0)

    ingest_max_body_bytes: int = Field(20 * 1024 * 1024, gt=0)
    ingest_max_articles_per_request: int = Field(5000, gt=0)
    # Articles per Celery task: one task enriches its batch and indexes it with one _bulk call.
    ingest_task_batch_size: int = Field(20, gt=0, le=500)
    ingest_api_key: SecretStr | None = None
    # Backpressure: above this many tasks waiting in the queue, POST /articles answers 429
    # with Retry-After instead of accepting more, so Redis memory stays bounded.
    ingest_max_queued_tasks: int = Field(5000, gt=0)
    ingest_retry_after_s: int = Field(10, gt=0)
    # Memory bounded in bytes (ingest/pressure.py): POST /articles also answers 429 while the
    # queue's task messages take this many bytes in Redis, and 503 while Redis uses more than
    # this fraction of its maxmemory (the rest is headroom for the workers' own writes) or the
    # dead letters hold more than their budget (a dead letter is never dropped to make room).
    ingest_max_queued_bytes: int = Field(256 * 1024 * 1024, gt=0)
    ingest_redis_memory_high_water: float = Field(0.8, gt=0, le=1)
    # What one queued article will take in Redis once indexed (its status record and its
    # near-duplicate entry: ~10 KB measured), reserved under the high-water mark.
    ingest_reserved_bytes_per_article: int = Field(10 * 1024, ge=0)
    # An article posted to the live queue whose text (body plus HTML page) is longer than
    # this goes to the bulk queue instead, one per task: it takes seconds of a worker, and
    # the live queue's worker is what keeps the stream fresh.
    ingest_heavy_article_chars: int = Field(200_000, gt=0)
    deadletters_max_bytes: int = Field(128 * 1024 * 1024, gt=0)

    queue_name: str = "live"
    # Archive loads (`newsroom ingest`, `POST /articles?queue=bulk`) and rebuilds (`newsroom
    # reindex`) go here, so live articles never wait behind them; run a worker on each queue.
    bulk_queue_name: str = "bulk"
    task_max_retries: int = Field(8, ge=0)
    # Tries of one article whose enrichment fails or whose document Elasticsearch refuses for
    # now (429, 5xx) before it goes to the dead letters; refused for good (a mapping error):
    # dead-lettered at once.
    article_max_attempts: int = Field(3, ge=1)
    # Longer than any task may run or wait (retries wait up to 60 s, webhook retries 300 s), so
    # Redis never redelivers a task still being worked on; also how long the tasks of a
    # worker killed outright wait before another worker gets them.
    broker_visibility_timeout_s: int = Field(600, gt=0)
    # Bounded work (worker/tasks.py, worker/enrich/budget.py): wall seconds one article may
    # spend in enrichment before the step running is interrupted and the article is
    # dead-lettered with that step's name; Celery's soft limit per task (the batch is split
    # into single articles, sent again) and hard limit (the process is killed, the message
    # comes back and is split); a single article whose deliveries were lost with their worker
    # (killed, out of memory, over the hard limit) this many times is dead-lettered.
    enrich_article_budget_s: float = Field(60.0, gt=0)
    task_soft_time_limit_s: int = Field(300, gt=0)
    task_time_limit_s: int = Field(360, gt=0)
    task_max_lost_deliveries: int = Field(2, ge=1)
    # Seconds before the articles of a lost delivery are tried again (alone): time for the
    # pool to replace the process that died, so a suspect never takes the last one with it.
    lost_retry_delay_s: float = Field(30.0, ge=0, le=300)
    # Seconds a new worker pool process may take to load its models and report up.
    worker_process_start_timeout_s: float = Field(180.0, gt=0)
    status_ttl_s: int = Field(30 * 24 * 3600, gt=0)
    # Seconds an article stays findable as the original of near-duplicates (about 10 KB of
    # Redis per article: at the default, a 2 GB Redis holds about 21,000 articles a day).
    near_duplicate_ttl_s: int = Field(7 * 24 * 3600, gt=0)
    # People's full names known across articles, by surname and first word, for merging short
    # forms ("Arafat" -> "Yasser Arafat", worker/enrich/names.py): a key is forgotten this long
    # after its last use; a full name must be seen in this many articles before short forms
    # merge into it; each key keeps at most this many names (the least seen are dropped).
    name_index_ttl_s: int = Field(30 * 24 * 3600, gt=0)
    name_merge_min_articles: int = Field(2, ge=1)
    name_index_max_per_key: int = Field(32, ge=2, le=1000)
    # Stories (issue 17, shared/stories_assign.py): an article joins a story last updated within
    # this many days of its seen_at; it joins when cosine + entity overlap reaches the threshold
    # and the cosine the floor; a second story it matches above the merge threshold (and merge
    # cosine) is merged. Tuned on the dev split: `python -m quality stories --split dev`.
    story_window_days: float = Field(7.0, gt=0, le=365)
    story_threshold: float = Field(0.65, ge=0, le=2)
    story_cosine_floor: float = Field(0.5, ge=-1, le=1)
    story_merge_threshold: float = Field(0.7, ge=0, le=2)
    story_merge_cosine: float = Field(0.55, ge=-1, le=1)
    # Candidate stories scored per article; stories kept per entity or keyphrase (the newest).
    story_max_candidates: int = Field(30, ge=1, le=500)
    story_index_max_per_key: int = Field(50, ge=1, le=1000)
    # Story records and article -> story keys expire this long after their last write.
    story_ttl_s: int = Field(30 * 24 * 3600, gt=0)
    # Articles of a merged-away story re-stamped with the survivor's id, at most, per merge.
    story_restamp_limit: int = Field(500, ge=0, le=10_000)
    # A worker process above this after a task is replaced by a fresh one (a safety net: one
    # process holds ~600-700 MB of models and working memory).
    worker_max_memory_mb: int = Field(1200, gt=0)

    web_page_size: int = Field(10, gt=0, le=100)
    # Search and outputs (web/search.py, web/backend.py). Elasticsearch stops collecting a
    # search's matches after search_timeout_s and answers with what it found (the answer says
    # timed_out); the web stops waiting at twice that (503). Highlighting reads at most
    # search_highlight_max_chars of a field (the rest is left unmarked; its cost grows with
    # them; Elasticsearch refuses more than its index.highlight.max_analyzed_offset,
    # 1,000,000 by default). An export
    # writes at most export_max_rows rows (a larger result set needs `limit`, or is refused).
    search_timeout_s: float = Field(5.0, gt=0, le=60)
    search_highlight_max_chars: int = Field(100_000, gt=0, le=1_000_000)
    export_max_rows: int = Field(100_000, gt=0, le=10_000_000)

    # Logs on stderr: "json" (one object per line, for log collectors), "text" (for people),
    # or "auto": json when environment is production, text otherwise (shared/logs.py).
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Where `newsroom ingest` and `newsroom feed` post articles (the ingest service), and the
    # API token they send (an ingest token: `newsroom tokens add`; ingest/auth.py).
    ingest_url: str = "http://127.0.0.1:8001"
    ingest_token: SecretStr | None = None

    # Saved searches with alerts (shared/saved_searches.py, worker/alerts.py).
    alerts_max_saved: int = Field(500, gt=0, le=10_000)
    # Each user's own quota of saved searches (the service's limit above still holds).
    saved_searches_per_user: int = Field(50, gt=0, le=10_000)
    # Matches kept per saved search (its feed and page show the newest of them).
    alerts_max_matches: int = Field(200, gt=0, le=10_000)
    # Matches recorded (and sent by webhook) per saved search per clock hour; more are dropped.
    alerts_max_matches_per_hour: int = Field(1000, gt=0)
    alerts_webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    alerts_webhook_max_retries: int = Field(10, ge=0)
    # Webhooks to loopback, private, link-local or reserved addresses would let anyone who can
    # save a search make the worker POST to internal services (Elasticsearch, ...): refused
    # unless this is set (tests and local set-ups whose receiver runs on the same machine).
    alerts_webhook_allow_private: bool = False
    # Webhooks cannot slow ingestion (worker/webhooks.py, worker/webhook_guard.py). Deliveries
    # run on a queue of their own (a worker of their own); one delivery (name lookup, connect,
    # send, the whole answer) ends after alerts_webhook_deadline_s of wall time whatever the
    # receiver does (alerts_webhook_timeout_s bounds each read or write within it); at most
    # alerts_webhook_max_per_host deliveries go to one host at once (the others wait for a slot,
    # queued again); after alerts_webhook_breaker_failures failures in a row a host is not
    # contacted for alerts_webhook_breaker_cooldown_s, then one trial delivery decides.
    webhook_queue_name: str = "webhooks"
    alerts_webhook_deadline_s: float = Field(10.0, gt=0, le=120)
    alerts_webhook_max_per_host: int = Field(2, ge=1, le=100)
    alerts_webhook_breaker_failures: int = Field(5, ge=1)
    alerts_webhook_breaker_cooldown_s: float = Field(60.0, gt=0, le=300)
    # Alerts by email (worker/mail.py): one message per batch of new matches of a saved search
    # with email alerts on, to its owner's address (`newsroom users set-email`), through this
    # SMTP server. No host: no email is sent (the web refuses to turn email alerts on). Sent
    # from the webhook queue's worker; each SMTP operation within smtp_timeout_s, the whole
    # message within smtp_deadline_s; failures retried like webhooks (2, 4 ... 300 s) up to
    # alerts_email_max_retries times. Credentials go only over STARTTLS (or to loopback).
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = "Newsroom <newsroom@localhost>"
    smtp_timeout_s: float = Field(10.0, gt=0, le=60)
    smtp_deadline_s: float = Field(30.0, gt=0, le=120)
    alerts_email_max_retries: int = Field(10, ge=0)
    # What is rising (shared/rising.py, web/rising.py, spike alerts in worker/alerts.py): counts
    # in the last rising_recent_hours against the rising_baseline_days before them, by seen_at.
    # A term rises with at least rising_min_count recent articles and a surprise (-log10 of the
    # Poisson chance) of at least rising_min_score (tuned: python -m quality rising). A saved
    # search's spike alert fires at most once per alerts_spike_cooldown_s.
    rising_recent_hours: int = Field(24, ge=1, le=168)
    rising_baseline_days: int = Field(14, ge=1, le=90)
    rising_min_count: int = Field(3, ge=1, le=10_000)
    rising_min_score: float = Field(3.0, ge=0, le=300)
    alerts_spike_cooldown_s: int = Field(21_600, ge=0, le=30 * 86_400)

    # Accounts (shared/accounts.py, docs/SECURITY.md). The key that signs session cookies and
    # CSRF tokens: required in production; elsewhere a random one per process when unset (then
    # sessions end with the process and are not shared between processes: scripts/run.sh keeps
    # one in its state directory for `make up`).
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    # Searching and reading without logging in (the reader role's pages and JSON); compose
    # turns it off.
    anonymous_reading: bool = True
    # Host names the web and ingest answer to (comma-separated; ".example.org" also allows its
    # subdomains); a request naming another Host is refused. Empty: any (local runs only).
    trusted_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Failed logins of one user name (or from one address) before logins are refused for
    # login_lockout_s seconds.
    login_max_failures: int = Field(5, ge=1)
    login_lockout_s: int = Field(15 * 60, gt=0)
    # Password checks (argon2id: 64 MiB and ~0.1-0.25 s each) one web process runs at once;
    # further logins wait up to a few seconds for a turn, then get 503 with Retry-After. Bounds
    # the memory a flood of logins takes, whatever the lockout lets through.
    login_checks_per_process: int = Field(1, ge=1, le=16)
    # Mark the web's session cookie Secure on every answer (a site served only over TLS); when
    # off it is marked so when the request came over TLS (behind a proxy: gunicorn's
    # FORWARDED_ALLOW_IPS names the proxy, whose X-Forwarded-Proto then counts).
    session_cookie_secure: bool = False
    # Reverse proxies in front of the web and ingest whose X-Forwarded-For is believed: the
    # client's address (rate limits, login lockout, the audit log) is then the one that many
    # hops back in that header (Werkzeug's ProxyFix). 0: no proxy; the header is ignored (any
    # client could send one to get a fresh rate-limit count).
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    # Rate limits (web/limits.py, docs/SECURITY.md): each counted per user (the account logged
    # in or owning the API token) and per client address, in Redis, in the notation of the
    # `limits` library ("120/minute", "10/minute;100/hour"). Search: the search page, /api/search
    # and the search feeds; export: /api/export; suggest: /api/suggest; saved: creating a saved
    # search (POST /saved and POST /api/saved-searches). Over a limit: 429 with Retry-After.
    rate_limits_enabled: bool = True
    rate_limit_search: str = "120/minute"
    rate_limit_export: str = "10/minute"
    rate_limit_suggest: str = "600/minute"
    rate_limit_saved: str = "30/hour"
    # The audit log (shared/audit.py): the newest this many events are kept in Redis (a capped
    # stream, at most a few KB each; the oldest are dropped first).
    audit_max_events: int = Field(200_000, ge=100)

    @field_validator(
        "rate_limit_search", "rate_limit_export", "rate_limit_suggest", "rate_limit_saved"
    )
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        from limits import parse_many  # the web's rate limiter reads the same notation

        try:
            items = parse_many(value)
        except ValueError as error:
            raise ValueError(f"not a rate limit such as '120/minute': {value!r}") from error
        if any(item.amount < 1 for item in items):  # 0/minute would refuse every request
            raise ValueError(f"a rate limit allows at least 1 request: {value!r}")
        return value

    @field_validator("trusted_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [str(host).strip().lower() for host in value if str(host).strip()]
        return value

    @field_validator("smtp_host", "smtp_user", "smtp_password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # Compose passes "" for what .env leaves out: no SMTP server, no login.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("smtp_from")
    @classmethod
    def _one_sender_address(cls, value: str) -> str:
        from email.utils import parseaddr

        _, address = parseaddr(value)
        if any(ch in value for ch in "\r\n") or "@" not in address:
            raise ValueError(
                f"not a sender address such as 'Newsroom <alerts@example.org>': {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _smtp_credentials_encrypted(self) -> Settings:
        if self.smtp_password is not None and self.smtp_user is None:
            raise ValueError("NEWSROOM_SMTP_PASSWORD needs NEWSROOM_SMTP_USER")
        loopback = (self.smtp_host or "") in ("localhost", "127.0.0.1", "::1")
        if self.smtp_user is not None and not self.smtp_starttls and not loopback:
            # The password would cross the network in the clear.
            raise ValueError(
                "NEWSROOM_SMTP_USER needs NEWSROOM_SMTP_STARTTLS=true (unless the SMTP server "
                "is on loopback)"
            )
        return self

    @field_validator(
        "elasticsearch_ca_certs", "elasticsearch_username", "elasticsearch_password", mode="before"
    )
    @classmethod
    def _blank_elasticsearch_option_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _elasticsearch_login_is_whole(self) -> Settings:
        if (self.elasticsearch_username is None) != (self.elasticsearch_password is None):
            raise ValueError(
                "NEWSROOM_ELASTICSEARCH_USERNAME and NEWSROOM_ELASTICSEARCH_PASSWORD go together"
            )
        return self

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def articles_alias(self) -> str:
        """What searches read. Workers write through ``articles_write_alias``."""
        return f"{self.index_prefix}-articles"

    @property
    def articles_write_alias(self) -> str:
        return f"{self.index_prefix}-articles-write"

    @property
    def articles_next_alias(self) -> str:
        """The index being rebuilt by `newsroom reindex`, while it runs (shared/index/)."""
        return f"{self.index_prefix}-articles-next"

    @model_validator(mode="after")
    def _time_limits_fit(self) -> Settings:
        if not self.task_soft_time_limit_s < self.task_time_limit_s:
            raise ValueError(
                "NEWSROOM_TASK_SOFT_TIME_LIMIT_S must be below NEWSROOM_TASK_TIME_LIMIT_S"
            )
        if not self.task_time_limit_s < self.broker_visibility_timeout_s:
            # Else Redis hands a task still running to a second worker.
            raise ValueError(
                "NEWSROOM_TASK_TIME_LIMIT_S must be below NEWSROOM_BROKER_VISIBILITY_TIMEOUT_S"
            )
        if not self.lost_retry_delay_s < self.broker_visibility_timeout_s:
            # A task waiting for its countdown is held unacknowledged by a worker.
            raise ValueError(
                "NEWSROOM_LOST_RETRY_DELAY_S must be below NEWSROOM_BROKER_VISIBILITY_TIMEOUT_S"
            )
        return self

    @field_validator("ingest_api_key", mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: Any) -> Any:
        # Compose passes NEWSROOM_INGEST_API_KEY="" when .env leaves it out: that is no key
        # (an empty key would match an empty X-API-Key).
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        # Not NEWSROOM_INGEST_API_KEY (deprecated): production's ingest requires credentials
        # anyway, an API token when no key is set (ingest/auth.py).
        if self.environment == "production":
            # The per-process random default would sign each process's sessions differently
            # and forget them on restart: production names its key.
            if "secret_key" not in self.model_fields_set:
                raise ValueError(
                    "NEWSROOM_SECRET_KEY must be set when NEWSROOM_ENVIRONMENT=production"
                )
            if len(self.secret_key.get_secret_value()) < MIN_SECRET_KEY_CHARS:
                raise ValueError(
                    f"NEWSROOM_SECRET_KEY must have at least {MIN_SECRET_KEY_CHARS} characters"
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
