"""The ConfigMap source's handling of parse time-outs: the entries of a ConfigMap whose parse ran out of
time are reported, and the parse is tried again later, so an overload heals without anyone editing it.
No I/O: the source parses in a thread here (as where worker processes cannot start), with a parse that
is slow the first time."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
import yaml

from jobsched.runtime.cron import configmaps
from jobsched.runtime.cron.configmaps import ConfigMapSource
from jobsched.settings import CronSettings, Settings

CONFIGMAP = {
    "metadata": {
        "name": "crons",
        "namespace": "ns",
        "uid": "u1",
        "resourceVersion": "7",
        "labels": {"jobsched.io/cron": "true"},
    },
    "data": {
        "crons.yaml": yaml.safe_dump(
            {
                "entries": [
                    {
                        "name": "a",
                        "schedule": "@hourly",
                        "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
                    }
                ]
            }
        )
    },
}


async def test_a_parse_that_runs_out_of_time_is_reported_and_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[float] = []
    real = configmaps.parse_raw

    def slow_the_first_time(raw: bytes, scheduler_name: str) -> Any:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(0.5)  # longer than the 0.2 s budget below
        return real(raw, scheduler_name)

    monkeypatch.setattr(configmaps, "parse_raw", slow_the_first_time)
    monkeypatch.setattr(configmaps, "RETRY_FIRST_S", 0.3)
    settings = Settings(cron=CronSettings(parse_timeout_s=0.2))
    changes: list[None] = []
    source = ConfigMapSource(None, settings, lambda: changes.append(None))  # type: ignore[arg-type]
    source._isolated = False  # parse in a thread, where the slow function above runs
    source.replace([CONFIGMAP])
    async with anyio.create_task_group() as tg:
        tg.start_soon(source.run)
        with anyio.fail_after(10):
            await source.synced.wait()
            [first] = list(source.documents())
            assert first.entries == ()
            [problem] = first.problems
            assert (problem.configmap, problem.field) == ("ns/crons", "data")
            assert "could not be parsed within 0.2 s" in problem.message
            while not next(iter(source.documents())).entries:  # noqa: ASYNC110 - polled, as the engine reads it
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    [second] = list(source.documents())
    assert [e.name for e in second.entries] == ["a"]
    assert second.problems == ()
    assert len(calls) >= 2
    assert calls[1] - calls[0] >= 0.3  # after the backoff, not at once
