"""The asyncio wiring: one watch per resource feeds the scheduler and the cron engine, the cron engine
creates pods ahead of their slot, the scheduler places and binds them, and a supervisor owns every task
through anyio task groups."""
