"""Ages as kubectl prints them: k8s.io/apimachinery's duration.HumanDuration, to the letter.

`jobsched status` prints LAST SCHEDULE and LAST SUCCESS as kubectl prints a CronJob's LAST SCHEDULE
(about 2-3 significant figures: 45s, 5m10s, 3h20m, 2d3h, 400d), so an operator reads both alike.
A time in the future (NEXT) is the same figure with "in " before it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

NONE: Final = "<none>"  # kubectl's cell for a time that is not set


def human_duration(seconds: float) -> str:
    """HumanDuration(d) for a duration of `seconds` (integer division as Go's, towards zero)."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 60 * 2:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago `moment` was, as kubectl's translateTimestampSince; "<none>" when unset."""
    return NONE if moment is None else human_duration((now - moment).total_seconds())


def until(moment: datetime | None, now: datetime) -> str:
    """How long until `moment`, as kubectl's translateTimestampUntil, after "in "; "<none>" when unset."""
    return NONE if moment is None else "in " + human_duration((moment - now).total_seconds())
