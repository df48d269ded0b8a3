#!/usr/bin/env python3
"""Ratios of each benchmark's images/s to misd's forward at the same batch, from the JSON
that bench_radius writes with --benchmark_out. Usage: ratios.py bench_radius.json"""
import json, re, sys

runs = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("run_type") != "aggregate"]
forward = {}
for b in runs:
    m = re.match(r"BM_misd_forward/(\d+)", b["name"])
    if m:
        forward[m.group(1)] = b["items_per_second"]
print(f"{'benchmark':40s} {'images/s':>12s} {'passes/img':>10s} {'x forward':>10s}")
for b in runs:
    batch = re.match(r"BM_\w+/(\d+)", b["name"]).group(1)
    print(f"{b['name']:40s} {b['items_per_second']:12.1f} {b.get('passes_per_image', 0):10.3f} "
          f"{b['items_per_second'] / forward[batch]:10.4f}")
