#!/usr/bin/env python3
"""Cross-checks misd's metrics (printed by tests/test_metric_json) against scikit-learn.

Usage: check_metrics_sklearn.py PATH_TO_test_metric_json

AUROC, both average precisions and both ROC curves (drop_intermediate=False) are compared
with scikit-learn; FPR at TPR with min(fpr[tpr >= t]) over scikit-learn's ROC arrays; AURC,
E-AURC and the risk-coverage curve with a direct NumPy transcription of
their definitions (mid-rank AUROC, tie-grouped AURC). Everything within 1e-9. Exits 77 (CTest skip) when NumPy or
scikit-learn is missing, 1 on any mismatch.
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import sklearn
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {e}")
    sys.exit(77)

TOL = 1e-9
SK_VERSION = tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit())
failures = []


def check(name, ok, detail=""):
    if not ok:
        failures.append(f"{name}: {detail}")


def close(name, got, want):
    if want is None or got is None:
        check(name, got is None and want is None, f"got {got}, want {want}")
    else:
        check(name, abs(got - want) <= TOL, f"got {got!r}, want {want!r}")


def close_arrays(name, got, want):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        check(name, False, f"shape {got.shape} != {want.shape}")
        return
    same_inf = np.array_equal(np.isinf(got), np.isinf(want)) and np.array_equal(
        got[np.isinf(got)], want[np.isinf(want)])
    finite = ~np.isinf(want)
    worst = float(np.max(np.abs(got[finite] - want[finite]), initial=0.0))
    check(name, same_inf and worst <= TOL, f"max abs difference {worst}")


def spec_risk_coverage(c, y):
    """The curve of docs/algorithms.md, "Metrics": tie groups by descending confidence, coverage 1 -> 0."""
    n = len(c)
    order = np.argsort(-c, kind="mergesort")
    cs, wrong = c[order], (y[order] == 0).astype(np.int64)
    last_of_group = np.r_[np.flatnonzero(np.diff(cs) != 0), n - 1]
    kept = last_of_group + 1
    risk = np.cumsum(wrong)[last_of_group] / kept
    coverage = kept / n
    coverage = np.r_[0.0, coverage][::-1]
    risk = np.r_[risk[0], risk][::-1]
    return coverage, risk


def reference(c, y):
    n = len(c)
    wrong = (y == 0).astype(int)
    n_wrong = int(wrong.sum())
    n_correct = n - n_wrong
    both = n_wrong > 0 and n_correct > 0
    ref = {"n": n, "errors": n_wrong, "accuracy": n_correct / n}
    ref["auroc"] = roc_auc_score(y, c) if both else None
    ref["aupr_error"] = average_precision_score(wrong, -c) if n_wrong else None
    ref["aupr_success"] = average_precision_score(y, c) if n_correct else None
    if both:
        ref["roc_error"] = roc_curve(wrong, -c, drop_intermediate=False)
        ref["roc_success"] = roc_curve(y, c, drop_intermediate=False)
        fpr, tpr, _ = ref["roc_error"]
        ref["fpr_at_tpr"] = {t: float(np.min(fpr[tpr >= t])) for t in (0.5, 0.8, 0.9, 0.99, 1.0)}
        ref["fpr95"] = float(np.min(fpr[tpr >= 0.95]))
    else:
        ref["roc_error"] = ref["roc_success"] = None
        ref["fpr_at_tpr"] = {t: None for t in (0.5, 0.8, 0.9, 0.99, 1.0)}
        ref["fpr95"] = None
    cov, risk = spec_risk_coverage(c, y)
    ref["risk_coverage"] = (cov, risk)
    ref["aurc"] = float(-np.trapz(risk, cov))  # coverage runs 1 -> 0
    err = n_wrong / n
    optimal = 1.0 if n_wrong == n else err + (1 - err) * math.log(1 - err)
    ref["eaurc"] = ref["aurc"] - optimal
    # Operating points on curve points only (see risk_coverage.hpp).
    ref["risk_at_coverage"] = {
        f: float(risk[np.flatnonzero(cov >= f)[-1]]) for f in (0.0, 0.1, 0.5, 0.9, 1.0)}
    ref["coverage_at_risk"] = {}
    for r in (0.0, 0.1, 0.5, 0.9, 1.0):
        ok = risk <= r
        ref["coverage_at_risk"][r] = float(cov[ok].max()) if ok.any() else None
    return ref


def compare(label, c, y, exe, tmpdir):
    path = os.path.join(tmpdir, "data.bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<q", len(c)))
        f.write(np.ascontiguousarray(c, dtype="<f8").tobytes())
        f.write(np.ascontiguousarray(y, dtype=np.uint8).tobytes())
    run = subprocess.run([exe, path], capture_output=True, text=True)
    if run.returncode != 0:
        check(label, False, f"exit {run.returncode}: {run.stderr.strip()}")
        return
    got = json.loads(run.stdout)
    ref = reference(c, y)
    for key in ("n", "errors"):
        check(f"{label} {key}", got[key] == ref[key], f"got {got[key]}, want {ref[key]}")
    for key in ("accuracy", "auroc", "fpr95", "aurc", "eaurc", "aupr_error", "aupr_success"):
        close(f"{label} {key}", got[key], ref[key])
    # Operating points come as arrays in the order of the dicts' keys (see the printer).
    for key in ("fpr_at_tpr", "risk_at_coverage", "coverage_at_risk"):
        check(f"{label} {key}", len(got[key]) == len(ref[key]), "length")
        for g, (arg, want) in zip(got[key], ref[key].items()):
            close(f"{label} {key}({arg})", g, want)
    cov, risk = ref["risk_coverage"]
    close_arrays(f"{label} risk_coverage.coverage", got["risk_coverage"]["coverage"], cov)
    close_arrays(f"{label} risk_coverage.risk", got["risk_coverage"]["risk"], risk)
    for key in ("roc_error", "roc_success"):
        if ref[key] is None:
            check(f"{label} {key}", got[key] is None, "expected null (undefined)")
            continue
        fpr, tpr, thr = ref[key]
        close_arrays(f"{label} {key}.fpr", got[key]["fpr"], fpr)
        close_arrays(f"{label} {key}.tpr", got[key]["tpr"], tpr)
        ours = np.asarray(got[key]["thresholds"], dtype=float)
        if SK_VERSION < (1, 3):
            close_arrays(f"{label} {key}.thresholds", ours, thr)
        else:  # scikit-learn 1.3+ writes +inf first; misd keeps the highest score + 1
            close_arrays(f"{label} {key}.thresholds[1:]", ours[1:], thr[1:])
            close(f"{label} {key}.thresholds[0]", ours[0], ours[1] + 1.0)


def datasets():
    rng = np.random.default_rng(20250314)
    for n in (10, 1000, 100000):
        y = (rng.random(n) < 0.75).astype(np.uint8)
        y[:2] = (0, 1)  # both classes even at n = 10, so every metric is defined
        signal = rng.normal(size=n) + 1.2 * y
        yield f"continuous n={n}", signal, y
        yield f"rounded n={n}", np.round(signal, 1), y            # heavy ties
        yield f"levels n={n}", rng.integers(0, 5, size=n).astype(float), y  # 5 values
        yield f"two levels n={n}", (signal > 0.5).astype(float), y
        p = 1 / (1 + np.exp(-signal))
        yield f"probabilities n={n}", np.round(p, 3), (rng.random(n) < p).astype(np.uint8)
    yield "all tied", np.full(50, 0.5), (rng.random(50) < 0.5).astype(np.uint8)
    yield "signed zeros", np.array([0.0, -0.0, 0.0, 1.0, -1.0, -0.0]), np.array(
        [1, 0, 0, 1, 0, 1], dtype=np.uint8)
    yield "all correct", rng.normal(size=10), np.ones(10, dtype=np.uint8)
    yield "all wrong", np.round(rng.normal(size=10), 1), np.zeros(10, dtype=np.uint8)
    yield "single", np.array([0.3]), np.array([1], dtype=np.uint8)
    yield "perfect", np.arange(20, dtype=float), (np.arange(20) >= 5).astype(np.uint8)
    yield "reversed", np.arange(20, dtype=float), (np.arange(20) < 5).astype(np.uint8)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    count = 0
    with tempfile.TemporaryDirectory() as tmpdir:
        for label, c, y in datasets():
            compare(label, np.asarray(c, dtype=float), np.asarray(y, dtype=np.uint8), exe, tmpdir)
            count += 1
    if failures:
        print(f"FAILED {len(failures)} checks:")
        for f in failures[:50]:
            print("  " + f)
        return 1
    print(f"OK: {count} data sets agree with scikit-learn {sklearn.__version__} within {TOL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
