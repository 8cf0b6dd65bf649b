"""Hypothesis profiles for the fuzz tests.

"ci" (the default) runs a fixed number of examples with fresh randomness each run; a failure prints
a `@reproduce_failure` blob that replays it exactly. "dev" is quicker, "deep" runs for long. Choose
with JOBSCHED_FUZZ_PROFILE. The fuzz tests build their settings from the chosen profile
(`strategies.fuzz_settings`) rather than loading it globally, so the rest of the suite keeps its own.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def _register(name: str, examples: int) -> None:
    settings.register_profile(
        name,
        max_examples=examples,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


_register("ci", 100)
_register("dev", 20)
_register("deep", 2000)
