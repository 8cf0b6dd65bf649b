"""jobsched: a high-throughput Kubernetes scheduler and cron engine for CronJob storms."""

__version__ = "0.1.0"

SCHEDULER_NAME = "jobsched"
