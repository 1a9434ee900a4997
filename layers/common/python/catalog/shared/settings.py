"""Every setting of the application, read from the environment once per container.

The template (or the local cloud, from the same template) sets the variables; names of
resources are passed by `!Ref`/`!GetAtt`, never derived from one another. Tests that change the
environment call `get_settings.cache_clear()`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

DEFAULT_RETRY_SCHEDULE = (60, 300, 1800, 7200, 43200)


@dataclass(frozen=True)
class WebhookSettings:
    table: str = "webhooks"
    deliveries_queue_url: str = ""
    slow_queue_url: str = ""
    dead_letter_queue_url: str = ""
    retry_schedule: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE   # delay before attempt 2, 3, ...
    allow_private_targets: bool = False  # loopback/private targets (local development only)
    timeout_seconds: float = 10.0        # per attempt
    slow_cooldown_seconds: int = 300     # how long an endpoint that timed out stays in the slow lane
    disable_after_seconds: int = 5 * 86400   # an endpoint failing continuously this long is disabled
    log_ttl_seconds: int = 30 * 86400    # how long delivery records are kept
    max_response_bytes: int = 4096
    secrets_key_arn: str = ""            # the KMS key that encrypts endpoints' signing secrets

    @property
    def max_attempts(self) -> int:
        return len(self.retry_schedule) + 1


@dataclass(frozen=True)
class Settings:
    catalog_store: str = "dynamodb"          # where products live: "dynamodb" or "aurora" (PostgreSQL)
    products_table: str = "products"
    catalog_db_cluster_arn: str = ""
    catalog_db_secret_arn: str = ""
    catalog_db_name: str = "catalog"
    imports_table: str = "imports"
    uploads_bucket: str = "uploads"
    events_queue_url: str = ""
    import_state_machine_arn: str = ""
    delete_all_state_machine_arn: str = ""
    max_upload_bytes: int = 1024 * 1024 * 1024
    chunk_rows: int = 10_000
    chunk_concurrency: int = 40
    upload_url_seconds: int = 900
    page_size: int = 50
    name_search_scan_segments: int = 4
    delete_all_segments: int = 8
    export_state_machine_arn: str = ""
    export_part_bytes: int = 8 * 1024 * 1024        # S3 multipart parts (S3 wants 5 MiB at least, but the last)
    export_invocation_seconds: int = 600           # an export worker hands over to a new invocation after this
    # The Secrets Manager secret whose value signs page cursors (catalog/shared/cursors.py): one key
    # for every container, so a cursor from one is accepted by all.
    cursor_secret_arn: str = ""
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)


def parse_schedule(text: str) -> tuple[int, ...]:
    values = tuple(int(float(v)) for v in text.replace(" ", "").split(",") if v)
    if any(v < 0 for v in values):
        raise ValueError("retry delays must not be negative")
    return values


class _Reader:
    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def text(self, name: str, default: str = "") -> str:
        value = self.env.get(name, "").strip()
        return value or default

    def number(self, name: str, default: float) -> float:
        value = self.text(name)
        return float(value) if value else default

    def integer(self, name: str, default: int) -> int:
        return int(self.number(name, default))

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name).lower()
        return value in ("1", "true", "yes", "on") if value else default


def settings_from(env: Mapping[str, str]) -> Settings:
    read = _Reader(env)
    deliveries = read.text("WEBHOOK_DELIVERIES_QUEUE_URL")
    schedule = read.text("WEBHOOK_RETRY_SCHEDULE")
    defaults = WebhookSettings()
    webhooks = WebhookSettings(
        table=read.text("WEBHOOKS_TABLE", defaults.table),
        deliveries_queue_url=deliveries,
        slow_queue_url=read.text("WEBHOOK_SLOW_QUEUE_URL", deliveries),
        dead_letter_queue_url=read.text("WEBHOOK_DEAD_LETTER_QUEUE_URL"),
        retry_schedule=parse_schedule(schedule) if schedule else DEFAULT_RETRY_SCHEDULE,
        allow_private_targets=read.flag("WEBHOOK_ALLOW_PRIVATE_TARGETS", False),
        timeout_seconds=read.number("WEBHOOK_TIMEOUT_SECONDS", defaults.timeout_seconds),
        slow_cooldown_seconds=read.integer("WEBHOOK_SLOW_COOLDOWN_SECONDS", defaults.slow_cooldown_seconds),
        disable_after_seconds=read.integer("WEBHOOK_DISABLE_AFTER_SECONDS", defaults.disable_after_seconds),
        log_ttl_seconds=read.integer("WEBHOOK_LOG_TTL_SECONDS", defaults.log_ttl_seconds),
        secrets_key_arn=read.text("WEBHOOK_SECRETS_KEY_ARN"),
    )
    base = Settings()
    return Settings(
        catalog_store=read.text("CATALOG_STORE", base.catalog_store).lower(),
        products_table=read.text("PRODUCTS_TABLE", base.products_table),
        catalog_db_cluster_arn=read.text("CATALOG_DB_CLUSTER_ARN"),
        catalog_db_secret_arn=read.text("CATALOG_DB_SECRET_ARN"),
        catalog_db_name=read.text("CATALOG_DB_NAME", base.catalog_db_name),
        imports_table=read.text("IMPORTS_TABLE", base.imports_table),
        uploads_bucket=read.text("UPLOADS_BUCKET", base.uploads_bucket),
        events_queue_url=read.text("EVENTS_QUEUE_URL"),
        import_state_machine_arn=read.text("IMPORT_STATE_MACHINE_ARN"),
        delete_all_state_machine_arn=read.text("DELETE_ALL_STATE_MACHINE_ARN"),
        max_upload_bytes=read.integer("MAX_UPLOAD_BYTES", base.max_upload_bytes),
        chunk_rows=read.integer("CHUNK_ROWS", base.chunk_rows),
        chunk_concurrency=read.integer("CHUNK_CONCURRENCY", base.chunk_concurrency),
        upload_url_seconds=read.integer("UPLOAD_URL_SECONDS", base.upload_url_seconds),
        page_size=read.integer("PAGE_SIZE", base.page_size),
        name_search_scan_segments=read.integer("NAME_SEARCH_SCAN_SEGMENTS", base.name_search_scan_segments),
        delete_all_segments=max(1, min(read.integer("DELETE_ALL_SEGMENTS", base.delete_all_segments), 1000)),
        cursor_secret_arn=read.text("CURSOR_SECRET_ARN"),
        export_state_machine_arn=read.text("EXPORT_STATE_MACHINE_ARN"),
        export_part_bytes=max(read.integer("EXPORT_PART_BYTES", base.export_part_bytes), 5 * 1024 * 1024),
        export_invocation_seconds=max(read.integer("EXPORT_INVOCATION_SECONDS", base.export_invocation_seconds), 0),
        webhooks=webhooks)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from(os.environ)
