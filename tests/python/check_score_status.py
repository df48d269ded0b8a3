"""End to end: 'misd score' where the softmax saturates, and the radius statuses it reports.

1. The linear 2-class model W = [[1000, 0], [-1000, 0]], b = 0, inputs (x1, 0.5) for x1 in
   0.001 .. 0.3 (logit gaps 2 .. 600), in float32 and float64 model files, at T in
   {0.2, 0.5, 1, 2}: rr-fast is the exact L-inf radius x1 (relative 1e-5), rr-bs brackets it
   (relative 1e-5), every status is 'linear_estimate' / 'bracketed', and the scores file is
   float64. The tool evaluates model directories in float32; its finite difference over the default step (1e-3) is itself
   rounded: logits of up to 300 are float32 multiples of 3e-5, the difference over the
   step is 2000 * 1e-3 = 2, so the rr-fast check there uses --fd-step 0.1 (the logits are
   linear: any step gives the exact crossing), and the default step is checked against
   that rounding bound.
2. An MLP that is flat where x1 < 0.5 (relu(x1 - 0.5) is its only hidden unit): rr-bs gives
   code 3 (zero_direction) there and code 1 (not_bracketed: it never flips) elsewhere; the
   JSON counts equal the counts of the codes in --out-status; the scores there are 0; the
   tool warns on stderr.
3. --out-status with a method that is not a radius estimator is a usage error (exit 2).
4. --steps-per-pass 3 and 8 give rr-bs's radii and statuses of one step per pass, bit for
   bit, on a random MLP; 0, 9 and a non-number are usage errors (exit 2).
5. Out-of-range options of deepfool and rr-iter are usage errors (exit 2) whose message
   names the flag and the allowed range.
Usage: python3 check_score_status.py MISD_TOOL WORK_DIR     (exit 77: numpy missing)"""
import json, os, subprocess, sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)

NAMES = ['bracketed', 'not_bracketed', 'linear_estimate', 'zero_direction']


def score(tool, *args):
    return subprocess.run([tool, 'score', *args], capture_output=True, text=True)


def save_model(d, layers, dtype):
    os.makedirs(d, exist_ok=True)
    for i, (w, b) in enumerate(layers):
        np.save(os.path.join(d, f'weights_{i}.npy'), np.asarray(w, dtype=dtype))
        np.save(os.path.join(d, f'biases_{i}.npy'), np.asarray(b, dtype=dtype))


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failures = []

    def check(ok, what):
        print(('ok   ' if ok else 'FAIL ') + what)
        if not ok:
            failures.append(what)

    x1 = np.array([0.001, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3])
    labels = os.path.join(work, 'y.npy')
    np.save(labels, np.zeros(len(x1), dtype=np.int64))
    for dtype in (np.float32, np.float64):
        model = os.path.join(work, f'linear-{np.dtype(dtype).name}')
        save_model(model, [([[1000, 0], [-1000, 0]], [0, 0])], dtype)
        x = np.stack([x1, np.full_like(x1, 0.5)], 1).astype(dtype)
        xp = os.path.join(work, f'x-{np.dtype(dtype).name}.npy')
        np.save(xp, x)
        exact = x.astype(np.float64)[:, 0]  # the exact L-inf radius of the model's own input
        # float32 rounding of the default step's finite difference: 2 ulp(300) / (2000 * 1e-3),
        # relative to the radius (the tool computes in float32 whatever the file's dtype)
        default_step_rel = 2 * float(np.spacing(np.float32(300))) / 2.0 / exact
        for t in ('0.2', '0.5', '1', '2'):
            for method, code, step in (('rr-fast', 2, None), ('rr-fast', 2, '0.1'),
                                       ('rr-bs', 0, None)):
                out = os.path.join(work, 's.npy')
                st = os.path.join(work, 'st.npy')
                p = score(tool, '--model', model, '--inputs', xp, '--labels', labels, '--method',
                          method, '--temperature', t, '--budget', '40', '--out', out,
                          '--out-status', st, '--format', 'json',
                          *(['--fd-step', step] if step else []))
                what = f'{np.dtype(dtype).name} T={t} {method}' + (f' fd-step {step}' if step else '')
                if p.returncode != 0:
                    check(False, f'{what}: exit {p.returncode}: {p.stderr.strip()}')
                    continue
                s, codes, j = np.load(out), np.load(st), json.loads(p.stdout)
                rel = np.abs(s - exact) / exact
                check(s.dtype == np.float64 and codes.dtype == np.uint8,
                      f'{what}: scores {s.dtype}, statuses {codes.dtype}')
                bound = default_step_rel if (method == 'rr-fast' and step is None) else 1e-5
                check(bool((rel <= np.maximum(bound, 1e-9)).all()),
                      f'{what}: radius / exact - 1 at most {rel.max():.2e}')
                check(bool((codes == code).all()), f'{what}: every status is {NAMES[code]}')
                check(j['status'] == {NAMES[k]: int((codes == k).sum()) for k in range(4)},
                      f'{what}: JSON counts {j["status"]} match the codes')

    # A locally flat model, and radii beyond what the search can bracket.
    flat = os.path.join(work, 'flat')
    save_model(flat, [([[1, 0]], [-0.5]), ([[1], [-1]], [0.1, 0])], np.float32)
    xf = np.array([[0.1, 0.3], [0.3, 0.9], [0.7, 0.2], [0.9, 0.5]], dtype=np.float32)
    xfp = os.path.join(work, 'x-flat.npy')
    np.save(xfp, xf)
    yf = os.path.join(work, 'y-flat.npy')
    np.save(yf, np.array([0, 0, 0, 1], dtype=np.int64))
    out, st = os.path.join(work, 'flat-s.npy'), os.path.join(work, 'flat-st.npy')
    p = score(tool, '--model', flat, '--inputs', xfp, '--labels', yf, '--method', 'rr-bs',
              '--box', '0,1', '--out', out, '--out-status', st, '--format', 'json')
    check(p.returncode == 0, f'flat model: exit {p.returncode}')
    if p.returncode == 0:
        s, codes, j = np.load(out), np.load(st), json.loads(p.stdout)
        check(codes.tolist() == [3, 3, 1, 1], f'flat model: codes {codes.tolist()} == [3, 3, 1, 1]')
        check(j['status'] == {'bracketed': 0, 'not_bracketed': 2, 'linear_estimate': 0,
                              'zero_direction': 2}, f'flat model: JSON counts {j["status"]}')
        check(s[0] == 0 and s[1] == 0 and s[2] > 0 and s[3] > 0,
              f'flat model: scores {s.tolist()} (0 where not measured)')
        check('2 examples have a zero attack direction' in p.stderr and
              '2 radii are not bracketed' in p.stderr, f'flat model: stderr {p.stderr.strip()!r}')
    # Without labels the JSON still carries the counts.
    p = score(tool, '--model', flat, '--inputs', xfp, '--method', 'rr-fast', '--out', out,
              '--format', 'json')
    check(p.returncode == 0 and json.loads(p.stdout)['status']['zero_direction'] == 2,
          f'flat model without labels: {p.stdout.strip()}')
    p = score(tool, '--model', flat, '--inputs', xfp, '--method', 'msr', '--out-status', st)
    check(p.returncode == 2 and 'only for the radius estimators' in p.stderr,
          f'--out-status with msr: exit {p.returncode} {p.stderr.strip()}')
    # MSR is written as float64: two confident inputs whose float32 scores would tie.
    p = score(tool, '--model', os.path.join(work, 'linear-float64'), '--inputs',
              os.path.join(work, 'x-float64.npy'), '--method', 'msr', '--out', out)
    if p.returncode == 0:
        s = np.load(out)
        check(s.dtype == np.float64 and len(np.unique(s)) == len(s),
              f'msr: {s.dtype}, {len(np.unique(s))} distinct of {len(s)}')
    else:
        check(False, f'msr: exit {p.returncode} {p.stderr.strip()}')
    # --steps-per-pass: several search steps per forward pass, the same radii and statuses
    # bit for bit (the one-step search on the same model files), and 1..8 only.
    mlp = os.path.join(work, 'mlp')
    rng = np.random.default_rng(4)
    save_model(mlp, [(rng.normal(size=(16, 2)), rng.normal(size=16)),
                     (rng.normal(size=(3, 16)), rng.normal(size=3))], np.float32)
    xm = os.path.join(work, 'x-mlp.npy')
    np.save(xm, rng.uniform(size=(40, 2)).astype(np.float32))
    runs = {}
    for steps in ['1', '3', '8']:
        out_s, st_s = os.path.join(work, f'steps{steps}-s.npy'), os.path.join(work, f'steps{steps}-st.npy')
        p = score(tool, '--model', mlp, '--inputs', xm, '--method', 'rr-bs', '--box', '0,1',
                  '--steps-per-pass', steps, '--out', out_s, '--out-status', st_s)
        check(p.returncode == 0, f'--steps-per-pass {steps}: exit {p.returncode} {p.stderr.strip()}')
        if p.returncode == 0:
            runs[steps] = (np.load(out_s), np.load(st_s))
    for steps in ['3', '8']:
        if steps in runs and '1' in runs:
            check(np.array_equal(runs[steps][0], runs['1'][0]) and
                  np.array_equal(runs[steps][1], runs['1'][1]),
                  f'--steps-per-pass {steps}: radii and statuses equal to one step per pass')
    for bad in ['0', '9', 'x']:
        p = score(tool, '--model', mlp, '--inputs', xm, '--method', 'rr-bs', '--steps-per-pass', bad)
        check(p.returncode == 2 and '--steps-per-pass' in p.stderr,
              f'--steps-per-pass {bad}: exit {p.returncode} {p.stderr.strip()}')
    for method, flag, bad, says in [('deepfool', '--overshoot', '-1', 'must be a finite number >= 0'),
                                     ('deepfool', '--candidates', '1', 'must be in [2,'),
                                     ('deepfool', '--deepfool-steps', '0', 'must be in [1,'),
                                     ('rr-iter', '--trust-radius', '0', '> 0 or inf'),
                                     ('rr-iter', '--select', 'foo', "'per_step' or 'linear'"),
                                     ('rr-iter', '--iter-steps', '0', 'must be in [1,')]:
        p = score(tool, '--model', mlp, '--inputs', xm, '--method', method, flag, bad)
        check(p.returncode == 2 and flag in p.stderr and says in p.stderr,
              f'{method} {flag} {bad}: exit {p.returncode} {p.stderr.strip()}')
    print('FAILED: ' + '; '.join(failures) if failures else 'OK')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
