#!/usr/bin/env python3
"""End-to-end test of `misd demo --quick` (issue: the demo runs in CI).

Runs the tool as a child process (a signal is a failure), then checks the contents of
every table and plot: row counts, finite numbers, the Markdown and CSV cells equal to the
JSON numbers, PNG signatures; then the bad-input
cases: a cache entry from another recipe and a damaged entry are retrained, a missing
dataset and an unwritable output directory exit 1 with a clear message and leave no
output behind.

The demo's findings (for instance that correct examples have a larger median radius than
wrong ones) are results of the models it trains, not properties of the code: they are
printed here and reported in the tables, never asserted.

usage: check_demo.py MISD_BINARY WORK_DIR
"""
import csv
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
                  "max-logit", "maxlogit-pnorm", "pnorm-softmax", "gen", "rr-bs", "rr-bs-pgd",
                  "rr-fast", "rr-refine", "combined (rr-bs + msr)"}
study = ["rr-fast", "rr-bs", "rr-refine", "rr-iter", "deepfool", "fab"]


def finite_metrics(row, keys, where):
    for k in keys:
        v = row[k]["mean"] if isinstance(row[k], dict) else row[k]
        check(isinstance(v, (int, float)) and math.isfinite(v), f"{where}: {k} = {v!r} is not finite")


def md_rows(name):
    """The data rows of a Markdown table, as lists of stripped cells."""
    lines = [l for l in open(os.path.join(out, name)).read().splitlines() if l.startswith("| ")]
    return [[c.strip() for c in l.strip().strip("|").split("|")] for l in lines[1:]]


def csv_rows(name):
    return list(csv.reader(open(os.path.join(out, name), newline="")))[1:]


def fixed(v, digits):
    """A number as the demo formats it (std::fixed); a JSON null is NaN there."""
    return "nan" if v is None else f"{v:.{digits}f}"


def mean_std(cell, scale, digits):
    """A 'mean ± std' cell of metrics_row (cmd_demo.cpp), from the JSON's {mean, std}."""
    if cell["mean"] is None:
        return "undefined"
    return f"{cell['mean'] * scale:.{digits}f} ± {cell['std'] * scale:.{digits}f}"


def same_cells(name, rows, key):
    """Markdown rows = CSV rows = the JSON rows formatted (Tables 2, 4, 5)."""
    md, cs = md_rows(name + ".md"), csv_rows(name + ".csv")
    check(md == cs, f"{name}: the Markdown and CSV cells differ")
    check(len(md) == len(rows), f"{name}.md has {len(md)} rows for {len(rows)} in the JSON")
    for r, cells in zip(rows, md):
        want = [mean_std(r["auroc"], 1, 4), mean_std(r["fpr95"], 100, 2),
                mean_std(r["aurc"], 1000, 2), mean_std(r["accuracy"], 100, 2)]
        if "forwards_per_image" in r:
            want += [f"{r['forwards_per_image']:.1f}", str(r["backward_passes"])]
        if "images_per_second" in r:
            want.append(f"{r['images_per_second']:.0f}")
        check(cells[0].startswith(r[key]) and cells[1:] == want,
              f"{name}: Markdown row {cells} does not match the JSON {r}")


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
            if r["method"].startswith("rr-") or r["method"] in ("deepfool", "fab"):
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
        same_cells(f"table2_{a}_{obj}", rows, "method")
    t4 = json.load(open(os.path.join(out, f"table4_{a}.json")))
    check([r["method"] for r in t4] == ["msr"] + study, f"table4_{a} rows")
    for r in t4:
        check(r["images_per_second"] > 0 and math.isfinite(r["images_per_second"]), f"table4 speed {r}")
        check(r["forwards_per_image"] >= 1 and r["backward_passes"] >= 0, f"table4 passes {r}")
    same_cells(f"table4_{a}", t4, "method")
    # Wall-clock speeds are measurements of a shared machine, not properties of the code:
    # reported, not asserted.
    ips = {r["method"]: round(r["images_per_second"]) for r in t4}
    print(f"finding (not asserted), {a}: images/s {ips}")
    # Tightness: each radius over the least witnessed flip of that example. Invariants: a
    # radius refined to the flip it witnessed (deepfool, fab, rr-iter) is never below the
    # least one; RR-BS's midpoint is at least half its own flip, so at least half the least.
    tt = json.load(open(os.path.join(out, f"tightness_{a}.json")))
    check([r["method"] for r in tt] == study, f"tightness_{a} rows")
    for r in tt:
        check(r["compared"] > 0, f"tightness_{a} {r['method']}: nothing compared")
        check(0 <= r["within_5_percent"] <= 1, f"tightness_{a}: {r}")
        floor = 0.5 if r["method"] in ("rr-bs", "rr-refine") else 1 - 1e-12
        if r["verified"]:
            check(r["min_ratio"] >= floor, f"tightness_{a} {r['method']}: least ratio {r['min_ratio']}")
        check(r["min_ratio"] <= r["median_ratio"] <= r["p90_ratio"], f"tightness_{a}: {r}")
        print(f"finding (not asserted), {a} {r['method']}: median ratio {r['median_ratio']:.3f}, "
              f"within 5% {r['within_5_percent']:.3f}, AUROC {r['auroc']['mean']:.4f}")
    t5 = json.load(open(os.path.join(out, f"table5_{a}.json")))
    check([r["method"] for r in t5] == objectives, f"table5_{a} rows")
    for r in t5:
        finite_metrics(r, ["auroc", "fpr95", "aurc", "accuracy"], f"table5_{a} {r['method']}")
    same_cells(f"table5_{a}", t5, "method")
    # Table 1: the median RR-BS radius of the correct and of the wrong test examples. Its
    # structure is checked; which median is larger is a finding about the trained models,
    # printed (and reported in the table's ratio column), not asserted.
    t1 = json.load(open(os.path.join(out, f"table1_{a}.json")))
    check([r["training"] for r in t1] == objectives, f"table1_{a} rows")
    sizes = {r["correct"] + r["wrong"] for r in t1}
    check(len(sizes) == 1 and min(sizes) > 0,
          f"table1_{a}: every model is measured on the same, non-empty test set: {sizes}")
    md1, csv1 = md_rows(f"table1_{a}.md"), csv_rows(f"table1_{a}.csv")
    check(md1 == csv1, f"table1_{a}: the Markdown and CSV cells differ")
    check(len(md1) == len(t1), f"table1_{a}.md has {len(md1)} rows for {len(t1)} in the JSON")
    for r, cells in zip(t1, md1):
        check(0 <= r["train_accuracy"] <= 1, f"table1_{a}: training accuracy out of [0, 1]: {r}")
        for side in ("correct", "wrong"):
            m = r[f"median_radius_{side}"]
            if r[side] == 0:  # the median of no radius is NaN, written as null
                check(m is None, f"table1_{a}: a median of no {side} example: {r}")
            else:  # a radius is >= 0 (0 where nothing was measured)
                check(isinstance(m, (int, float)) and math.isfinite(m) and m >= 0,
                      f"table1_{a}: median radius of the {side} examples {m!r}")
        mc, mw = r["median_radius_correct"], r["median_radius_wrong"]
        want = [r["training"], fixed(100 * r["train_accuracy"], 2), fixed(mc, 5), fixed(mw, 5)]
        if mc is None or mw is None or mc == mw == 0:
            ratio = ("nan", "-nan")  # 0 / 0 prints with its sign bit
        else:
            ratio = (fixed(mc / mw, 2) if mw else "inf",)
        check(cells[:4] == want and len(cells) == 5 and cells[4] in ratio,
              f"table1_{a}: Markdown row {cells} does not match the JSON {want}, ratio {ratio}")
        print(f"finding (not asserted), {a} {r['training']}: median RR-BS radius correct {mc}, "
              f"wrong {mw}, ratio {cells[4]}")
    # Figure 4: every corruption kind at each quick-run severity, and the clean subsample.
    kinds_rows = json.load(open(os.path.join(out, f"fig4_shift_kinds_{a}.json")))
    shift = json.load(open(os.path.join(out, f"fig4_shift_{a}.json")))
    scores = list(shift[0]["auroc"])
    check(len(scores) == 4 and scores[0] == "msr" and scores[2:] == ["rr-bs", "rr-fast"]
          and scores[1] in ("doctor", "energy", "max-logit", "gen"), f"fig4_shift_{a} scores {scores}")
    check([r["severity"] for r in shift] == [0, 1, 3, 5], f"fig4_shift_{a} severities")
    kinds = sorted({r["kind"] for r in kinds_rows if r["severity"] > 0})
    check(kinds == sorted(["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise",
                           "gaussian_blur", "defocus_blur", "motion_blur", "brightness",
                           "contrast", "pixelate", "jpeg", "elastic"]), f"fig4 kinds {kinds}")
    check(len(kinds_rows) == 4 * (1 + 12 * 3), f"fig4_shift_kinds_{a}: {len(kinds_rows)} rows")
    for r in kinds_rows:
        check(0 <= r["accuracy"] <= 1 and 0 <= r["aurc"] <= 1 and 0 <= r["threshold_risk"] <= 1
              and 0 <= r["threshold_coverage"] <= 1, f"fig4_shift_kinds_{a}: {r}")
        check(r["auroc"] is None or 0 <= r["auroc"] <= 1, f"fig4_shift_kinds_{a}: {r}")
    # The summary is the mean over kinds of the per-kind rows (AUROC: over the defined ones).
    for row in shift:
        for sc in scores:
            cells = [r for r in kinds_rows if r["score"] == sc and r["severity"] == row["severity"]]
            check(len(cells) == (1 if row["severity"] == 0 else 12), f"fig4 {a} {sc} {row['severity']}")
            au = [r["auroc"] for r in cells if r["auroc"] is not None]
            for key, vals in (("auroc", au), ("aurc", [r["aurc"] for r in cells])):
                want = sum(vals) / len(vals) if vals else None
                got = row[key][sc]
                check((want is None and got is None) or abs(got - want) <= 1e-12,
                      f"fig4_shift_{a} {key} {sc} severity {row['severity']}: {got} vs mean {want}")
        print(f"finding (not asserted), {a} severity {row['severity']}: accuracy "
              f"{row['accuracy']:.3f}, AUROC " + ", ".join(f"{k} {v:.3f}" for k, v in row["auroc"].items()
                                                         if v is not None))
    th = json.load(open(os.path.join(out, f"fig4_threshold_{a}.json")))
    check(th[0]["set"] == "calibration" and [r["severity"] for r in th[1:]] == [0, 1, 3, 5],
          f"fig4_threshold_{a} rows")
    for sc, c in th[0]["scores"].items():
        # A threshold is only given where its bound meets the target (5 %), else it abstains.
        check(c["abstains"] == (c["threshold"] is None), f"fig4_threshold_{a} {sc}: {c}")
        check(c["abstains"] or c["bound"] <= 0.05, f"fig4_threshold_{a} {sc}: bound {c}")
        check(0 <= c["risk"] <= c["bound"] <= 1, f"fig4_threshold_{a} {sc}: risk above its bound {c}")
    for stem in ("fig4_shift", "fig4_threshold"):
        check(md_rows(f"{stem}_{a}.md") == csv_rows(f"{stem}_{a}.csv"),
              f"{stem}_{a}: the Markdown and CSV cells differ")
    for stem in (f"fig2_radius_histogram_{a}", f"risk_coverage_{a}",
                 f"excess_risk_coverage_{a}", f"fig3_aurc_vs_temperature_{a}",
                 f"fig4_auroc_{a}", f"fig4_aurc_{a}", f"fig4_threshold_risk_{a}",
                 f"fig4_threshold_coverage_{a}"):
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
