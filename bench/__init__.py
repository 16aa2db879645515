"""Benchmarks: speed, memory and answer quality, each a `python -m bench.NAME` script.

See bench/README.md. Every script prints a table and writes JSON to bench/results/.
"""
