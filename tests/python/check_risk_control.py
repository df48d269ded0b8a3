#!/usr/bin/env python3
"""Cross-checks misd's risk-controlling thresholds (printed by tests/risk_control_json)
against SciPy and a NumPy re-implementation written from docs/algorithms.md,
"Risk-controlling thresholds".

Usage: check_risk_control.py PATH_TO_risk_control_json

1. B*(e, n, delta), the exact Clopper-Pearson upper limit, against
   scipy.stats.beta.ppf(1 - delta, e + 1, n - e) (1 at e = n) to 1e-10 absolute, over
   n = 1 ... 100000, e = 0 ... n and delta = 0.9 ... 1e-6.
2. SGR's and Learn-then-Test's (binomial and Hoeffding-Bentkus p-values) chosen thresholds on
   random calibration sets (continuous and tied scores, several error rates, targets and
   deltas) against the procedures re-implemented here with SciPy's beta quantile and binomial
   CDF: the same threshold exactly, the same counts, the bound to 1e-10 and the p-value to
   1e-9 relative. A run whose decision hinges on a value within 1e-9 of the target (where
   rounding may legitimately differ) is skipped and counted; at most a few are allowed.
Exits 77 (CTest skip) when NumPy or SciPy is missing, 1 on any mismatch.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from scipy.stats import beta, binom
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {e}")
    sys.exit(77)

PRINTER = sys.argv[1]
failures = []


def check(name, ok, detail=""):
    if not ok:
        failures.append(f"{name}: {detail}")


def run(*args):
    out = subprocess.run([PRINTER, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def upper_limit(e, n, delta):
    return 1.0 if e == n else float(beta.ppf(1.0 - delta, e + 1, n - e))


# 1. The bound.
triples = []
for n in [1, 2, 3, 10, 57, 100, 1000, 12345, 100000]:
    for e in sorted({0, 1, 2, n // 100, n // 10, n // 2, n - 1, n}):
        if e > n:
            continue
        for delta in [0.9, 0.5, 0.1, 1e-3, 1e-6]:
            triples.append((e, n, delta))
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "bounds.txt")
    with open(path, "w") as f:
        f.write(f"{len(triples)}\n")
        for e, n, d in triples:
            f.write(f"{e} {n} {d!r}\n")
    got = run("bounds", path)
worst = 0.0
for (e, n, d), b in zip(triples, got):
    want = upper_limit(e, n, d)
    worst = max(worst, abs(b - want))
    check(f"bound e={e} n={n} delta={d}", abs(b - want) <= 1e-10, f"misd {b!r} scipy {want!r}")
print(f"bound: {len(triples)} (e, n, delta), largest |misd - scipy| = {worst:.2e}")


# 2. The procedures.
def sgr(conf, correct, r, delta):
    m = len(conf)
    s = np.sort(conf)
    k = max(1, (m - 1).bit_length())  # ceil(log2 m), at least 1
    dp = delta / k
    z_lo, z_hi = 1, m
    best, ambiguous, least = None, False, 1.0
    for _ in range(k):
        z = (z_lo + z_hi + 1) // 2
        theta = s[z - 1]
        acc = conf >= theta
        n, e = int(acc.sum()), int((correct[acc] == 0).sum())
        b = upper_limit(e, n, dp)
        least = min(least, b)
        ambiguous |= abs(b - r) < 1e-9
        if b <= r:
            if best is None or theta < best[0]:
                best = (theta, n, e, b)
            z_hi = z
        else:
            z_lo = z
    return best, ambiguous, least


def hb_p(e, n, alpha):
    a = min(e / n, alpha)
    h = (a * math.log(a / alpha) if a > 0 else 0.0) + (1 - a) * math.log((1 - a) / (1 - alpha))
    return min(math.exp(-n * h), math.e * binom.cdf(e, n, alpha))


def ltt(conf, correct, alpha, delta, grid_points, min_accepted, kind):
    m = len(conf)
    s = np.sort(conf)
    idx = [((grid_points - j) * (m - 1)) // grid_points for j in range(1, grid_points + 1)]
    grid = np.unique(s[idx])[::-1]
    # Fewer accepted examples than this cannot reach delta even with no errors.
    need = 1
    while (1 - alpha) ** need > delta:
        need += 1
    need = max(need, min_accepted)
    best, ambiguous = None, False
    for lam in grid:
        acc = conf > lam
        n = int(acc.sum())
        if n < need:
            continue
        e = int((correct[acc] == 0).sum())
        p = float(binom.cdf(e, n, alpha)) if kind == "binomial" else hb_p(e, n, alpha)
        ambiguous |= abs(p - delta) < 1e-9 * delta
        if p > delta:
            break
        best = (lam, n, e, p)
    return best, ambiguous


rng = np.random.default_rng(20251201)
runs = skipped = 0
abstained = {"sgr": 0, "ltt": 0}
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "cal.txt")
    for trial in range(36):
        m = int(rng.choice([600, 1500, 5000]))
        c = float(rng.choice([0.1, 0.3, 0.6]))
        r = float(rng.choice([0.02, 0.05, 0.1]))
        delta = float(rng.choice([0.001, 0.05, 0.1]))
        conf = rng.uniform(size=m)
        if trial % 3 == 0:
            conf = np.round(conf * 20) / 20  # 21 tie groups
        correct = (rng.uniform(size=m) >= c * (1 - conf) ** 2).astype(np.uint8)
        with open(path, "w") as f:
            f.write(f"{m}\n" + " ".join(repr(float(x)) for x in conf) + "\n")
            f.write(" ".join(str(int(x)) for x in correct) + "\n")
        name = f"trial {trial} (m={m}, c={c}, r={r}, delta={delta})"

        got = run("sgr", path, r, delta)
        want, ambiguous, least = sgr(conf, correct, r, delta)
        runs += 1
        if ambiguous:
            skipped += 1
        elif want is None:
            abstained["sgr"] += 1
            check(f"sgr {name} abstains", got["abstains"] and got["threshold"] == math.inf, got)
            check(f"sgr {name} least bound", abs(got["risk_bound"] - least) <= 1e-10,
                  f"misd {got['risk_bound']} numpy {least}")
        else:
            theta, n, e, b = want
            check(f"sgr {name}", not got["abstains"] and got["threshold"] == theta
                  and got["accepted"] == n and got["errors"] == e and got["inclusive"],
                  f"misd {got} numpy {want}")
            check(f"sgr {name} bound", abs(got["risk_bound"] - b) <= 1e-10,
                  f"misd {got['risk_bound']} numpy {b}")

        for kind, arg in (("binomial", "binomial"), ("hoeffding-bentkus", "hb")):
            grid_points = int(rng.choice([50, 1000]))
            got = run("ltt", path, r, delta, grid_points, 25, arg)
            want, ambiguous = ltt(conf, correct, r, delta, grid_points, 25, kind)
            runs += 1
            if ambiguous:
                skipped += 1
            elif want is None:
                abstained["ltt"] += 1
                check(f"ltt {kind} {name} abstains",
                      got["abstains"] and got["threshold"] == math.inf and got["p_value"] == 1.0,
                      got)
            else:
                lam, n, e, p = want
                check(f"ltt {kind} {name}",
                      not got["abstains"] and got["threshold"] == lam and got["accepted"] == n
                      and got["errors"] == e and not got["inclusive"],
                      f"misd {got} numpy {want}")
                check(f"ltt {kind} {name} p-value",
                      abs(got["p_value"] - p) <= 1e-9 * max(p, 1e-300),
                      f"misd {got['p_value']!r} numpy {p!r}")
                check(f"ltt {kind} {name} bound",
                      abs(got["risk_bound"] - upper_limit(e, n, delta)) <= 1e-10,
                      f"misd {got['risk_bound']} scipy {upper_limit(e, n, delta)}")

check("near-ties skipped", skipped <= 3, f"{skipped} of {runs} runs")
print(f"procedures: {runs} runs, {skipped} skipped as near-ties, abstained: {abstained}")

if failures:
    print("\n".join(failures[:40]))
    print(f"{len(failures)} failures")
    sys.exit(1)
print("all checks passed")
