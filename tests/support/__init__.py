"""Helpers shared by tests: factories of core records, cluster slices, cron fixtures, processes and the
fault-injecting proxy. Test modules import from here, never from one another."""
