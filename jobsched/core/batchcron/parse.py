"""robfig/cron v3.0.1's standard parser (`cron.ParseStandard`), and kube-apiserver's check around it.

batch/v1 validates `spec.schedule` with exactly this parser (pkg/apis/batch/validation,
validateScheduleFormat), so an adopted CronJob's schedule has to be read the same way, quirks included:

* exactly 5 fields split on Go white space; ``*`` and ``?`` alike in every field; day of week 0-6;
* month and day names in any case, numbers through `strconv.Atoi` (``+5`` and ``05`` are fine);
* empty list items vanish (``1,,2``); ``N/step`` means ``N-max/step``; anything after ``*-`` is ignored;
* a field that starts with ``*`` or ``?`` keeps the "star bit" unless its step is above 1, and the star
  bit in day of month or day of week makes the two combine with AND instead of OR (`0 0 */1 * mon` is
  Mondays only);
* descriptors are case-sensitive; ``@every <Go duration>`` is a fixed delay of at least one second.

kube-apiserver also refuses an empty schedule and (for a new object) any schedule containing ``TZ``.
The error messages are robfig's and kube's own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from jobsched.core.batchcron.gotext import GoError, atoi, fields, go_list, parse_duration, to_lower
from jobsched.core.batchcron.spec import STAR_BIT, BatchSchedule
from jobsched.core.cronschedule import CronSpecError

_NANOS_PER_SECOND: Final = 1_000_000_000
TZ_MESSAGE: Final = "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"


@dataclass(frozen=True, slots=True)
class _Bounds:
    low: int
    high: int
    names: Mapping[str, int] | None = None


_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MINUTES: Final = _Bounds(0, 59)
HOURS: Final = _Bounds(0, 23)
DOM: Final = _Bounds(1, 31)
MONTHS: Final = _Bounds(1, 12, MappingProxyType({name: i + 1 for i, name in enumerate(_MONTH_NAMES)}))
DOW: Final = _Bounds(0, 6, MappingProxyType({name: i for i, name in enumerate(_DAY_NAMES)}))


def bits(low: int, high: int, step: int = 1) -> int:
    """getBits: the bits low..high, every `step`th."""
    out = 0
    for value in range(low, high + 1, step):
        out |= 1 << value
    return out


def _all(bounds: _Bounds) -> int:
    return bits(bounds.low, bounds.high) | STAR_BIT


def _spec(
    *, minute: int = 1, hour: int = 1, dom: int = 1 << 1, month: int = 1 << 1, dow: int
) -> BatchSchedule:
    return BatchSchedule(second=1, minute=minute, hour=hour, dom=dom, month=month, dow=dow)


_DESCRIPTORS: Final[Mapping[str, BatchSchedule]] = MappingProxyType(
    {
        "@yearly": _spec(dow=_all(DOW)),
        "@annually": _spec(dow=_all(DOW)),
        "@monthly": _spec(month=_all(MONTHS), dow=_all(DOW)),
        "@weekly": _spec(dom=_all(DOM), month=_all(MONTHS), dow=1 << 0),
        "@daily": _spec(dom=_all(DOM), month=_all(MONTHS), dow=_all(DOW)),
        "@midnight": _spec(dom=_all(DOM), month=_all(MONTHS), dow=_all(DOW)),
        "@hourly": _spec(hour=_all(HOURS), dom=_all(DOM), month=_all(MONTHS), dow=_all(DOW)),
    }
)
_EVERY: Final = "@every "


def parse_standard(spec: str) -> BatchSchedule:
    """cron.ParseStandard(spec) for a spec without a TZ= prefix; raises GoError with robfig's message."""
    if not spec:
        raise GoError("empty spec string")
    if spec.startswith("@"):
        return _descriptor(spec)
    parts = fields(spec)
    if len(parts) != 5:
        raise GoError(f"expected exactly 5 fields, found {len(parts)}: {go_list(parts)}")
    minute, hour, dom, month, dow = (
        _field(part, bounds) for part, bounds in zip(parts, (MINUTES, HOURS, DOM, MONTHS, DOW), strict=True)
    )
    return BatchSchedule(second=1, minute=minute, hour=hour, dom=dom, month=month, dow=dow)


def _descriptor(spec: str) -> BatchSchedule:
    known = _DESCRIPTORS.get(spec)
    if known is not None:
        return known
    if spec.startswith(_EVERY):
        try:
            nanos = parse_duration(spec[len(_EVERY) :])
        except GoError as exc:
            raise GoError(f"failed to parse duration {spec}: {exc}") from None
        # cron.Every: at least a second, and whole seconds only.
        return BatchSchedule(delay=max(nanos, _NANOS_PER_SECOND) // _NANOS_PER_SECOND)
    raise GoError(f"unrecognized descriptor: {spec}")


def _field(text: str, bounds: _Bounds) -> int:
    """getField: the union of the comma-separated ranges (empty items are dropped)."""
    out = 0
    for expr in text.split(","):
        if expr:
            out |= _range(expr, bounds)
    return out


def _range(expr: str, bounds: _Bounds) -> int:
    """getRange: ``*``, ``?``, ``N``, ``N-M``, each with an optional ``/step``."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    extra = 0
    if low_and_high[0] in ("*", "?"):
        start, end, extra = bounds.low, bounds.high, STAR_BIT
    else:
        start = _int_or_name(low_and_high[0], bounds.names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], bounds.names)
        else:
            raise GoError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _non_negative(range_and_step[1])
        if len(low_and_high) == 1:
            end = bounds.high  # "N/step" means "N-max/step"
        if step > 1:
            extra = 0
    else:
        raise GoError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise GoError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise GoError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise GoError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise GoError(f"step of range should be a positive number: {expr}")
    return bits(start, end, step) | extra


def _int_or_name(expr: str, names: Mapping[str, int] | None) -> int:
    if names is not None:
        named = names.get(to_lower(expr))
        if named is not None:
            return named
    return _non_negative(expr)


def _non_negative(expr: str) -> int:
    """mustParseInt."""
    try:
        number = atoi(expr)
    except GoError as exc:
        raise GoError(f"failed to parse int from {expr}: {exc}") from None
    if number < 0:
        raise GoError(f"negative number ({number}) not allowed: {expr}")
    return number


@functools.lru_cache(maxsize=4096)
def parse_batch_schedule(text: str) -> BatchSchedule:
    """The schedule of a batch/v1 CronJob; raises CronSpecError with kube-apiserver's reasons.

    Accepts exactly what kube-apiserver v1.36 accepts for a new CronJob. Some accepted schedules
    never fire (``0 0 30 2 *``): the API takes them and the CronJob controller reports
    InvalidSchedule; here `BatchSchedule.next_after` raises `UnfireableSchedule` for them.
    """
    if not text:
        raise CronSpecError("must not be empty")
    if "TZ" in text:
        # kube refuses these whatever the parser says (it may even panic on "TZ=x" without a space).
        raise CronSpecError(TZ_MESSAGE)
    try:
        schedule = parse_standard(text)
    except GoError as exc:
        raise CronSpecError(str(exc)) from None
    return schedule
