"""End to end: 'misd corrupt'.

1. N x H x W float32 images (a 13 x 21 rectangle): the output has the input's shape and
   dtype, values in [0, 1]; the same --seed gives the same bytes, another seed other bytes
   (gaussian_noise), whatever --threads; brightness at severity 2 of the cifar preset is
   min(x + 0.1, 1).
2. N x D float64 images of 28 x 28 (square inferred): float64 out, and equal to the N x H x W
   float32 run of the same images; --quantize8 gives multiples of 1/255 at most 1/255 below.
   --preset mnistc changes the result (contrast: 0.4 instead of 0.75 at severity 1).
3. Usage errors exit 2 and name the problem: an unknown kind, a severity of 0 or 6, a
   non-square N x D without --height/--width, --height that disagrees with the array.
4. Bad data exits 1: a missing file, a pixel outside [0, 1], an int64 array.
Usage: python3 check_corrupt_cli.py MISD_TOOL WORK_DIR     (exit 77: numpy missing)"""
import os, subprocess, sys

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

    def corrupt(*args):
        return subprocess.run([tool, 'corrupt', *args], capture_output=True, text=True)

    def path(name):
        return os.path.join(work, name)

    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (5, 13, 21)).astype(np.float32)
    np.save(path('x.npy'), x)

    def run(out, kind, severity, *extra, inputs='x.npy'):
        r = corrupt('--inputs', path(inputs), '--kind', kind, '--severity', str(severity),
                    '--out', path(out), *extra)
        if r.returncode != 0:
            print(r.stderr)
        return r.returncode

    # 1.
    check(run('g1.npy', 'gaussian_noise', 3, '--seed', '7') == 0, 'gaussian_noise runs')
    g1 = np.load(path('g1.npy'))
    check(g1.shape == x.shape and g1.dtype == np.float32, f'shape and dtype kept: {g1.shape} {g1.dtype}')
    check(bool(np.all((g1 >= 0) & (g1 <= 1))), 'values in [0, 1]')
    check(run('g2.npy', 'gaussian_noise', 3, '--seed', '7', '--threads', '3') == 0, 'threads 3 runs')
    same = open(path('g1.npy'), 'rb').read() == open(path('g2.npy'), 'rb').read()
    check(same, 'same seed, 3 threads: the same bytes')
    check(run('g3.npy', 'gaussian_noise', 3, '--seed', '8') == 0, 'seed 8 runs')
    check(not np.array_equal(g1, np.load(path('g3.npy'))), 'another seed: other values')
    sd = float(np.std((g1 - x)[(x > 0.3) & (x < 0.7)]))  # cifar severity 3: sigma 0.08
    check(abs(sd - 0.08) < 0.01, f'noise sd {sd:.4f} ~ 0.08')
    check(run('b.npy', 'brightness', 2) == 0, 'brightness runs')
    b = np.load(path('b.npy'))
    check(float(np.max(np.abs(b - np.minimum(x + np.float32(0.1), 1)))) < 1e-6, 'brightness = min(x + 0.1, 1)')

    # 2.
    sq = rng.uniform(0, 1, (4, 28, 28))
    np.save(path('sq64.npy'), sq.reshape(4, 784))
    np.save(path('sq32.npy'), sq.astype(np.float32))
    check(run('e64.npy', 'elastic', 2, '--seed', '1', inputs='sq64.npy') == 0, 'N x D float64 runs')
    check(run('e32.npy', 'elastic', 2, '--seed', '1', inputs='sq32.npy') == 0, 'N x H x W float32 runs')
    e64, e32 = np.load(path('e64.npy')), np.load(path('e32.npy'))
    check(e64.dtype == np.float64 and e64.shape == (4, 784), f'float64 N x D kept: {e64.dtype} {e64.shape}')
    check(np.array_equal(e64.reshape(4, 28, 28).astype(np.float32), e32), 'square inferred: same as N x H x W')
    check(run('q.npy', 'elastic', 2, '--seed', '1', '--quantize8', inputs='sq32.npy') == 0, '--quantize8 runs')
    q = np.load(path('q.npy')).astype(np.float64)
    lv = q * 255
    check(bool(np.all(np.abs(lv - np.round(lv)) < 1e-3)), 'quantize8: multiples of 1/255')
    check(bool(np.all((q <= e32 + 1e-6) & (e32 < q + 1 / 255 + 1e-6))), 'quantize8: at most 1/255 below')
    check(run('c.npy', 'contrast', 1, '--preset', 'mnistc', inputs='sq32.npy') == 0, 'mnistc runs')
    c = np.load(path('c.npy')).astype(np.float64)
    m = sq.astype(np.float32).astype(np.float64).mean(axis=(1, 2), keepdims=True)
    check(float(np.max(np.abs(c - ((sq.astype(np.float32) - m) * 0.4 + m)))) < 1e-6, 'mnistc contrast c = 0.4')

    # 3.
    def usage(args, words, what):
        r = corrupt(*args)
        check(r.returncode == 2 and all(w in r.stderr for w in words),
              f'{what}: exit {r.returncode}, stderr {r.stderr.strip()!r}')

    base = ['--inputs', path('x.npy'), '--out', path('u.npy')]
    usage(base + ['--kind', 'fog', '--severity', '1'], ['--kind', 'fog', 'gaussian_noise'], 'unknown kind')
    usage(base + ['--kind', 'jpeg', '--severity', '0'], ['--severity', '[1, 5]'], 'severity 0')
    usage(base + ['--kind', 'jpeg', '--severity', '6'], ['--severity', '6'], 'severity 6')
    np.save(path('flat.npy'), rng.uniform(0, 1, (2, 30)).astype(np.float32))
    usage(['--inputs', path('flat.npy'), '--out', path('u.npy'), '--kind', 'jpeg', '--severity', '1'],
          ['30', 'square'], 'non-square N x D')
    usage(base + ['--kind', 'jpeg', '--severity', '1', '--height', '12'], ['--height', '13'], '--height disagrees')
    check(not os.path.exists(path('u.npy')), 'no output after a usage error')

    # 4.
    def bad(args, words, what):
        r = corrupt(*args)
        check(r.returncode == 1 and all(w in r.stderr for w in words),
              f'{what}: exit {r.returncode}, stderr {r.stderr.strip()!r}')

    bad(['--inputs', path('missing.npy'), '--out', path('u.npy'), '--kind', 'jpeg', '--severity', '1'],
        ['missing.npy'], 'missing file')
    y = x.copy()
    y[2, 3, 4] = 1.5
    np.save(path('bad.npy'), y)
    bad(['--inputs', path('bad.npy'), '--out', path('u.npy'), '--kind', 'jpeg', '--severity', '1'],
        ['pixel 67 of image 2', '1.5'], 'pixel outside [0, 1]')
    np.save(path('int.npy'), np.zeros((2, 4, 4), dtype=np.int64))
    bad(['--inputs', path('int.npy'), '--out', path('u.npy'), '--kind', 'jpeg', '--severity', '1'],
        ['float32 or float64'], 'int64 images')
    check(not os.path.exists(path('u.npy')), 'no output after bad data')

    print(f'{len(failures)} failures' if failures else 'misd corrupt: all checks passed')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
