"""Go's time arithmetic in one location, as robfig/cron's Next uses it, over whole Unix seconds.

robfig walks wall-clock fields with `time.Date`, `AddDate`, `Add` and `Truncate`, and its DST behaviour
(a repeated hour fires twice, a skipped one not at all, a missing midnight is nudged) is whatever those
functions do at a transition. Python's datetime arithmetic differs there, so this module reproduces
Go's rules instead:

* `Date` normalises overflowing fields linearly (31 February is 3 March) and, for a wall time in a
  gap or an overlap, takes the offset in force at ``wall - offset(wall)`` (both read as UTC instants).
  In New York the missing 02:30 becomes 01:30 EST; in Berlin the repeated 02:30 is the later (CET) one.
* `Add` and `Truncate` work on the instant, not on the wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_SECOND: Final = timedelta(seconds=1)
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def offset(unix: int, zone: ZoneInfo) -> int:
    """The zone's UTC offset in seconds at the instant `unix` (Location.lookup)."""
    delta = datetime.fromtimestamp(unix, zone).utcoffset()
    assert delta is not None  # a ZoneInfo always answers for an aware datetime
    return delta // _SECOND


def local(unix: int, zone: ZoneInfo) -> datetime:
    """The wall-clock fields of `unix` in `zone` (Go's Year(), Month(), ... read these)."""
    return datetime.fromtimestamp(unix, zone)


def weekday(wall: datetime) -> int:
    """Go's Weekday(): Sunday is 0."""
    return (wall.weekday() + 1) % 7


def date_unix(year: int, month: int, day: int, hour: int, minute: int, second: int, zone: ZoneInfo) -> int:
    """time.Date(year, month, day, hour, minute, second, 0, zone) as Unix seconds."""
    carry, month_index = divmod(month - 1, 12)
    days = date(year + carry, month_index + 1, 1).toordinal() - _EPOCH_ORDINAL + day - 1
    wall = days * 86400 + hour * 3600 + minute * 60 + second
    return wall - offset(wall - offset(wall, zone), zone)


def add_date(unix: int, zone: ZoneInfo, months: int, days: int) -> int:
    """t.AddDate(0, months, days): the same wall clock `months` and `days` later, then time.Date."""
    wall = local(unix, zone)
    return date_unix(
        wall.year, wall.month + months, wall.day + days, wall.hour, wall.minute, wall.second, zone
    )


def unix_seconds(moment: datetime) -> tuple[int, int]:
    """(whole Unix seconds, microseconds) of an aware datetime, flooring as Go's Unix() does."""
    whole, rest = divmod(moment - EPOCH, _SECOND)
    return whole, rest // timedelta(microseconds=1)


def from_unix(unix: int) -> datetime:
    """The aware UTC datetime of whole Unix seconds."""
    return EPOCH + timedelta(seconds=unix)
