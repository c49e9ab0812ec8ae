"""Benchmarks: latency, memory, size, F1 and frame selection per artifact and runtime (``fetaledge bench``).

Measurements only: nothing here asserts a speed. Latencies are medians of repeated runs in a fresh process
per artifact and thread count (so peak memory is that runtime's alone), with their spread reported.
"""
