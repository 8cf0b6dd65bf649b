"""What the benchmark entry points share: the storm scenario, the systems under test, the harness that runs
and watches them, the measurements and the report. Entry points live one level up (`python -m bench`,
`python -m bench.bind_throughput`, ...)."""
