"""The asyncio wiring: informers feed the cache, the cron engine feeds pods, the scheduling loop feeds
bind workers, and a supervisor owns every task through anyio task groups."""
