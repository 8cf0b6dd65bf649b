"""The pure core: scheduling and cron decisions as functions over plain data.

Nothing under this package performs I/O or imports asyncio, anyio or a Kubernetes client;
an import-linter contract in pyproject.toml holds that line.
"""
