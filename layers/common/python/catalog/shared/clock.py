"""Timestamps as the items and events carry them: ISO 8601, UTC, microseconds, `Z`."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


def now_iso() -> str:
    return iso(datetime.now(timezone.utc))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def iso_in(seconds: float) -> str:
    """The timestamp `seconds` from now (negative: in the past)."""
    return iso(datetime.now(timezone.utc) + timedelta(seconds=seconds))


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def stamp_id(prefix: str, suffix: str) -> str:
    """`<prefix>_<UTC yyyymmddThhmmss>_<suffix>`: ids that sort by creation time."""
    return f"{prefix}_{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}_{suffix}"
