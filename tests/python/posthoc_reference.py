#!/usr/bin/env python3
"""Cross-checks misd's post-hoc scores (printed by tests/test_posthoc_json) against references
written from the definitions of docs/algorithms.md, "Confidence scores" and "Combined score".

Usage: posthoc_reference.py PATH_TO_test_posthoc_json

1. MaxLogit-pNorm, p-NormSoftmax and GEN with the plain formulas (norm (sum |z|^p)^(1/p),
   softmax exp(x_k) / sum exp(x_j), G = sum over the top M of p^g (1 - p)^g) in mpmath with
   enough digits to hold 1 - p_top, on random logits and on saturated ones (margins up to 2000, where a float64
   softmax gives exactly 1.0): every value within 1e-12 relative (1e-300 absolute).
2. The registry's grid selection through the protocol (one seed): the first grid point of lowest
   validation AURC, with nu = mean validation p-norm and tau = T / nu, re-implemented in NumPy
   (AURC: tie-grouped risk-coverage trapezoid); the chosen point must match exactly and the
   validation and test AURC within 1e-12.
3. The combined score against scikit-learn's LogisticRegression (C = 1 / ridge, intercept not
   penalised) on the same clamped, standardised features: weights, intercept and test scores
   within 1e-6 (relative to 1 + |value|).
Exits 77 (CTest skip) when NumPy, mpmath or scikit-learn is missing, 1 on any mismatch.
"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

try:
    import mpmath
    import numpy as np
    from sklearn.linear_model import LogisticRegression
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


def write(path, header, *blocks):
    with open(path, "w") as f:
        f.write(" ".join(map(str, header)) + "\n")
        for b in blocks:
            f.write(" ".join(repr(float(v)) for v in np.ravel(b)) + "\n")


# ---- 1. the scores -------------------------------------------------------------------------
def ref_norm(row, p):
    if p == 0:
        return mpmath.mpf(1)
    s = mpmath.fsum(abs(v) ** p for v in row)
    return max(s ** (mpmath.mpf(1) / p), mpmath.mpf("1e-12"))


def shifted(row, centre):
    row = [mpmath.mpf(float(v)) for v in row]
    if centre:
        mu = mpmath.fsum(row) / len(row)
        row = [v - mu for v in row]
    return row


def ref_softmax(x):
    e = [mpmath.exp(v) for v in x]
    s = mpmath.fsum(e)
    return [v / s for v in e]


def ref_scores(z, p, tau, gamma, m, t, centre):
    out = {"norm": [], "maxlogit_pnorm": [], "pnorm_softmax": [], "gen": []}
    for row in z:
        zt = shifted(row, centre)
        n = ref_norm(zt, p)
        out["norm"].append(n)
        out["maxlogit_pnorm"].append(max(zt) / n)
        out["pnorm_softmax"].append(mpmath.log(max(ref_softmax([v / (tau * n) for v in zt]))))
        q = sorted(ref_softmax([mpmath.mpf(float(v)) / t for v in row]), reverse=True)
        g = mpmath.fsum(v ** gamma * (1 - v) ** gamma for v in q[: min(m, len(q))])
        out["gen"].append(-mpmath.log(g))
    return out


def close_rel(name, got, want, rel=1e-12, absolute=1e-300):
    for i, (g, w) in enumerate(zip(got, want)):
        err = abs(mpmath.mpf(g) - w)
        if not err <= rel * abs(w) + absolute:
            check(f"{name}[{i}]", False, f"got {g!r}, want {mpmath.nstr(w, 20)}")
            return
    check(name, len(got) == len(want), f"{len(got)} values, want {len(want)}")


rng = np.random.default_rng(20240611)
random_logits = rng.normal(0, 3, size=(24, 10))
saturated = rng.normal(0, 1, size=(12, 10))
for i, margin in enumerate([40, 80, 200, 500, 800, 1200, 2000, 745, 60, 100, 300, 1500]):
    saturated[i, i % 10] = saturated[i].max() + margin
# The test must exercise saturation: a float64 softmax rounds these rows' top probability to 1.
naive = np.exp(saturated - saturated.max(1, keepdims=True))
check("saturated rows saturate", np.all(naive.max(1) / naive.sum(1) == 1.0))
two_class = rng.normal(0, 4, size=(10, 2))
two_class[:3, 0] += np.array([50.0, 300.0, 900.0])

cases = [
    # (logits, p, tau, gamma, M, T, centre)
    (random_logits, 2, 0.05, 0.1, 100, 1.0, 0),
    (random_logits, 0, 1.0, 0.01, 3, 0.5, 1),
    (random_logits, 1, 0.3, 2.0, 1, 1.0, 1),
    (random_logits, 3.5, 2.0, 10.0, 10, 2.0, 0),
    (random_logits, 9, 0.01, 0.5, 5, 1.0, 1),
    (saturated, 2, 0.02, 0.1, 100, 1.0, 0),
    (saturated, 0, 1.0, 0.1, 10, 1.0, 0),
    (saturated, 9, 0.01, 1.0, 2, 0.7, 1),
    (saturated, 1, 0.001, 5.0, 3, 1.0, 1),
    (two_class, 2, 0.1, 0.1, 100, 1.0, 0),
    (two_class, 4, 0.01, 2.0, 1, 1.0, 1),
]
with tempfile.TemporaryDirectory() as tmp:
    for ci, (z, p, tau, gamma, m, t, centre) in enumerate(cases):
        path = os.path.join(tmp, f"scores{ci}.txt")
        write(path, z.shape, z)
        got = run("scores", path, p, tau, gamma, m, t, centre)
        # Enough digits that 1 - p_top keeps its own: exp(-spread) needs spread / ln 10 of them.
        spread = max(np.ptp(z) / t, 2.0 / tau if p else np.ptp(z) / tau)
        mpmath.mp.dps = int(spread / np.log(10)) + 40
        want = ref_scores(z, p, tau, gamma, m, t, centre)
        for key in want:
            close_rel(f"case {ci} {key}", got[key], want[key])

    # Invariants: MaxLogit-pNorm is scale-invariant in z (p > 0); with K = 2 GEN ranks as MSR.
    path = os.path.join(tmp, "scale.txt")
    write(path, random_logits.shape, random_logits * 7.25)
    mpmath.mp.dps = 60
    scaled = run("scores", path, 3, 1.0, 0.1, 100, 1.0, 1)["maxlogit_pnorm"]
    base = ref_scores(random_logits, 3, 1.0, 0.1, 100, 1.0, 1)["maxlogit_pnorm"]
    close_rel("maxlogit-pnorm scale invariance", scaled, base)
    path = os.path.join(tmp, "two.txt")
    write(path, two_class.shape, two_class)
    two = run("scores", path, 0, 1.0, 0.5, 2, 1.0, 0)
    msr = two["pnorm_softmax"]  # p = 0, tau = 1: log MSR
    order_gen, order_msr = np.argsort(two["gen"], kind="stable"), np.argsort(msr, kind="stable")
    check("gen monotone in msr at K = 2", np.array_equal(order_gen, order_msr),
          f"{order_gen} vs {order_msr}")

    # ---- 2. grid selection -------------------------------------------------------------------
    def aurc(c, correct):
        order = np.argsort(-c, kind="mergesort")
        cs, wrong = c[order], (correct[order] == 0).astype(float)
        n = len(c)
        last = np.r_[np.flatnonzero(np.diff(cs) != 0), n - 1]
        kept = last + 1
        risk = np.cumsum(wrong)[last] / kept
        cov = np.r_[0.0, kept / n][::-1]
        risk = np.r_[risk[0], risk][::-1]
        return float(np.sum((cov[:-1] - cov[1:]) * (risk[:-1] + risk[1:]) / 2))

    def log_msr(x):
        top = x.max(1, keepdims=True)
        return -np.log(np.exp(x - top).sum(1))

    def np_norm(z, p):
        if p == 0:
            return np.ones(len(z))
        a = np.abs(z).max(1, keepdims=True)
        return np.maximum(a[:, 0] * ((np.abs(z) / a) ** p).sum(1) ** (1 / p), 1e-12)

    def np_gen(z, gamma, m):
        q = np.exp(z - z.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        q = -np.sort(-q, axis=1)[:, :m]
        return -np.log((q ** gamma * (1 - q) ** gamma).sum(1))

    n, k = 600, 5
    z = rng.normal(0, 2.5, size=(n, k))
    prob = np.exp(0.6 * z)
    prob /= prob.sum(1, keepdims=True)
    labels = np.array([rng.choice(k, p=row) for row in prob])
    correct = (z.argmax(1) == labels).astype(int)
    path = os.path.join(tmp, "select.txt")
    write(path, (n, k), z, correct)
    for seed in (0, 3):
        got = run("select", path, seed)
        val = np.array(got["validation"], dtype=int)
        test = np.setdiff1d(np.arange(n), val)
        check(f"seed {seed}: 20% validation", len(val) == round(0.2 * n))
        msr_all = log_msr(z)
        # Candidates in grid order; each is (description, confidences of all rows).
        ml = [("msr", msr_all)] + [(("p", p), z.max(1) / np_norm(z, p)) for p in range(10)]
        ps = [("msr", msr_all)]
        for p in range(10):
            nrm = np_norm(z, p)
            nu = nrm[val].mean()
            for ti in range(1, 200):
                ps.append((("p", p, ti / 100), log_msr(z / nrm[:, None] / (ti / 100 / nu))))
        gn = [(("g", g, 5), np_gen(z, g, 5)) for g in (0.01, 0.1, 0.5, 1, 2, 5, 10)]
        for name, cands in (("maxlogit-pnorm", ml), ("pnorm-softmax", ps), ("gen", gn)):
            vals = [aurc(c[val], correct[val]) for _, c in cands]
            best = int(np.argmin(vals))  # first of the lowest
            desc, conf = cands[best]
            ch = got[name]["chosen"]
            if desc == "msr":
                ok = ch["msr_fallback"]
            elif desc[0] == "p":
                ok = not ch["msr_fallback"] and ch["p"] == desc[1] and (
                    len(desc) == 2 or abs(ch["temperature"] - desc[2]) < 1e-12)
            else:
                ok = ch["gamma"] == desc[1] and ch["M"] == desc[2]
            check(f"seed {seed} {name} chosen", ok, f"misd {ch}, NumPy {desc}")
            check(f"seed {seed} {name} validation AURC",
                  abs(got[name]["validation_aurc"] - vals[best]) <= 1e-12,
                  f"{got[name]['validation_aurc']} vs {vals[best]}")
            ta = aurc(conf[test], correct[test])
            check(f"seed {seed} {name} test AURC", abs(got[name]["test_aurc"] - ta) <= 1e-12,
                  f"{got[name]['test_aurc']} vs {ta}")
        check("gen grid capped and de-duplicated", len(got["gen"]["grid"]) == 7,
              f"{len(got['gen']['grid'])} points")
        print(f"seed {seed}: maxlogit-pnorm {got['maxlogit-pnorm']['chosen']}, "
              f"pnorm-softmax {got['pnorm-softmax']['chosen']}, gen {got['gen']['chosen']}")

    # ---- 3. the combined score ----------------------------------------------------------------
    def features(a, b, lo, hi, mean, sd):
        with np.errstate(divide="ignore"):
            x = np.stack([np.log(a), b], 1)
        x = np.clip(x, lo, hi)
        return (x - mean) / sd

    for ci, ridge in enumerate((1.0, 0.01, 30.0)):
        nv, nt = 500, 200
        r = np.exp(rng.normal(-3, 1, size=nv + nt))
        s = -np.exp(rng.normal(-2, 1.5, size=nv + nt))
        r[rng.choice(nv + nt, 15, replace=False)] = 0.0  # zero_direction / radius 0
        r[rng.choice(nv + nt, 6, replace=False)] = np.inf  # no boundary found
        with np.errstate(divide="ignore"):
            eta = 0.8 * np.clip(np.log(r) + 3, -4, 4) + 0.5 * np.log(-s) * -1 + 0.3
        y = (rng.random(nv + nt) < 1 / (1 + np.exp(-eta))).astype(int)
        path = os.path.join(tmp, f"combine{ci}.txt")
        write(path, (nv, nt), r[:nv], s[:nv], y[:nv], r[nv:], s[nv:])
        got = run("combine", path, ridge)
        with np.errstate(divide="ignore"):
            raw = np.stack([np.log(r[:nv]), s[:nv]], 1)
        fin = np.where(np.isfinite(raw), raw, np.nan)
        lo, hi = np.nanmin(fin, 0) - 1, np.nanmax(fin, 0) + 1
        clamped = np.clip(raw, lo, hi)
        mean, sd = clamped.mean(0), clamped.std(0)
        xv = features(r[:nv], s[:nv], lo, hi, mean, sd)
        xt = features(r[nv:], s[nv:], lo, hi, mean, sd)
        lr = LogisticRegression(C=1 / ridge, tol=1e-12, max_iter=100000, solver="newton-cg")
        with warnings.catch_warnings():  # newton-cg's line search warns once it is at rounding level
            warnings.simplefilter("ignore")
            lr.fit(xv, y[:nv])
        tol = 1e-6
        for name, g, w in (("intercept", [got["intercept"]], lr.intercept_),
                           ("weight", got["weight"], lr.coef_[0]),
                           ("low", got["low"], lo), ("high", got["high"], hi),
                           ("mean", got["mean"], mean), ("sd", got["sd"], sd),
                           ("test", got["test"], lr.decision_function(xt))):
            g, w = np.asarray(g, float), np.asarray(w, float)
            err = np.max(np.abs(g - w) / (1 + np.abs(w)))
            check(f"combine {ci} {name}", g.shape == w.shape and err <= tol, f"max rel err {err}")
        check(f"combine {ci} finite", np.all(np.isfinite(got["test"])))
        print(f"combine ridge {ridge}: weights {got['weight']}, sklearn {lr.coef_[0]}")
    path = os.path.join(tmp, "one_class.txt")
    write(path, (4, 2), [0.1, 0.2, 0.0, np.inf], [-1, -2, -3, -0.5], [1, 1, 1, 1], [0.5, 0.0], [-1, -1])
    got = run("combine", path, 1.0)
    check("one class: not fitted, equal weights", not got["fitted"] and got["weight"] == [1, 1])

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("posthoc_reference: all checks passed")
