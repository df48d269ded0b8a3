"""End to end: what 'misd score' shows on stderr.

1. stderr is a pipe: no progress, exactly one summary line: method, inputs, inputs/s and,
   for a radius estimator, the count of each status (equal to those of --out-status).
2. stderr is a terminal (a pseudo-terminal): the progress line is drawn in place ('\\r',
   percent done, inputs/s, time left) and reaches 100%, then the summary line.
3. --quiet: nothing on stderr, in a pipe or on a terminal; stdout (the metrics) unchanged.
Usage: python3 check_score_progress.py MISD_TOOL WORK_DIR     (exit 77: numpy missing)"""
import os, pty, re, select, subprocess, sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)

NAMES = ['bracketed', 'not_bracketed', 'linear_estimate', 'zero_direction']
failures = []


def check(ok, what):
    print(('ok   ' if ok else 'FAIL ') + what)
    if not ok:
        failures.append(what)


def on_terminal(cmd):
    """Runs cmd with stderr on a pseudo-terminal; returns (exit code, stdout, terminal text)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b''
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out = p.stdout.read()
    code = p.wait()
    os.close(master)
    return code, out.decode(), seen.decode(errors='replace')


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    model = os.path.join(work, 'mlp')
    os.makedirs(model, exist_ok=True)
    for i, (w, b) in enumerate([(rng.normal(size=(32, 8)), rng.normal(size=32)),
                                (rng.normal(size=(4, 32)), rng.normal(size=4))]):
        np.save(os.path.join(model, f'weights_{i}.npy'), w.astype(np.float32))
        np.save(os.path.join(model, f'biases_{i}.npy'), b.astype(np.float32))
    x, y = os.path.join(work, 'x.npy'), os.path.join(work, 'y.npy')
    np.save(x, rng.uniform(size=(3000, 8)).astype(np.float32))
    np.save(y, rng.integers(0, 4, size=3000).astype(np.int64))
    st = os.path.join(work, 'st.npy')
    base = [tool, 'score', '--model', model, '--inputs', x, '--labels', y, '--method', 'rr-bs',
            '--box', '0,1', '--out-status', st]

    p = subprocess.run(base, capture_output=True, text=True)
    check(p.returncode == 0, f'pipe: exit {p.returncode}')
    lines = p.stderr.splitlines()
    summary = [l for l in lines if l.startswith('misd score: rr-bs, 3000 inputs in ')]
    check('\r' not in p.stderr and len(summary) == 1,
          f'pipe: no progress, one summary line: {p.stderr!r}')
    if summary and os.path.exists(st):
        codes = np.load(st)
        want = ', '.join(f'{NAMES[k]} {int((codes == k).sum())}' for k in range(4))
        check(re.search(r'in [0-9.]+ s \([0-9]+ inputs/s\); ' + re.escape(want) + '$', summary[0])
              is not None, f'pipe: summary {summary[0]!r} counts {want}')
    table = p.stdout

    code, out, term = on_terminal(base)
    check(code == 0, f'terminal: exit {code}')
    check('\r' in term and re.search(r'misd score: rr-bs \[[#.]+\] +[0-9]+%', term) is not None
          and '100%' in term and 'inputs/s' in term and 'left' in term,
          f'terminal: progress drawn in place up to 100%: {term[-300:]!r}')
    check('misd score: rr-bs, 3000 inputs in ' in term, 'terminal: summary line after it')
    check(out == table, 'terminal: the same metrics on stdout')

    p = subprocess.run(base + ['--quiet'], capture_output=True, text=True)
    check(p.returncode == 0 and p.stderr == '' and p.stdout == table,
          f'--quiet in a pipe: stderr {p.stderr!r}')
    code, out, term = on_terminal(base + ['--quiet'])
    check(code == 0 and term.strip() == '' and out == table, f'--quiet on a terminal: {term!r}')
    print('FAILED: ' + '; '.join(failures) if failures else 'OK')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
