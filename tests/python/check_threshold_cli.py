"""End to end: 'misd threshold' (docs/cli.md), its output fields and exit statuses.

1. On a calibration and a test set drawn from a score with a known error rate (k ~ U(0, 1),
   P(error | k) = 0.3 (1 - k)^2), for sgr, ltt (binomial) and ltt (hoeffding-bentkus):
   exit 0; the JSON fields; the counts, coverage and empirical risk recomputed with NumPy
   from the printed threshold and rule (>= for sgr, > for ltt); the p-value at most delta;
   the test coverage and risk recomputed the same way; the table shows the same threshold.
2. Abstention (20 % errors at every score, risk 0.05): exit 0, "abstains": true, threshold
   null, nothing accepted on the test set, a warning on stderr, "abstains | yes" in the table.
3. Bad usage, exit 2: --risk 0, 1, a word; --delta 1.5; --method foo; --p-value or
   --grid-points with sgr; --grid-points 0; --test-confidence without --test-correct;
   no --risk.
4. Bad data, exit 1: a NaN confidence (the message names the index), lengths that differ,
   float correctness, a set too small to reach the bound (the message names the smallest
   size, 451 for risk 0.02 and delta 0.001).
Usage: python3 check_threshold_cli.py MISD_TOOL WORK_DIR     (exit 77: numpy missing)"""
import json
import os
import subprocess
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failures = []

    def check(ok, what):
        print(('ok   ' if ok else 'FAIL ') + what)
        if not ok:
            failures.append(what)

    def threshold(*args):
        return subprocess.run([tool, 'threshold', *map(str, args)], capture_output=True,
                              text=True)

    def save(name, a):
        p = os.path.join(work, name)
        np.save(p, a)
        return p

    rng = np.random.default_rng(7)

    def draw(m):
        k = rng.uniform(size=m)
        return k, (rng.uniform(size=m) >= 0.3 * (1 - k) ** 2).astype(np.uint8)

    ck, cy = draw(3000)
    tk, ty = draw(3000)
    C, Y, T, TY = save('c.npy', ck), save('y.npy', cy), save('t.npy', tk), save('ty.npy', ty)
    base = ['--confidence', C, '--correct', Y, '--risk', 0.05, '--delta', 0.01]
    with_test = base + ['--test-confidence', T, '--test-correct', TY]

    # 1. The three procedures.
    for method, extra in (('sgr', []), ('ltt', []),
                          ('ltt', ['--p-value', 'hoeffding-bentkus', '--grid-points', 500])):
        name = ' '.join([method, *map(str, extra)])
        r = threshold(*with_test, '--method', method, *extra, '--format', 'json')
        check(r.returncode == 0, f'{name}: exit 0 ({r.returncode}, {r.stderr.strip()})')
        if r.returncode != 0:
            continue
        j = json.loads(r.stdout)
        want = {'method', 'target_risk', 'delta', 'abstains', 'threshold', 'rule',
                'calibration_size', 'accepted', 'errors', 'coverage', 'empirical_risk',
                'risk_bound', 'test'} | ({'p_value', 'p_value_kind'} if method == 'ltt' else set())
        check(set(j) == want, f'{name}: fields {sorted(j)}')
        check(not j['abstains'], f'{name}: does not abstain')
        t = j['threshold']
        acc = ck >= t if method == 'sgr' else ck > t
        check(j['rule'] == ('>=' if method == 'sgr' else '>'), f'{name}: rule {j["rule"]}')
        n, e = int(acc.sum()), int((cy[acc] == 0).sum())
        check(j['accepted'] == n and j['errors'] == e and j['calibration_size'] == 3000,
              f'{name}: counts {j["accepted"]}, {j["errors"]} vs numpy {n}, {e}')
        check(abs(j['coverage'] - n / 3000) < 1e-12 and abs(j['empirical_risk'] - e / n) < 1e-12,
              f'{name}: coverage {j["coverage"]}, empirical risk {j["empirical_risk"]}')
        check(j['empirical_risk'] <= j['risk_bound'] <= 0.05 or method == 'ltt',
              f'{name}: empirical risk <= bound <= target')
        if method == 'ltt':
            check(j['p_value'] <= 0.01, f'{name}: p-value {j["p_value"]} <= delta')
            check(j['p_value_kind'] == ('hoeffding-bentkus' if extra else 'binomial'),
                  f'{name}: p_value_kind {j["p_value_kind"]}')
        tacc = tk >= t if method == 'sgr' else tk > t
        tn, te = int(tacc.sum()), int((ty[tacc] == 0).sum())
        s = j['test']
        check(s['size'] == 3000 and s['accepted'] == tn and s['errors'] == te
              and abs(s['coverage'] - tn / 3000) < 1e-12 and abs(s['risk'] - te / tn) < 1e-12,
              f'{name}: test {s} vs numpy {tn}, {te}')
        tab = threshold(*with_test, '--method', method, *extra)
        ok = (tab.returncode == 0 and f'| threshold | {t!r} |' in tab.stdout
              and ('| rule | accept confidence ' + j['rule'] + ' threshold |') in tab.stdout
              and '| test risk |' in tab.stdout and '| abstains | no |' in tab.stdout)
        check(ok, f'{name}: table' + ('' if ok else '\n' + tab.stdout))

    # 2. Abstention.
    m = 2000
    bad = np.zeros(m, dtype=np.uint8) + 1
    bad[::5] = 0
    BC, BY = save('bc.npy', np.linspace(0, 1, m)), save('by.npy', bad)
    for method in ('sgr', 'ltt'):
        r = threshold('--confidence', BC, '--correct', BY, '--risk', 0.05, '--delta', 0.01,
                      '--method', method, '--test-confidence', T, '--test-correct', TY,
                      '--format', 'json')
        j = json.loads(r.stdout) if r.returncode == 0 else {}
        check(r.returncode == 0 and j.get('abstains') is True and j.get('threshold') is None
              and j['accepted'] == 0 and j['test']['accepted'] == 0,
              f'abstain {method}: exit 0, flagged ({r.returncode}, {r.stdout.strip()})')
        check('warning' in r.stderr and 'abstains' in r.stderr,
              f'abstain {method}: warning on stderr ({r.stderr.strip()})')
        tab = threshold('--confidence', BC, '--correct', BY, '--risk', 0.05, '--delta', 0.01,
                        '--method', method)
        check(tab.returncode == 0 and '| abstains | yes |' in tab.stdout,
              f'abstain {method}: table says so')

    # 3. Bad usage: exit 2, the flag named.
    usage = [
        (['--risk', 0], '--risk'), (['--risk', 1], '--risk'), (['--risk', 'abc'], '--risk'),
        (['--delta', 1.5], '--delta'), (['--method', 'foo'], '--method'),
        (['--p-value', 'binomial'], '--p-value'), (['--grid-points', 10], '--grid-points'),
        (['--method', 'ltt', '--grid-points', 0], '--grid-points'),
        (['--method', 'ltt', '--p-value', 'exact'], '--p-value'),
        (['--test-confidence', T], '--test-correct'),
    ]
    for args, flag in usage:
        merged = list(base)
        for i in range(0, len(args), 2):
            if args[i] in merged:
                merged[merged.index(args[i]) + 1] = args[i + 1]
            else:
                merged += args[i:i + 2]
        r = threshold(*merged)
        check(r.returncode == 2 and flag in r.stderr,
              f'usage {args}: exit 2 naming {flag} ({r.returncode}, {r.stderr.strip()})')
    r = threshold('--confidence', C, '--correct', Y, '--delta', 0.01)
    check(r.returncode == 2 and 'missing required option --risk' in r.stderr,
          f'no --risk: exit 2 ({r.returncode}, {r.stderr.strip()})')

    # 4. Bad data: exit 1.
    nan = ck.copy()
    nan[17] = np.nan
    r = threshold('--confidence', save('nan.npy', nan), '--correct', Y, '--risk', 0.05,
                  '--delta', 0.01)
    check(r.returncode == 1 and 'index 17' in r.stderr,
          f'NaN confidence: exit 1 naming index 17 ({r.returncode}, {r.stderr.strip()})')
    r = threshold('--confidence', C, '--correct', save('short.npy', cy[:-1]), '--risk', 0.05,
                  '--delta', 0.01)
    check(r.returncode == 1 and '3000 values' in r.stderr and '2999' in r.stderr,
          f'lengths differ: exit 1 ({r.returncode}, {r.stderr.strip()})')
    r = threshold('--confidence', C, '--correct', save('float.npy', cy.astype(np.float64)),
                  '--risk', 0.05, '--delta', 0.01)
    check(r.returncode == 1, f'float correctness: exit 1 ({r.returncode}, {r.stderr.strip()})')
    for method, need in (('sgr', 451), ('ltt', 342)):
        r = threshold('--confidence', save('small.npy', ck[:300]), '--correct',
                      save('smally.npy', np.ones(300, dtype=np.uint8)), '--risk', 0.02,
                      '--delta', 0.001, '--method', method)
        check(r.returncode == 1 and f'needs at least {need}' in r.stderr,
              f'too small ({method}): exit 1 naming {need} ({r.returncode}, {r.stderr.strip()})')

    if failures:
        print(f'{len(failures)} failures')
        sys.exit(1)
    print('all checks passed')


if __name__ == '__main__':
    main()
