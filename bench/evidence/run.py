"""The over-confident regime measured with the misd tool: logit gaps, and MSR (log space),
RR-BS, RR-Fast, RR-Refine side by side at several temperatures, for trained CNNs.

  python3 bench/evidence/run.py MISD WORK cnn60k     # the default CNN, all 60,000 images,
                                                     # Standard, 30 epochs, no weight decay
  python3 bench/evidence/run.py MISD WORK rat-sweep  # the demo's CNN recipe (3,000 images,
                                                     # 50 epochs, batch 32, lr 0.02, no wd):
                                                     # Standard and RAT at 4 epsilons

Models are trained once into WORK (an existing model directory is reused); every misd
command run is printed before it runs. Prints Markdown tables (bench/README.md has them).
Needs numpy and Debian's dataset-fashion-mnist."""
import gzip, json, os, subprocess, sys, time

import numpy as np

DATA = '/usr/share/datasets/fashion-mnist/'
METHODS = ['msr', 'rr-bs', 'rr-fast', 'rr-refine']


def sh(cmd):
    print('$ ' + ' '.join(cmd), flush=True)
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f'failed ({p.returncode}): {p.stderr}')
    return p.stdout, p.stderr, time.time() - t0


def npy(work, part, n=None):
    x, y = os.path.join(work, f'{part}_x.npy'), os.path.join(work, f'{part}_y.npy')
    if not os.path.exists(x):
        pre = 't10k' if part == 'test' else 'train'
        img = np.frombuffer(gzip.open(DATA + pre + '-images-idx3-ubyte.gz').read(), np.uint8,
                            offset=16).reshape(-1, 784).astype(np.float32) / 255
        lab = np.frombuffer(gzip.open(DATA + pre + '-labels-idx1-ubyte.gz').read(), np.uint8,
                            offset=8).astype(np.int64)
        np.save(x, img)
        np.save(y, lab)
    if n is not None:
        xs, ys = os.path.join(work, f'{part}{n}_x.npy'), os.path.join(work, f'{part}{n}_y.npy')
        if not os.path.exists(xs):
            np.save(xs, np.load(x)[:n])
            np.save(ys, np.load(y)[:n])
        return xs, ys
    return x, y


def train(tool, out, args):
    if not os.path.exists(os.path.join(out, 'model.json')):
        _, err, s = sh([tool, 'train', '--dataset', 'fashion-mnist', '--arch', 'cnn', '--threads',
                        '2', '--out', out] + args)
        print(err.strip().splitlines()[-1] if err.strip() else '', f'({s:.0f} s)', flush=True)


def score(tool, model, x, y, method, t, work):
    out, st = os.path.join(work, 's.npy'), os.path.join(work, 'st.npy')
    cmd = [tool, 'score', '--model', model, '--inputs', x, '--labels', y, '--method', method,
           '--temperature', str(t), '--box', '0,1', '--threads', '2', '--format', 'json', '--out',
           out]
    if method.startswith('rr-'):
        cmd += ['--out-status', st]
    o, _, s = sh(cmd)
    return json.loads(o), np.load(out), s


def evaluate(tool, model, x, y, temps, work, label):
    rows = []
    j, margin, _ = score(tool, model, x, y, 'margin', 1, work)
    acc = j['accuracy']
    for t in temps:
        g = margin / t
        row = {'model': label, 'T': t, 'acc': acc, 'gap37': float((g > 36.7).mean()),
               'gap100': float((g > 100).mean()), 'gapmax': float(g.max())}
        for m in METHODS:
            j, s, secs = score(tool, model, x, y, m, t, work)
            row[m] = (j['auroc'], j['aurc'] * 1000, j.get('status'), len(s) / secs)
            if m.startswith('rr-'):
                row[m + ' zero'] = int((s == 0).sum())
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def table(rows):
    print('\n| model | T | test acc | gap/T > 36.7 | gap/T > 100 | max gap/T | '
          + ' | '.join(f'{m} AUROC / AURC×1000' for m in METHODS) + ' | statuses (not bracketed, zero direction) |')
    print('|' + '---|' * (6 + len(METHODS) + 1))
    for r in rows:
        st = []
        for m in METHODS[1:]:
            c = r[m][2] or {}
            st.append(f"{m}: {c.get('not_bracketed', 0)}, {c.get('zero_direction', 0)}")
        print(f"| {r['model']} | {r['T']} | {100 * r['acc']:.2f}% | {100 * r['gap37']:.1f}% | "
              f"{100 * r['gap100']:.1f}% | {r['gapmax']:.0f} | "
              + ' | '.join(f'{r[m][0]:.4f} / {r[m][1]:.2f}' for m in METHODS)
              + ' | ' + '; '.join(st) + ' |')


def main():
    tool, work, what = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    rows = []
    if what == 'cnn60k':
        model = os.path.join(work, 'std30')
        train(tool, model, ['--objective', 'standard', '--epochs', '30', '--weight-decay', '0',
                            '--lr', '0.05'])
        tx, ty = npy(work, 'train')
        j, _, _ = score(tool, model, tx, ty, 'msr', 1, work)
        print(f"training accuracy {100 * j['accuracy']:.2f}% ({j['errors']} errors)", flush=True)
        x, y = npy(work, 'test')
        rows = evaluate(tool, model, x, y, [0.25, 0.5, 1, 2], work, 'CNN 60k Standard')
    elif what == 'rat-sweep':
        x, y = npy(work, 'test', 2000)
        recipe = ['--train-subset', '3000', '--epochs', '50', '--batch', '32', '--lr', '0.02',
                  '--weight-decay', '0']
        model = os.path.join(work, 'standard')
        train(tool, model, ['--objective', 'standard'] + recipe)
        rows += evaluate(tool, model, x, y, [1], work, 'Standard')
        for eps in ['1e-3', '3e-3', '1e-2', '3e-2']:
            model = os.path.join(work, 'rat-' + eps)
            train(tool, model, ['--objective', 'rat', '--epsilon', eps] + recipe)
            rows += evaluate(tool, model, x, y, [1], work, 'RAT ε = ' + eps)
    table(rows)


if __name__ == '__main__':
    main()
