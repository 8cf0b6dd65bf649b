"""The benchmark harness: midnight storms against the native pipeline and the raw API ceiling."""
