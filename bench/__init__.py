"""Benchmarks: each prints its figures (ratios where possible); see docs/performance.md."""
