"""Schedules and time zones as jobsched's ConfigMap dialect reads them: 5 fields or a descriptor, checked
field by field and normalised for croniter; IANA zone names as batch/v1 validates them. (An adopted
CronJob's schedule is read by jobsched.core.batchcron instead.)"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from jobsched.core import boundedyaml
from jobsched.core.cronlimits import show

# The descriptors batch/v1 accepts, as 5-field expressions (robfig/cron's table).
MACROS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    }
)

_FIELD_CHARS = re.compile(r"^[0-9A-Za-z*?,/-]+\Z")
_MONTH_NAMES = frozenset(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
_DAY_NAMES = frozenset(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])
_FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
# Same pattern batch/v1 validates timeZone parts with.
_ZONE_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}\Z")


class CronSpecError(ValueError):
    """A schedule or time zone that jobsched cannot run; the message is meant for the user."""


# --- schedules and zones -------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def normalize_schedule(schedule: str) -> str:
    """The 5-field expression croniter evaluates for `schedule`; raises CronSpecError if unusable.

    Accepts what batch/v1 accepts minus @every: 5 fields (numbers, month and day names, ``* , - /``
    and ``?``) or a descriptor. croniter's own extensions (L, W, #, H, a seconds or year field) are
    refused so that a ConfigMap means the same thing here as in a CronJob.
    """
    text = schedule.strip()
    if not text:
        raise CronSpecError("must not be empty")
    upper = text.upper()
    if upper.startswith(("TZ=", "CRON_TZ=")):
        raise CronSpecError("TZ and CRON_TZ are not supported in schedule; use the timeZone field")
    if text.startswith("@"):
        macro = text.lower()
        if macro == "@reboot":
            raise CronSpecError("@reboot is not supported: jobsched fires on clock time only")
        if macro.startswith("@every"):
            raise CronSpecError("@every is not supported; write the interval as a 5-field schedule")
        if macro not in MACROS:
            raise CronSpecError(f"unknown descriptor {show(text)}; use one of {', '.join(MACROS)}")
        return MACROS[macro]
    fields = text.split()
    if len(fields) == 6:
        raise CronSpecError("6 fields given: seconds are not supported, use 5 fields (minute first)")
    if len(fields) != 5:
        raise CronSpecError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    for index, part in enumerate(fields):
        _check_field(index, part)
    expr = " ".join(part.replace("?", "*") for part in fields)
    try:
        # Raises for impossible dates such as 30 February, which would otherwise never fire.
        croniter(expr, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise CronSpecError("never fires: no date matches this schedule") from None
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        raise CronSpecError(f"invalid schedule: {boundedyaml.clip(str(exc), 200)}") from None
    return expr


def _check_field(index: int, part: str) -> None:
    what = _FIELD_NAMES[index]
    if not _FIELD_CHARS.match(part):
        raise CronSpecError(f"{what} field {show(part)} has characters outside 0-9 a-z * ? , - /")
    names = _MONTH_NAMES if index == 3 else _DAY_NAMES if index == 4 else frozenset()
    for token in re.split(r"[,/-]", part):
        if token.isalpha():
            if token.lower() not in names:
                raise CronSpecError(f"{what} field {show(part)}: {show(token)} is not supported here")
        elif not token.isdigit() and token not in ("*", "?"):
            raise CronSpecError(f"{what} field {show(part)} is malformed")


@functools.lru_cache(maxsize=1024)
def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises CronSpecError for names batch/v1 would refuse or tzdata lacks."""
    if not name:
        raise CronSpecError("must be a non-empty IANA time zone name, or omitted for UTC")
    if name == "Local":
        raise CronSpecError("'Local' depends on the machine; name an IANA zone such as Europe/Berlin")
    # IANA names are a few dozen characters; a longer one only costs a failed file lookup.
    if len(name) > 255 or any(
        part in (".", "..") or part.startswith("-") or not _ZONE_PART.match(part) for part in name.split("/")
    ):
        raise CronSpecError(f"{show(name)} is not a valid IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronSpecError(f"unknown time zone {show(name)}") from None
