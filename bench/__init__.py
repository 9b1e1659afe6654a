"""Throughput/latency benchmark of Bazaar against a bare Starlette app: `python -m bench.run`."""
