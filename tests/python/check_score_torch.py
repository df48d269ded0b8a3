"""End to end: 'misd score --model m.pt' against the same algorithms written directly in
PyTorch (Debian's python3-torch 1.13, the user's path).

Exports a small CNN to TorchScript, writes inputs as NPY, runs the misd tool for rr-fast and
rr-bs, and compares with RR-Fast and RR-BS (FGSM direction once, budget 25) computed here:
within 1e-4 relative. The reference direction is PyTorch's own: autograd of the
cross-entropy of log_softmax(z / T) taken in float64, none of misd's arithmetic. Where the
softmax saturates (a float64 log_softmax gradient rounds to zero beyond a gap of about 37 T)
no such reference exists, so a TorchScript linear 2-class model is checked against its exact
radius instead, at gaps up to 600 and T in {0.2, 0.5, 1, 2}. rr-bs with --steps-per-pass 3
is held to the same reference; --tf32 on/off leave CPU scores unchanged, --bf16 MSR agrees to
bf16 precision, and a bad --tf32 value is a usage error. Also checks the tool's errors
for a file that is not TorchScript and for a CUDA request on a machine without CUDA.
Usage: python3 check_score_torch.py MISD_TOOL WORK_DIR      (exit 77: torch/numpy missing)"""
import os, subprocess, sys

try:
    import numpy as np
    import torch, torch.nn as nn
except ImportError:
    sys.exit(77)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(8 * 5 * 5, 7))

    def forward(self, x):
        return self.body(x)


def direction(net, x, T):
    """sign(∇_x CE(f(x)/T, ŷ)) by PyTorch's autograd, the loss in float64:
    nll(log_softmax(z.double() / T), ŷ), back through the float network."""
    xr = x.clone().requires_grad_(True)
    z = net(xr)
    zd = z.double()
    pred = zd.detach().argmax(1)
    loss = torch.nn.functional.nll_loss(torch.log_softmax(zd / T, 1), pred, reduction='sum')
    dx, = torch.autograd.grad(loss, xr)
    return zd.detach(), pred, torch.sign(dx)


def rr_fast(net, x, T=1.0, alpha=1e-3):
    z0, pred, d = direction(net, x, T)
    with torch.no_grad():
        z1 = net(x + torch.tensor(alpha, dtype=torch.float64).float() * d).double()
    n = len(x)
    ar = torch.arange(n)
    dy = (z1 - z0)[ar, pred]
    slope = ((z1 - z0) - dy[:, None]) / alpha
    gap = z0[ar, pred][:, None] - z0
    q = torch.where(slope > 0, gap / slope, torch.full_like(gap, float('inf')))
    q[ar, pred] = float('inf')
    return q.min(1)[0].numpy()


def rr_bs(net, x, T=1.0, budget=25, r0=1e-6, box=(0.0, 1.0)):
    z0, pred, d = direction(net, x, T)
    n = len(x)
    lo = torch.full((n,), r0, dtype=torch.float64)
    hi = torch.full((n,), float('inf'), dtype=torch.float64)
    with torch.no_grad():
        for _ in range(budget - 1):
            r = torch.minimum((lo + hi) / 2, 2 * lo)
            xp = torch.clamp(x + r.float()[:, None, None, None] * d, box[0], box[1])
            same = net(xp).double().argmax(1) == pred
            lo = torch.where(same, r, lo)
            hi = torch.where(same, hi, r)
    zero = (d.flatten(1) == 0).all(1)
    out = torch.where(torch.isinf(hi), lo, (lo + hi) / 2)
    return torch.where(zero, torch.zeros_like(out), out).numpy()


def run(tool, *args):
    return subprocess.run([tool, 'score', *args], capture_output=True, text=True)


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(11)
    net = Net().eval()
    model = os.path.join(work, 'm.pt')
    torch.jit.script(net).save(model)
    x = torch.rand(48, 1, 10, 10)
    np.save(os.path.join(work, 'x.npy'), x.numpy())
    failures = 0
    for method, ref, extra in [('rr-fast', rr_fast(net, x), []),
                               ('rr-bs', rr_bs(net, x), ['--box', '0,1'])]:
        out = os.path.join(work, method + '.npy')
        p = run(tool, '--model', model, '--inputs', os.path.join(work, 'x.npy'),
                '--method', method, '--out', out, '--device', 'cpu', *extra)
        if p.returncode != 0:
            print(f'{method}: exit {p.returncode}: {p.stderr}')
            failures += 1
            continue
        got = np.load(out).astype(np.float64)
        fin = np.isfinite(ref)
        rel = np.abs(got[fin] - ref[fin]) / np.maximum(np.abs(ref[fin]), 1e-12)
        same_inf = np.array_equal(np.isinf(got), np.isinf(ref))
        print(f'{method}: n={len(ref)} median radius {np.median(ref[fin]):.6g}, '
              f'max rel diff {rel.max():.3g}, infinities agree {same_inf}')
        if rel.max() > 1e-4 or not same_inf:
            failures += 1
    # Saturation: a TorchScript nn.Linear(2, 2) with W = [[1000, 0], [-1000, 0]]; the exact
    # L-inf radius of (x1, 0.5) is x1 (gap 2000 x1).
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1000.0, 0.0], [-1000.0, 0.0]]))
        lin.bias.zero_()
    lin_path = os.path.join(work, 'linear.pt')
    torch.jit.script(lin).save(lin_path)
    x1 = np.array([0.001, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3], dtype=np.float32)
    xl = os.path.join(work, 'x-linear.npy')
    np.save(xl, np.stack([x1, np.full_like(x1, 0.5)], 1))
    exact = x1.astype(np.float64)
    for t in ('0.2', '0.5', '1', '2'):
        for method in ('rr-fast', 'rr-bs'):
            out = os.path.join(work, 'linear-' + method + '.npy')
            # rr-fast over a finite-difference step of 0.1: the float32 logits (up to 300,
            # multiples of 3e-5) would round a difference over the default 1e-3 by 3e-5
            # relative; the model is linear, so any step gives the exact crossing.
            p = run(tool, '--model', lin_path, '--inputs', xl, '--method', method, '--out', out,
                    '--budget', '40', '--temperature', t, '--fd-step', '0.1')
            if p.returncode != 0:
                print(f'linear {method} T={t}: exit {p.returncode}: {p.stderr}')
                failures += 1
                continue
            rel = np.abs(np.load(out) - exact) / exact
            print(f'linear {method} T={t}: max |radius / exact - 1| {rel.max():.3g}')
            if rel.max() > 1e-5:
                failures += 1
    # --steps-per-pass 3: the same rr-bs radii as one step per pass (against the PyTorch
    # reference as above); --tf32 off and --bf16 run (on the CPU TF32 changes nothing; bf16
    # MSR agrees with fp32's to bf16's precision); a bad --tf32 value is a usage error.
    xs = os.path.join(work, 'x.npy')
    out3, out1 = os.path.join(work, 'steps3.npy'), os.path.join(work, 'rr-bs.npy')
    p = run(tool, '--model', model, '--inputs', xs, '--method', 'rr-bs', '--box', '0,1',
            '--steps-per-pass', '3', '--out', out3)
    ok = p.returncode == 0 and os.path.exists(out1)
    if ok:
        ref = rr_bs(net, x)
        fin = np.isfinite(ref)
        got = np.load(out3)
        rel = np.abs(got[fin] - ref[fin]) / np.maximum(np.abs(ref[fin]), 1e-12)
        ok = rel.max() <= 1e-4 and np.array_equal(np.isinf(got), np.isinf(ref))
        print(f'rr-bs --steps-per-pass 3: max rel diff to PyTorch {rel.max():.3g}')
    if not ok:
        print(f'rr-bs --steps-per-pass 3: exit {p.returncode}: {p.stderr}')
        failures += 1
    outs = {}
    for flags in (['--tf32', 'off'], ['--tf32', 'on'], ['--bf16'], []):
        o = os.path.join(work, 'msr-' + '-'.join(f.strip('-') for f in flags) + '.npy')
        p = run(tool, '--model', model, '--inputs', xs, '--method', 'msr', '--out', o, *flags)
        if p.returncode != 0:
            print(f'msr {flags}: exit {p.returncode}: {p.stderr}')
            failures += 1
        else:
            outs[' '.join(flags)] = np.load(o)
    if len(outs) == 4:
        fp32 = outs['']
        same = all(np.array_equal(outs[k], fp32) for k in ('--tf32 off', '--tf32 on'))
        bf16 = np.abs(outs['--bf16'] - fp32).max()
        print(f'msr: --tf32 on/off equal to the default on the CPU: {same}; bf16 max diff {bf16:.3g}')
        if not same or not 0 < bf16 < 0.05:
            failures += 1
    p = run(tool, '--model', model, '--inputs', xs, '--method', 'msr', '--tf32', 'yes')
    if p.returncode != 2 or '--tf32 expects on or off' not in p.stderr:
        print(f'--tf32 yes: exit {p.returncode}: {p.stderr}')
        failures += 1
    # Bad input: a file that is not TorchScript (exit 1), CUDA where there is none (exit 2).
    bad = os.path.join(work, 'bad.pt')
    with open(bad, 'w') as f:
        f.write('not a model\n')
    p = run(tool, '--model', bad, '--inputs', os.path.join(work, 'x.npy'), '--method', 'msr')
    print('not TorchScript:', p.returncode, p.stderr.strip())
    if p.returncode != 1 or 'is not a TorchScript model file' not in p.stderr:
        failures += 1
    if not torch.cuda.is_available():
        p = run(tool, '--model', model, '--inputs', os.path.join(work, 'x.npy'), '--method',
                'msr', '--device', 'cuda')
        print('cuda request:', p.returncode, p.stderr.strip())
        if p.returncode != 2 or 'no CUDA device is available' not in p.stderr:
            failures += 1
    print('FAILED' if failures else 'OK')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
