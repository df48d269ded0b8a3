"""End to end: 'misd score' and 'misd train' as several processes on 127.0.0.1 (Gloo).

Each rank is the misd tool started with the variables a launcher sets (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT on a port found free by binding port 0), plus one run
under python3 -m torch.distributed.run itself.

1. Scoring a model directory (N = 1300: slices of 512, 512 and 276 rows) with 2, 3 and 4
   ranks (4: a rank with no rows) gives the one-process scores and statuses bit for bit and
   the same JSON (metrics, status counts, pass counts), for logit scores, the radius
   estimators and the seeded random ones (rr-bs-pgd's random start, FAB's restarts); ranks
   other than 0 print nothing.
2. The same for a TorchScript model (N = 250 in --batch-size 64 slices, 3 ranks).
3. The same under python3 -m torch.distributed.run --no_python (2 processes).
4. One rank failing (its input file missing): every rank exits non-zero, rank 0 names the
   failing rank, and no output is written.
5. A rank killed mid-run: rank 0 exits non-zero within the timeout (MISD_DIST_TIMEOUT=5 s,
   checked < 30 s) with a message naming itself and the failed operation; no output.
6. MASTER_PORT already in use (MISD_DIST_TIMEOUT=2 s): rank 0 reports the address and port
   and that it is in use; rank 1, connected to a listener that is no store, is ended by the
   rendezvous watchdog (2 x 2 + 5 s); both non-zero, within 30 s.
7. Data-parallel training (Fashion-MNIST subset; skipped without the dataset): RAT with
   Mixup on 2 and 3 ranks and AT on 2 ranks give the one-process weights to 1e-5 of their largest
   magnitude (differences come only from the order of the gradient sums; measured about
   2e-7), while another seed (a different shuffle and Mixup draw) changes them by > 1e-2.
Usage: python3 check_distributed.py MISD_TOOL WORK_DIR     (exit 77: numpy missing)"""
import json, os, signal, socket, subprocess, sys, time

try:
    import numpy as np
except ImportError:
    sys.exit(77)

TIMEOUT_S = 5  # MISD_DIST_TIMEOUT: rendezvous and collectives
failures = []


def check(ok, what):
    print(('ok   ' if ok else 'FAIL ') + what, flush=True)
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def rank_env(rank, world, port, timeout_s=TIMEOUT_S):
    env = dict(os.environ)
    env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
               MISD_DIST_TIMEOUT=str(timeout_s), OMP_NUM_THREADS='1')
    return env


def start_ranks(tool, world, args, cwd=None, cwds=None, port=None, timeout_s=TIMEOUT_S):
    port = port or free_port()
    return [subprocess.Popen([tool, *args], env=rank_env(r, world, port, timeout_s),
                             cwd=(cwds[r] if cwds else cwd), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for r in range(world)]


def finish(procs, limit=60):
    out = []
    for p in procs:
        try:
            o, e = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
        out.append((p.returncode, o, e))
    return out


def run_ranks(tool, world, args, cwd):
    return finish(start_ranks(tool, world, args, cwd=cwd))


def cpu_seconds(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, IndexError, ValueError):
        return 0.0


def save_mlp(d, dims, rng):
    os.makedirs(d, exist_ok=True)
    for i in range(len(dims) - 1):
        w = rng.standard_normal((dims[i + 1], dims[i])) / np.sqrt(dims[i])
        np.save(os.path.join(d, f'weights_{i}.npy'), w.astype(np.float32))
        np.save(os.path.join(d, f'biases_{i}.npy'), (0.1 * rng.standard_normal(dims[i + 1])).astype(np.float32))


def same_outputs(work, tag, ref, got):
    """ref/got: (rc, stdout, stderr) of rank 0 and the file prefixes."""
    for kind in ('scores', 'status'):
        a, b = os.path.join(work, f'{ref}-{kind}.npy'), os.path.join(work, f'{got}-{kind}.npy')
        if not os.path.exists(a):
            continue
        x, y = np.load(a), np.load(b) if os.path.exists(b) else None
        check(y is not None and x.dtype == y.dtype and x.shape == y.shape
              and np.array_equal(x, y, equal_nan=True), f'{tag}: {kind} bit for bit')


def scoring(tool, work, rng):
    model, x, y = (os.path.join(work, n) for n in ('mlp', 'x.npy', 'y.npy'))
    save_mlp(model, [20, 32, 5], rng)
    np.save(x, rng.uniform(0, 1, (1300, 20)).astype(np.float32))
    np.save(y, rng.integers(0, 5, 1300).astype(np.int64))
    methods = {
        'odin': ['--temperature', '2', '--epsilon', '0.001'], 'rr-bs': [],
        'rr-bs-pgd': ['--seed', '5', '--budget', '5'], 'deepfool': [],
        'fab': ['--seed', '7', '--fab-iterations', '10', '--fab-targets', '2', '--fab-restarts', '2'],
    }
    worlds = {'rr-bs': (2, 3, 4), 'fab': (2, 3)}
    for m, extra in methods.items():
        radius = m.startswith('rr-') or m in ('deepfool', 'fab')

        def args(prefix):
            a = ['score', '--model', model, '--inputs', x, '--labels', y, '--method', m,
                 '--format', 'json', '--quiet', '--out', os.path.join(work, f'{prefix}-scores.npy')]
            if radius:
                a += ['--out-status', os.path.join(work, f'{prefix}-status.npy')]
            return a + extra

        ref = subprocess.run([tool, *args(f'{m}-w1')], capture_output=True, text=True)
        check(ref.returncode == 0, f'{m}: one process exits 0 ({ref.stderr.strip()[:200]})')
        for w in worlds.get(m, (2,)):
            res = run_ranks(tool, w, args(f'{m}-w{w}'), work)
            check(all(rc == 0 for rc, _, _ in res),
                  f'{m}, {w} ranks: every rank exits 0 ({[r[2].strip()[:200] for r in res if r[0]]})')
            check(res[0][1] == ref.stdout and all(o == '' for _, o, _ in res[1:]),
                  f'{m}, {w} ranks: rank 0 prints the one-process JSON, the others nothing')
            same_outputs(work, f'{m}, {w} ranks', f'{m}-w1', f'{m}-w{w}')
    return model, x, y


def scoring_torchscript(tool, work, rng):
    try:
        import torch
    except ImportError:
        print('skip TorchScript: no torch in this Python')
        return
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    pt = os.path.join(work, 'net.pt')
    torch.jit.script(net).save(pt)
    x = os.path.join(work, 'xt.npy')
    np.save(x, rng.uniform(0, 1, (250, 12)).astype(np.float32))
    for m, extra in (('rr-bs', []), ('fab', ['--seed', '3', '--fab-iterations', '10', '--fab-targets', '2'])):
        def args(prefix):
            return ['score', '--model', pt, '--inputs', x, '--method', m, '--batch-size', '64',
                    '--quiet', '--format', 'json', '--out', os.path.join(work, f'ts-{m}-{prefix}-scores.npy'),
                    '--out-status', os.path.join(work, f'ts-{m}-{prefix}-status.npy')] + extra
        ref = subprocess.run([tool, *args('w1')], capture_output=True, text=True)
        check(ref.returncode == 0, f'TorchScript {m}: one process exits 0 ({ref.stderr.strip()[:200]})')
        res = run_ranks(tool, 3, args('w3'), work)
        check(all(rc == 0 for rc, _, _ in res), f'TorchScript {m}, 3 ranks: every rank exits 0 '
              f'({[r[2].strip()[:200] for r in res if r[0]]})')
        check(res[0][1] == ref.stdout, f'TorchScript {m}, 3 ranks: the one-process JSON')
        same_outputs(work, f'TorchScript {m}, 3 ranks', f'ts-{m}-w1', f'ts-{m}-w3')


def under_torchrun(tool, work, model, x, y):
    py = sys.executable
    if subprocess.run([py, '-c', 'import torch.distributed.run'], capture_output=True).returncode:
        print('skip torch.distributed.run: not importable')
        return
    out = os.path.join(work, 'torchrun-scores.npy')
    # --redirects/--tee name a rank that does not exist: their default '0' fails in
    # Debian's torch 1.13 under Python 3.11 (Std.from_str('0') is None there).
    r = subprocess.run([py, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
                        '--master_addr', '127.0.0.1', '--master_port', str(free_port()),
                        '--redirects', '9:1', '--tee', '9:1', '--no_python', tool, 'score',
                        '--model', model, '--inputs', x, '--labels', y, '--method', 'rr-bs',
                        '--quiet', '--format', 'json', '--out', out],
                       capture_output=True, text=True, timeout=120, cwd=work,
                       env=dict(os.environ, MISD_DIST_TIMEOUT=str(TIMEOUT_S)))
    check(r.returncode == 0, f'torch.distributed.run, 2 processes: exit 0 ({r.stderr.strip()[-300:]})')
    ref = np.load(os.path.join(work, 'rr-bs-w1-scores.npy'))
    check(os.path.exists(out) and np.array_equal(np.load(out), ref),
          'torch.distributed.run, 2 processes: the one-process rr-bs scores bit for bit')


def failures_and_timeouts(tool, work, model, x, y):
    # 4. Rank 1 runs where its (relative) input file does not exist.
    elsewhere = os.path.join(work, 'elsewhere')
    os.makedirs(elsewhere, exist_ok=True)
    out = os.path.join(work, 'fail-scores.npy')
    args = ['score', '--model', model, '--inputs', 'x.npy', '--labels', y, '--method', 'rr-bs',
            '--quiet', '--out', out]
    res = finish(start_ranks(tool, 2, args, cwds=[work, elsewhere]))
    check(all(rc != 0 for rc, _, _ in res), f'one rank fails: every rank exits non-zero ({[r[0] for r in res]})')
    check('rank 1 failed' in res[0][2], f'one rank fails: rank 0 names rank 1 ({res[0][2].strip()[:300]})')
    check("'x.npy'" in res[1][2], f'one rank fails: rank 1 names its file ({res[1][2].strip()[:300]})')
    check(not os.path.exists(out), 'one rank fails: no scores written')

    # 5. A rank killed mid-run: a model and set that take seconds to score.
    rng = np.random.default_rng(11)
    big = os.path.join(work, 'big')
    save_mlp(big, [256, 384, 10], rng)
    xb = os.path.join(work, 'xb.npy')
    np.save(xb, rng.uniform(0, 1, (32 * 512, 256)).astype(np.float32))
    out = os.path.join(work, 'killed-scores.npy')
    t0 = time.monotonic()
    procs = start_ranks(tool, 2, ['score', '--model', big, '--inputs', xb, '--method', 'rr-bs',
                                  '--budget', '100', '--quiet', '--out', out], cwd=work)
    # Kill rank 1 once it has scored for a while (CPU time past start-up), not at start-up.
    while procs[1].poll() is None and cpu_seconds(procs[1].pid) < 1.0:
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    res = finish(procs, limit=60)
    took = time.monotonic() - t0
    check(res[1][0] == -signal.SIGKILL, f'kill: rank 1 was killed mid-run (rc {res[1][0]}; '
          'if it finished first, the workload is too small)')
    check(res[0][0] not in (0, None) and took < 30,
          f'kill: rank 0 exits non-zero within {took:.1f} s (rc {res[0][0]})')
    check('rank 0 of 2' in res[0][2] and 'failed' in res[0][2],
          f'kill: rank 0 says which rank and what failed ({res[0][2].strip()[:300]})')
    check(not os.path.exists(out), 'kill: no scores written')

    # 6. MASTER_PORT taken by another listener.
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.monotonic()
        res = finish(start_ranks(tool, 2, ['score', '--model', model, '--inputs', x,
                                           '--method', 'msr', '--quiet'], cwd=work, port=port,
                                 timeout_s=2))
        took = time.monotonic() - t0
    check(all(rc not in (0, None) for rc, _, _ in res) and took < 30,
          f'port in use: both ranks exit non-zero within {took:.1f} s ({[r[0] for r in res]})')
    e0 = res[0][2]
    check(f'127.0.0.1:{port}' in e0 and 'in use' in e0,
          f'port in use: rank 0 names the address and says it is in use ({e0.strip()[:300]})')
    check('rendezvous' in res[1][2] and f':{port}' in res[1][2],
          f'port in use: rank 1 reports the failed rendezvous ({res[1][2].strip()[:300]})')


def training(tool, work):
    data = os.environ.get('MISD_FASHION_MNIST', '/usr/share/datasets/fashion-mnist')
    if not os.path.exists(os.path.join(data, 'train-images-idx3-ubyte.gz')):
        print('skip training: no Fashion-MNIST in ' + data)
        return
    for objective, extra, worlds in (('rat', ['--mixup', '0.2'], (2, 3)), ('at', [], (2,))):
        base = ['train', '--dataset', 'fashion-mnist', '--data-dir', data, '--objective', objective,
                '--hidden', '32', '--epochs', '2', '--batch', '64', '--train-subset', '640',
                ] + extra
        ref_dir = os.path.join(work, f'train-{objective}-w1')
        r = subprocess.run([tool, *base, '--seed', '3', '--out', ref_dir], capture_output=True, text=True)
        check(r.returncode == 0, f'train {objective}: one process exits 0 ({r.stderr.strip()[:200]})')
        # What a wrong draw does: the same training with another seed (shuffle, Mixup, init).
        other = os.path.join(work, f'train-{objective}-seed4')
        subprocess.run([tool, *base, '--seed', '4', '--out', other], capture_output=True)
        for w in worlds:
            # Each rank in a folder of its own, --out relative: only rank 0's gets the model.
            cwds = [os.path.join(work, f'train-{objective}-w{w}-rank{r}') for r in range(w)]
            for c in cwds:
                os.makedirs(c, exist_ok=True)
            d = os.path.join(cwds[0], 'model')
            res = finish(start_ranks(tool, w, base + ['--seed', '3', '--out', 'model'], cwds=cwds))
            check(all(rc == 0 for rc, _, _ in res),
                  f'train {objective}, {w} ranks: every rank exits 0 ({[e.strip()[:200] for _, _, e in res]})')
            worst, moved = 0.0, 0.0
            for k in ('weights_0', 'biases_0', 'weights_1', 'biases_1'):
                a = np.load(os.path.join(ref_dir, k + '.npy'))
                b = np.load(os.path.join(d, k + '.npy')) if os.path.exists(os.path.join(d, k + '.npy')) else a + np.inf
                scale = np.abs(a).max()
                worst = max(worst, float(np.abs(a - b).max() / scale))
                moved = max(moved, float(np.abs(a - np.load(os.path.join(other, k + '.npy'))).max() / scale))
            print(f'     train {objective}, {w} ranks: largest difference {worst:.2e} of the largest '
                  f'weight; another seed gives {moved:.2e}')
            check(worst <= 1e-5 and moved > 1e-2,
                  f'train {objective}, {w} ranks: the one-process weights to 1e-5 ({worst:.2e})')
            check(not any(os.path.exists(os.path.join(c, 'model')) for c in cwds[1:]),
                  f'train {objective}, {w} ranks: only rank 0 writes the model')


def main():
    tool, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(2024)
    t0 = time.monotonic()
    t = time.monotonic()

    def lap(what):
        nonlocal t
        print(f'     {what}: {time.monotonic() - t:.1f} s', flush=True)
        t = time.monotonic()
    model, x, y = scoring(tool, work, rng)
    lap('scoring')
    scoring_torchscript(tool, work, rng)
    lap('TorchScript')
    under_torchrun(tool, work, model, x, y)
    lap('torch.distributed.run')
    failures_and_timeouts(tool, work, model, x, y)
    lap('failures')
    training(tool, work)
    lap('training')
    print(f'{time.monotonic() - t0:.1f} s')
    if failures:
        print(f'{len(failures)} check(s) failed')
        sys.exit(1)


if __name__ == '__main__':
    main()
