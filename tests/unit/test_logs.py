"""Logging: jobsched's structlog lines and the standard library's (aiohttp, asyncio, warnings) come out
in one format, each naming its logger."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from jobsched.runtime import logs


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def _lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_structlog_and_stdlib_lines_are_json_with_a_logger_name(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", log_format="json")
    structlog.get_logger("jobsched.runtime.cron.stager").info("storm staged", objects=3)
    logging.getLogger("aiohttp.client").warning("connection reset by %s", "peer")
    lines = _lines(capsys.readouterr().err)
    assert [(line["logger"], line["event"], line["level"]) for line in lines] == [
        ("jobsched.runtime.cron.stager", "storm staged", "info"),
        ("aiohttp.client", "connection reset by peer", "warning"),
    ]
    assert lines[0]["objects"] == 3
    assert all(line["timestamp"].endswith("Z") for line in lines)


def test_an_unretrieved_asyncio_task_exception_is_a_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", log_format="json")

    async def fails() -> None:
        raise RuntimeError("lost task")

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(fails())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        del task  # never awaited: asyncio logs "Task exception was never retrieved" when it is collected

    asyncio.run(main())
    gc.collect()
    lines = _lines(capsys.readouterr().err)
    assert lines, "asyncio logged nothing"
    (line,) = [line for line in lines if line["logger"] == "asyncio"]
    assert line["level"] == "error"
    assert "RuntimeError: lost task" in line["exception"]


def test_warnings_and_levels(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("warning", log_format="json")
    structlog.get_logger("jobsched.x").info("not shown")
    logging.getLogger("kubernetes_asyncio").info("not shown either")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    (line,) = _lines(capsys.readouterr().err)
    assert line["logger"] == "py.warnings"
    assert "deprecated thing" in line["event"]


def test_console_format_is_not_json_and_names_the_logger(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", log_format="console")
    structlog.get_logger("jobsched.cli").info("hello", who="operator")
    logging.getLogger("asyncio").warning("slow callback")
    err = capsys.readouterr().err
    first, second = err.splitlines()
    for part in ("hello", "jobsched.cli", "who=operator"):
        assert part in first
    for part in ("slow callback", "asyncio"):
        assert part in second
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="json, console"):
        logs.configure("info", log_format="xml")
