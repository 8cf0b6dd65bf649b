"""Logging set-up: one format for every line the process writes, jobsched's own and its libraries'.

jobsched logs through structlog; aiohttp, asyncio, kubernetes-asyncio and anything else log through the
standard library. Both end in the same renderer on stderr (JSON lines by default when stderr is not a
terminal, readable lines on one), so a log pipeline never meets a line it cannot parse. Every line
carries `logger`: the module that wrote it ("jobsched.runtime.cron.stager", "asyncio").

structlog's own loggers stay on the fast path (a print per line, no stdlib `LogRecord`); the standard
library's records go through structlog's `ProcessorFormatter` with the same processors.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Final, TextIO

import structlog

FORMATS: Final = ("json", "console")
_HANDLER_NAME: Final = "jobsched"


class _NamedPrintLogger(structlog.PrintLogger):
    """A PrintLogger that knows the name it was asked for, for `add_logger_name`."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _NamedPrintLoggerFactory:
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedPrintLogger:
        name = args[0] if args and isinstance(args[0], str) else "jobsched"
        return _NamedPrintLogger(self._file, name)


def _renderer(log_format: str) -> structlog.typing.Processor:
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def configure(level: str = "info", json: bool | None = None, *, log_format: str | None = None) -> None:
    """Sets up structlog and the standard library's root logger alike.

    `log_format` is "json" or "console"; without it, `json` decides, and without that, JSON unless
    stderr is a terminal.
    """
    if log_format is None:
        use_json = (not sys.stderr.isatty()) if json is None else json
        log_format = "json" if use_json else "console"
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = _renderer(log_format)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_NamedPrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    # Replaces whatever handlers there were (basicConfig's, an earlier configure's): one format only.
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)  # warnings.warn() becomes a "py.warnings" log line, not raw stderr
