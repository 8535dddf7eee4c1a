"""The one place that reads the environment. Every setting has the `DAM_` prefix."""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Signs sessions and links in development only; check_production() refuses it elsewhere.
DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105


def project_dir() -> Path | None:
    """The source checkout this package runs from (scripts/setup's editable install, or
    PYTHONPATH), recognised by its pyproject.toml and taxonomy/; None for a plain install."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "taxonomy").is_dir():
        return root
    return None


def _default_dir(name: str) -> Path:
    # In a checkout, its own directory, whatever the working directory: `dam` then finds what
    # `./scripts/serve` (run from the checkout) uses. Elsewhere, the working directory's.
    root = project_dir()
    return root / name if root is not None else Path(name)


class SettingsInvalid(ValueError):
    """A combination of settings the service refuses (each value was valid on its own)."""


# dam.media.MediaKind's values (config sits below media, so it cannot import them).
MEDIA_KINDS = frozenset({"image", "vector", "document", "video", "audio"})


class StorageKind(StrEnum):
    fs = "fs"
    s3 = "s3"


class SearchKind(StrEnum):
    whoosh = "whoosh"
    postgres = "postgres"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAM_", extra="ignore")

    # Defaults: see _default_dir; `"data_dir" in model_fields_set` tells whether one was given.
    data_dir: Path = Field(default_factory=lambda: _default_dir("storage"))
    database_url: str | None = None
    storage: StorageKind = StorageKind.fs
    s3_endpoint_url: str | None = None
    s3_bucket: str = "dam-assets"
    s3_region: str = "us-east-1"
    # Presigned URLs need the address clients can reach (may differ from the internal endpoint).
    s3_public_endpoint_url: str | None = None
    s3_presign_downloads: bool = False
    s3_multipart_chunk_mib: int = Field(default=16, ge=5, le=512)
    search: SearchKind = SearchKind.whoosh
    # PostgreSQL search: a text match (or date/tag filter) reads at most this many matching
    # rows; above it totals and facet counts cover the rows read (`total_relation: "gte"`) and
    # a relevance page is the best of them. 0 (default): every match is read, all exact.
    search_match_cap: int = Field(default=0, ge=0)
    # PostgreSQL search: documents a process indexes between its vacuums of the posting tables
    # (each write leaves a dead 4 KB row per key; autovacuum comes once a minute at best). 0: off.
    search_vacuum_every: int = Field(default=50, ge=0)
    taxonomy_dir: Path = Field(default_factory=lambda: _default_dir("taxonomy"))
    bootstrap_admin_key: str | None = None
    secret_key: str = DEV_SECRET
    env: str = "dev"
    # Addresses or networks (comma-separated) of the reverse proxies whose X-Forwarded-Proto
    # and X-Forwarded-For are believed; nobody's by default.
    trusted_proxies: str = ""

    max_upload_mib: int = Field(default=2048, ge=1)
    # Per media kind (image, vector, document, video, audio), a limit that replaces
    # max_upload_mib for files of that kind once they are sniffed; resumable uploads
    # (/api/v1/uploads) may announce up to the largest of them. JSON, e.g. '{"video": 8192}'.
    max_upload_mib_by_kind: dict[str, int] = Field(default_factory=lambda: {"video": 4096})
    # A resumable upload nobody has written to for this long expires; its bytes are removed
    # (by the worker's sweep, or `dam storage check --repair`).
    upload_expire_hours: float = Field(default=24, gt=0)
    # Pillow refuses images above this many pixels (decompression bombs).
    max_image_pixels: int = Field(default=200_000_000, ge=1)
    # Raster decodes (inspection, renditions) running at once in this process; the others wait.
    # Each costs up to ~100 MiB for a 200 MP PNG or TIFF, and far more for the few files that
    # cannot be streamed (interlaced PNG, progressive JPEG, GIF, AVIF).
    max_concurrent_decodes: int = Field(default=2, ge=1)
    metadata_max_bytes: int = 64 * 1024
    # Every other request body (JSON, forms) is capped while it streams; metric reports may be
    # whole platform exports (a 100k-row CSV is about 10 MiB; 128 MiB leaves room for wide ones).
    max_body_kib: int = Field(default=1024, ge=1)
    max_metrics_mib: int = Field(default=128, ge=64)

    # Renditions are drawn in a child process with these limits (see dam.media.sandbox).
    rendition_timeout_seconds: float = Field(default=120.0, gt=0)
    rendition_memory_mib: int = Field(default=768, ge=64)
    rendition_threads: int = Field(default=2, ge=1, le=16)
    pdf_page_thumbnails: int = Field(default=8, ge=1, le=100)  # thumbnails of the first N pages
    video_poster_seconds: float = Field(default=1.0, ge=0)  # poster frame offset

    run_worker: bool = True  # in-process worker thread with `dam serve`
    # A temp file (upload being received, half-written blob) not written to for this long was
    # left by a process that died; `dam serve` and `dam worker` remove such files at start.
    stale_temp_minutes: int = Field(default=60, ge=1)
    worker_poll_seconds: float = 1.0
    # Wake the worker when a job is committed (in-process signal; LISTEN/NOTIFY on PostgreSQL)
    # instead of only polling. Off where LISTEN cannot work, e.g. behind a transaction pooler.
    worker_wake: bool = True
    job_max_attempts: int = 8
    # A claimed job's lease, renewed by the worker's heartbeat while it is alive: a crashed
    # worker's jobs are taken up again within a lease, a long job is never run twice.
    job_lease_seconds: float = Field(default=30, gt=0)
    job_heartbeat_seconds: float = Field(default=10, gt=0)
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 6
    # Off: webhooks reach public addresses only (see dam.webhooks.egress).
    webhook_allow_private_networks: bool = False
    rights_warning_days: int = 7
    download_link_ttl_seconds: int = 3600
    # One delivery per link and client address within this window (ranged and repeated
    # fetches of one download are one delivery).
    delivery_window_seconds: int = Field(default=900, ge=0)
    campaign_auto_create: bool = False

    @field_validator("max_upload_mib_by_kind")
    @classmethod
    def _kinds(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - MEDIA_KINDS)
        if unknown:
            raise ValueError(
                f"unknown media kinds {', '.join(unknown)}; use {', '.join(sorted(MEDIA_KINDS))}"
            )
        if any(mib < 1 for mib in value.values()):
            raise ValueError("every limit must be at least 1 MiB")
        return value

    # Review SLAs count working hours in the team's timezone (an IANA name): the hours of a
    # working day ("09:00-17:00"), the working weekdays (mon … sun) and the holidays
    # (comma-separated ISO dates), on which no SLA time passes.
    team_timezone: str = "UTC"
    working_hours: str = "09:00-17:00"
    working_days: str = "mon,tue,wed,thu,fri"
    holidays: str = ""
    # Approvers are warned this many working hours before a stage's due time (0: no warning).
    sla_warning_hours: float = Field(default=2.0, ge=0, le=2000)
    # Email for notifications: off unless DAM_SMTP_HOST is set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "dam@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    # Links in emails point here (the address people open the web UI at).
    public_url: str = "http://127.0.0.1:8000"

    @field_validator("team_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours_span(cls, value: str) -> str:
        working_span(value)
        return value

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: str) -> str:
        working_weekdays(value)
        return value

    @field_validator("holidays")
    @classmethod
    def _holiday_dates(cls, value: str) -> str:
        holiday_dates(value)
        return value

    @property
    def default_database_path(self) -> Path:
        """The embedded SQLite database, used unless DAM_DATABASE_URL is set."""
        return (self.data_dir / "dam.sqlite3").resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.default_database_path}"

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith(("postgresql", "postgres"))

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mib * 1024 * 1024

    def max_upload_bytes_for(self, kind: str) -> int:
        """The size limit of a file of this media kind."""
        return self.max_upload_mib_by_kind.get(kind, self.max_upload_mib) * 1024 * 1024

    @property
    def max_resumable_bytes(self) -> int:
        """The largest file any kind admits: what a resumable upload may announce."""
        return max([self.max_upload_mib, *self.max_upload_mib_by_kind.values()]) * 1024 * 1024

    @property
    def max_body_bytes(self) -> int:
        return self.max_body_kib * 1024

    @property
    def max_metrics_body_bytes(self) -> int:
        return self.max_metrics_mib * 1024 * 1024

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    def check_production(self) -> None:
        if self.env != "dev" and self.secret_key == DEV_SECRET:
            raise SettingsInvalid("DAM_SECRET_KEY must be set outside DAM_ENV=dev")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def working_span(value: str) -> tuple[time, time]:
    """`HH:MM-HH:MM` → (start, end), start before end."""
    try:
        start_text, end_text = value.split("-")
        start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    except ValueError as exc:
        raise ValueError(f"working hours {value!r}: write them as HH:MM-HH:MM") from exc
    if start >= end:
        raise ValueError(f"working hours {value!r}: the day must end after it starts")
    return start, end


def working_weekdays(value: str) -> frozenset[int]:
    """`mon,tue,…` → weekday numbers (Monday 0)."""
    days = [d.strip().lower() for d in value.split(",") if d.strip()]
    unknown = [d for d in days if d not in WEEKDAYS]
    if unknown or not days:
        raise ValueError(
            f"working days {value!r}: list at least one of {', '.join(WEEKDAYS)}, comma-separated"
        )
    return frozenset(WEEKDAYS.index(d) for d in days)


def holiday_dates(value: str) -> frozenset[date]:
    out = set()
    for item in value.split(","):
        if item.strip():
            try:
                out.add(date.fromisoformat(item.strip()))
            except ValueError as exc:
                raise ValueError(
                    f"holiday {item.strip()!r} is not an ISO date (YYYY-MM-DD)"
                ) from exc
    return frozenset(out)


@lru_cache
def get_settings() -> Settings:
    return Settings()
