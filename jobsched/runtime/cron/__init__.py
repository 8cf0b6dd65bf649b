"""The cron engine: entry sources, planner, stager, housekeeper and reporter, wired by `engine`."""
