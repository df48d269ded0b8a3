#!/usr/bin/env python3
"""misd's least-L-infinity projection onto a hyperplane in a box against scipy's linprog.

For u, w, b and a box [lo, hi] the step d solves: minimise t subject to |d_i| <= t,
w.(u + d) = b, lo <= u + d <= hi. The C++ side (tests/linf_projection_cli.cpp) answers many
random instances; each step must be feasible and as short as the LP's optimum. Where the
hyperplane misses the box, the step must reach the box point with w.z nearest b (an LP too).

Usage: check_linf_projection.py LINF_PROJECTION_CLI. Exit 77 when numpy or scipy is missing.
"""
import subprocess
import sys

try:
    import numpy as np
    from scipy.optimize import linprog
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)


def instances(rng):
    out = []
    for k in range(400):
        n = int(rng.integers(1, 25)) if k % 10 else int(rng.integers(100, 800))
        boxed = k % 4 != 0
        lo = rng.uniform(-1.0, 0.0, n) if boxed else None
        hi = rng.uniform(0.1, 1.0, n) if boxed else None
        u = rng.uniform(lo, hi) if boxed else rng.normal(size=n)
        if boxed and k % 3 == 0:  # features already at an edge (no room one way)
            at = rng.random(n) < 0.3
            u[at] = np.where(rng.random(at.sum()) < 0.5, lo[at], hi[at])
        w = rng.normal(size=n)
        w[rng.random(n) < 0.15] = 0.0  # features the hyperplane ignores
        if k % 7 == 0:
            w = np.round(w)  # ties in |w| and in rooms
        # b: mostly near w.u (reachable), sometimes far (H misses the box).
        b = float(w @ u + rng.normal() * (8.0 if k % 5 == 0 else 1.0))
        out.append((n, b, boxed, u, w, lo, hi))
    return out


def lp_step(n, b, boxed, u, w, lo, hi):
    """Optimum t of the LP in (d, t), or None when infeasible."""
    c = np.zeros(n + 1)
    c[-1] = 1.0
    eye = np.eye(n)
    ones = -np.ones((n, 1))
    a_ub = np.block([[eye, ones], [-eye, ones]])
    b_ub = np.zeros(2 * n)
    a_eq = np.concatenate([w, [0.0]])[None, :]
    bounds = [((lo[i] - u[i], hi[i] - u[i]) if boxed else (None, None)) for i in range(n)]
    bounds.append((0, None))
    r = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[b - w @ u], bounds=bounds,
                method="highs")
    if r.status == 2:
        return None
    assert r.status == 0, r.message
    return r.fun


def main():
    rng = np.random.default_rng(20261130)
    cases = instances(rng)
    text = []
    for n, b, boxed, u, w, lo, hi in cases:
        parts = [f"{n} {b!r} {int(boxed)}"] + [" ".join(repr(float(v)) for v in a)
                                                for a in ([u, w] + ([lo, hi] if boxed else []))]
        text.append("\n".join(parts))
    # The projection's Newton steps alone (up to 100), then its selection alone (0 steps).
    answers = []
    for steps in ("100", "0"):
        run = subprocess.run([sys.argv[1], steps], input="\n".join(text) + "\n",
                             capture_output=True, text=True, check=True)
        lines = run.stdout.strip().split("\n")
        assert len(lines) == len(cases), (len(lines), len(cases))
        answers += [(steps, case, line) for case, line in zip(cases, lines)]
    failures = 0
    reached = missed = 0
    for k, (steps, (n, b, boxed, u, w, lo, hi), line) in enumerate(answers):
        v = [float(x) for x in line.split()]
        reachable, step, d = bool(v[0]), v[1], np.array(v[2:])
        z = u + d
        scale = 1.0 + np.abs(w) @ np.abs(u) + abs(b)
        ok = abs(step - np.max(np.abs(d), initial=0.0)) <= 1e-15 * (1 + step)
        ok &= bool(np.all(d[w == 0] == 0))
        if boxed:
            ok &= bool(np.all(z >= lo - 1e-12) and np.all(z <= hi + 1e-12))
        t = lp_step(n, b, boxed, u, w, lo, hi)
        if t is not None:
            reached += 1
            ok &= reachable
            ok &= abs(w @ z - b) <= 1e-10 * scale
            ok &= abs(step - t) <= 1e-8 * (1 + t)
        else:
            missed += 1
            ok &= not reachable
            # The box point with w.z nearest b: the extreme of w.z over the box on b's side.
            # (Without a box only w = 0 misses H: nothing moves.)
            sense = 1.0 if b > w @ u else -1.0
            bounds = list(zip(lo, hi)) if boxed else [(x, x) for x in u]
            r = linprog(-sense * w, bounds=bounds, method="highs")
            ok &= abs(w @ z - w @ r.x) <= 1e-10 * scale
        if not ok:
            failures += 1
            print(f"instance {k % len(cases)} (newton steps {steps}): n={n} boxed={boxed} "
                  f"reachable={reachable} step={step} lp={t}")
    print(f"{len(cases)} instances, each with Newton steps and with the selection "
          f"({reached} reachable, {missed} missing the box), {failures} failures")
    return 1 if failures or missed == 0 or reached == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
