#!/usr/bin/env python3
"""End-to-end test of `misd demo --quick` (issue: the demo runs in CI).

Runs the tool as a child process (a signal is a failure), then checks the contents of
every table and plot: row counts, finite numbers, PNG signatures; then the bad-input
cases: a cache entry from another recipe and a damaged entry are retrained, a missing
dataset and an unwritable output directory exit 1 with a clear message and leave no
output behind.

usage: check_demo.py MISD_BINARY WORK_DIR
"""
import json
import math
import os
import shutil
import subprocess
import sys

misd, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
out, cache = os.path.join(work, "out"), os.path.join(work, "cache")
failures = []


def check_figure(out, stem):
    """STEM.png is a valid PNG of the size its script asks for, and every series of STEM.gp
    has a colour of its own and a dash pattern or point type of its own (readable in
    black and white), under a key heading per group."""
    import re
    import struct
    import zlib
    png, gp = os.path.join(out, stem + ".png"), os.path.join(out, stem + ".gp")
    data = open(png, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{stem}.png is not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    check(zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0],
          f"{stem}.png: damaged IHDR chunk")
    check(data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", f"{stem}.png: no IEND chunk (truncated)")
    script = open(gp).read() if os.path.exists(gp) else ""
    check(script != "", f"{stem}.gp: the figure's script is missing")
    size = re.search(r"size (\d+),(\d+)", script)
    check(size is not None and (width, height) == (int(size.group(1)), int(size.group(2))),
          f"{stem}.png is {width} x {height}, its script asks for {size and size.groups()}")
    plot = script[script.find("\nplot ") + 1:].replace("\\\n", " ")
    styles = re.findall(r"\$s\d+ using 1:2 with \w+ lw [\d.]+ lc rgb '(#[0-9A-Fa-f]{6})'"
                        r"(?: dt (solid|\([\d,]+\)))?(?: pt (\d+))?[^,]*? title '([^']*)'", plot)
    series = len(re.findall(r"\$s\d+ using", plot))
    check(series >= 2 and len(styles) == series, f"{stem}.gp: {len(styles)} styled of {series} series")
    colours = [c for c, _, _, _ in styles]
    shapes = [(d, p) for _, d, p, _ in styles]
    check(len(set(colours)) == len(colours), f"{stem}.gp: a colour used twice: {colours}")
    check(len(set(shapes)) == len(shapes), f"{stem}.gp: a dash/point style used twice: {shapes}")
    check(all(t for _, _, _, t in styles), f"{stem}.gp: a series without a title")
    check("keyentry" in plot, f"{stem}.gp: no key heading for the groups")


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    p = subprocess.run([misd, "demo", *args], capture_output=True, text=True)
    check(p.returncode >= 0, f"misd demo {args} was killed by signal {-p.returncode}")
    return p


p = run("--quick", "--out-dir", out, "--cache-dir", cache)
if p.returncode != 0:
    print(p.stderr[-4000:])
    sys.exit(f"misd demo --quick failed with exit status {p.returncode}")

archs = [a for a in ("mlp", "cnn") if os.path.exists(os.path.join(out, f"table5_{a}.json"))]
check("mlp" in archs, "the MLP (regularised) regime is missing")
check("cnn" in archs, "the CNN (over-confident) regime is missing")
objectives = ["standard", "rat", "at", "reverse-at"]
table2_methods = {"msr", "msr (float32 softmax)", "odin", "doctor", "relu", "energy",
                  "max-logit", "rr-bs", "rr-bs-pgd", "rr-fast", "rr-refine"}


def finite_metrics(row, keys, where):
    for k in keys:
        v = row[k]["mean"] if isinstance(row[k], dict) else row[k]
        check(isinstance(v, (int, float)) and math.isfinite(v), f"{where}: {k} = {v!r} is not finite")


for a in archs:
    for obj in ("standard", "rat"):
        rows = json.load(open(os.path.join(out, f"table2_{a}_{obj}.json")))
        names = {r["method"] for r in rows}
        check(table2_methods <= names, f"table2_{a}_{obj}: methods {sorted(names)}")
        for r in rows:
            finite_metrics(r, ["auroc", "fpr95", "aurc", "accuracy"], f"table2_{a}_{obj} {r['method']}")
            check(0 <= r["auroc"]["mean"] <= 1, f"table2 auroc out of range: {r}")
            # The radius estimators carry their statuses (summed over the splits' test parts),
            # the others none; and the Markdown names those not measured where there are any.
            if r["method"].startswith("rr-"):
                st = r.get("status", {})
                check(set(st) == {"bracketed", "not_bracketed", "linear_estimate", "zero_direction"},
                      f"table2_{a}_{obj} {r['method']}: statuses {st}")
                check(sum(st.values()) > 0 and all(v >= 0 for v in st.values()),
                      f"table2_{a}_{obj} {r['method']}: status counts {st}")
                odd = st.get("not_bracketed", 0) + st.get("zero_direction", 0)
                md_text = open(os.path.join(out, f"table2_{a}_{obj}.md")).read()
                check((f"| {r['method']} (" in md_text) == (odd > 0),
                      f"table2_{a}_{obj}.md: {r['method']} names its {odd} unmeasured radii")
            else:
                check("status" not in r, f"table2_{a}_{obj} {r['method']}: a status without a radius")
        md = open(os.path.join(out, f"table2_{a}_{obj}.md")).read().strip().splitlines()
        check(len([l for l in md if l.startswith("| ")]) == 1 + len(rows), f"table2_{a}_{obj}.md rows")
        csv = open(os.path.join(out, f"table2_{a}_{obj}.csv")).read().strip().splitlines()
        check(len(csv) == 1 + len(rows), f"table2_{a}_{obj}.csv has {len(csv)} lines")
    t4 = json.load(open(os.path.join(out, f"table4_{a}.json")))
    check([r["method"] for r in t4] == ["msr", "rr-bs", "rr-bs-pgd", "rr-fast", "rr-refine"],
          f"table4_{a} rows")
    for r in t4:
        check(r["images_per_second"] > 0 and math.isfinite(r["images_per_second"]), f"table4 speed {r}")
    ips = {r["method"]: r["images_per_second"] for r in t4}
    # Passes per image: RR-Fast 3, RR-Refine ~6, RR-BS 26, RR-BS (PGD) ~120.
    check(ips["rr-fast"] > ips["rr-refine"] > ips["rr-bs"] > ips["rr-bs-pgd"],
          f"table4_{a}: speeds out of order {ips}")
    t5 = json.load(open(os.path.join(out, f"table5_{a}.json")))
    check([r["method"] for r in t5] == objectives, f"table5_{a} rows")
    for r in t5:
        finite_metrics(r, ["auroc", "fpr95", "aurc", "accuracy"], f"table5_{a} {r['method']}")
    t1 = json.load(open(os.path.join(out, f"table1_{a}.json")))
    check([r["training"] for r in t1] == objectives, f"table1_{a} rows")
    for r in t1:
        check(0 <= r["train_accuracy"] <= 1, f"table1_{a}: training accuracy out of [0, 1]: {r}")
        check(r["median_radius_correct"] > r["median_radius_wrong"] > 0,
              f"table1_{a}: median radius of correct examples should exceed wrong ones: {r}")
    for stem in (f"fig2_radius_histogram_{a}", f"risk_coverage_{a}",
                 f"excess_risk_coverage_{a}", f"fig3_aurc_vs_temperature_{a}"):
        check_figure(out, stem)
results = open(os.path.join(out, "results.md")).read()
check(results.count("### Table") == 5 * len(archs), "results.md does not hold every table")

# A cache entry from another recipe, and a damaged one: both retrained, never trusted.
entries = sorted(os.listdir(cache))
check(len(entries) == 4 * len(archs), f"cache entries: {entries}")
entries = [e for e in entries if e.startswith("mlp-")]  # cheap to retrain
other = os.path.join(cache, entries[0], "recipe.json")
j = json.load(open(other))
j["recipe"]["epochs"] += 1
json.dump(j, open(other, "w"))
damaged_dir = os.path.join(cache, entries[1], "model")
victim = sorted(os.listdir(damaged_dir))[0]
with open(os.path.join(damaged_dir, victim), "r+b") as f:
    f.truncate(os.path.getsize(os.path.join(damaged_dir, victim)) // 2)
p = run("--quick", "--out-dir", out, "--cache-dir", cache)
check(p.returncode == 0, f"second run failed: {p.stderr[-2000:]}")
check("made by another recipe" in p.stderr, "an entry from another recipe was not reported")
check("do not match their checksums" in p.stderr, "a damaged entry was not reported")
check(p.stderr.count("misd demo: training") == 2, "exactly the two bad entries are retrained")
check(p.stderr.count("using cached model") == 4 * len(archs) - 2, "the good entries are reused")

# Missing dataset: exit 1, names the package, no output directory created.
bad_out = os.path.join(work, "never")
p = run("--quick", "--out-dir", bad_out, "--cache-dir", cache, "--data-dir", os.path.join(work, "no-data"))
check(p.returncode == 1, f"missing dataset: exit {p.returncode}")
check("dataset-fashion-mnist" in p.stderr, f"missing dataset message: {p.stderr!r}")
check(not os.path.exists(bad_out), "missing dataset left an output directory")

# Unwritable output directory: exit 1 with the path in the message.
p = run("--quick", "--out-dir", "/proc/misd-demo-out", "--cache-dir", cache)
check(p.returncode == 1, f"unwritable output: exit {p.returncode}")
check("/proc/misd-demo-out" in p.stderr, f"unwritable output message: {p.stderr!r}")
# Bad usage: exit 2.
check(run("--no-such-option").returncode == 2, "unknown option is not a usage error")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("demo OK:", ", ".join(archs))
