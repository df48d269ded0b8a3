"""Scaling of misd over processes on one machine (bench/README.md, "Distributed").

score:     'misd score --method rr-bs --threads 1' on Fashion-MNIST test images with an MLP
           784-512-256-10 trained by 'misd train' (1 epoch, Standard), as 1 process and as
           2 ranks over Gloo (RANK/WORLD_SIZE/MASTER_* set as a launcher sets them), each
           run REPEATS times, alternating, with a control: two independent one-process runs
           on the two halves at once (no communication at all), whose speed-up over one
           process is what the machine allows at that moment (other jobs share its 2 cores).
           Reports each run's wall time (process start to the last exit), the CPU time of
           all its processes (user + system: what 2 ranks cost beyond one process, whatever
           else runs on the machine) and the speed-ups.
allreduce: the all-reduce of a WideResNet-28-10's 36.5M parameters over Gloo on 127.0.0.1,
           2 processes (PyTorch's torch.distributed, the same Gloo as LibTorch's), float32
           and float64 (misd's fit all-reduces float64), median of 5 after one warm-up.
Usage: /usr/bin/python3 bench/distributed_scaling.py MISD_TOOL WORK_DIR [score|allreduce]...
       (environment REPEATS, default 3; IMAGES, default 4096, up to 70,000: the test images,
       then the training images)"""
import gzip, os, resource, socket, subprocess, sys, time

import numpy as np

FMNIST = os.environ.get('MISD_FASHION_MNIST', '/usr/share/datasets/fashion-mnist')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ranks(cmd, world):
    port = free_port()
    procs = []
    for r in range(world):
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(world), LOCAL_RANK=str(r),
                   MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), OMP_NUM_THREADS='1')
        if world == 1:
            for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
                env.pop(k)
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate() for p in procs]
    if any(p.returncode for p in procs):
        sys.exit(f'failed: {cmd}: {[o[1] for o in outs]}')
    return outs


def score(tool, work):
    images = int(os.environ.get('IMAGES', 4096))
    repeats = int(os.environ.get('REPEATS', 3))
    model = os.path.join(work, 'mlp')
    if not os.path.exists(os.path.join(model, 'weights_0.npy')):
        subprocess.run([tool, 'train', '--dataset', 'fashion-mnist', '--data-dir', FMNIST,
                        '--objective', 'standard', '--epochs', '1', '--out', model],
                       check=True, capture_output=True)
    x = os.path.join(work, f'test{images}.npy')
    # The 10,000 test images, then the training images where more are asked for.
    parts = []
    for name in ('t10k-images-idx3-ubyte.gz', 'train-images-idx3-ubyte.gz'):
        with gzip.open(os.path.join(FMNIST, name)) as f:
            parts.append(np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784))
    pixels = np.concatenate(parts)
    np.save(x, (pixels[:images] / 255.0).astype(np.float32))
    cmd = [tool, 'score', '--model', model, '--inputs', x, '--method', 'rr-bs', '--threads', '1',
           '--out', os.path.join(work, 'scores.npy')]
    halves = [os.path.join(work, f'half{h}.npy') for h in (0, 1)]
    split = (images + 1023) // 1024 * 512  # rank 0's rows: whole slices of 512, as misd splits
    np.save(halves[0], np.load(x)[:split])
    np.save(halves[1], np.load(x)[split:])
    times = {1: [], 2: [], 'control': []}
    rate = {1: [], 2: [], 'control': []}  # rank 0's inputs/s: loading to the last gather
    cpu = {1: [], 2: [], 'control': []}
    for rep in range(repeats):
        for world in (1, 2, 'control'):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            if world == 'control':
                procs = [subprocess.Popen([*cmd[:5], h, *cmd[6:-1], os.path.join(work, f'c{i}.npy')],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                         for i, h in enumerate(halves)]
                outs = [p.communicate() for p in procs]
                outs = [(o[0].decode(), o[1].decode()) for o in outs]
            else:
                outs = ranks(cmd, world)
            times[world].append(time.monotonic() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[world].append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
            summary = [line for line in outs[0][1].splitlines() if 'inputs in' in line]
            rate[world].append(float(summary[0].split(' inputs/s')[0].rsplit('(', 1)[1])
                               if summary else float('nan'))
            print(f'run {rep + 1}, {world}: {times[world][-1]:.2f} s wall, '
                  f'{cpu[world][-1]:.2f} s CPU (all its processes); '
                  f'{summary[0] if summary else ""}', flush=True)
    for rep in range(repeats):
        print(f'run {rep + 1}: speed-up 2 ranks {times[1][rep] / times[2][rep]:.2f}x wall '
              f'(control {times[1][rep] / times["control"][rep]:.2f}x), '
              f'{rate[2][rep] / rate[1][rep]:.2f}x scoring (inputs/s from the start of scoring '
              f'to the last gather); CPU time of 2 ranks {cpu[2][rep] / cpu[1][rep]:.2f}x one '
              f'process\'s')


ALLREDUCE = r'''
import os, sys, time, torch, torch.distributed as dist
dist.init_process_group('gloo', init_method='tcp://127.0.0.1:' + sys.argv[1],
                        rank=int(sys.argv[2]), world_size=2)
for dtype in (torch.float32, torch.float64):
    t = torch.ones(36_500_000, dtype=dtype)
    dist.all_reduce(t)
    times = []
    for _ in range(5):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(t)
        times.append(time.perf_counter() - t0)
    if dist.get_rank() == 0:
        times.sort()
        print(f'{dtype}: {t.numel() * t.element_size() / 1e6:.0f} MB, median '
              f'{times[2] * 1e3:.0f} ms (min {times[0] * 1e3:.0f}, max {times[-1] * 1e3:.0f})', flush=True)
'''


def allreduce():
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, '-c', ALLREDUCE, port, str(r)],
                              env=dict(os.environ, OMP_NUM_THREADS='1')) for r in range(2)]
    for p in procs:
        p.wait()


def main():
    tool, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(work, exist_ok=True)
    what = sys.argv[3:] or ['score', 'allreduce']
    if 'score' in what:
        score(tool, work)
    if 'allreduce' in what:
        allreduce()


if __name__ == '__main__':
    main()
