"""Markdown tables of bench/gpu/run.sh's results (images/s; ratios to the PyTorch reference
measured in the same call).
  table.py REF.json MISD.json [MISD2.json ...]   # bench_torch lines next to ref_throughput.py's
  table.py --quality QUALITY.json                # quality_torch lines: fp32 / TF32 / bf16"""
import json, sys


def lines(path):
    return [json.loads(l) for l in open(path) if l.strip().startswith('{')]


def variant(m):
    v = []
    if m.get('channels_last'):
        v.append('channels-last')
    if m.get('bf16'):
        v.append('bf16 autocast')
    if m.get('tf32', 'default') != 'default':
        v.append('TF32 ' + m['tf32'])
    if m.get('jit_noopt'):
        v.append('jit-noopt')
    return ', '.join(v) or 'fp32 (TF32 convolutions: the defaults)'


def throughput(ref_path, misd_paths):
    ref_all = lines(ref_path)
    ref = ref_all[-1]
    rows = {r['batch']: r for r in ref['rows']}
    misd = [m for p in misd_paths for m in lines(p)]
    print(f"\nmodel {ref['model']}; device {ref['device']}; torch {ref['torch']} (python) / "
          f"{misd[0]['torch']} (LibTorch); budget {misd[0]['budget']}, no box\n")
    steps = sorted({int(k[len('rr_bs_s'):]) for m in misd for k in m
                    if k.startswith('rr_bs_s') and k[len('rr_bs_s'):].isdigit()})
    head = ['batch', 'run', 'forward', 'MSR+pre', 'RR-Fast', 'RR-BS'] + \
           [f'RR-BS s={s} (passes)' for s in steps] + ["RR-BS authors' loop"]
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    keys = ['forward', 'msr_pre', 'rr_fast', 'rr_bs_once']
    for b in sorted(rows):
        r = rows[b]
        print(f"| {b} | PyTorch reference | " + ' | '.join(f"{r[k]:.0f}" for k in keys) +
              ' | ' + ' | '.join('-' for _ in steps) + f" | {r['rr_bs_reference']:.0f} |")
        for m in (m for m in misd if m['batch'] == b):
            cells = [f"{m[k]:.0f} ({m[k] / r[k]:.2f}×)" for k in keys]
            for s in steps:
                k = f'rr_bs_s{s}'
                cells.append(f"{m[k]:.0f} ({m[k] / r['rr_bs_once']:.2f}×; {m[k + '_forwards']}; "
                             f"{m[k + '_examples_outside_bracket']} outside)" if k in m else '-')
            print(f"| {b} | misd, {variant(m)} | " + ' | '.join(cells) + ' | |')
    print("\n(×: misd / PyTorch reference at the same batch; RR-BS s=k: steps_per_pass k, its "
          "forward passes, and the examples whose bracket is not the one-step search's)")
    for m in misd:
        print(f"- batch {m['batch']}, {variant(m)}: logits to host {m['to_host_ms']:.3f} ms per "
              f"forward of {m['forward_ms']:.3f} ms; forward+backward {m['forward_backward_ms']:.3f}"
              f" ms; median RR-BS radius {m['median_radius_bs']:.4g} (reference "
              f"{rows[m['batch']]['median_radius_bs']:.4g})")


def quality(path):
    q = lines(path)
    base = {r['method']: r for r in q if r['arith'] == 'fp32'}
    print(f"\nFashion-MNIST CNN, {q[0]['n']} test images, device {q[0]['device']}\n")
    print('| arithmetic | method | accuracy | same prediction as fp32 | images/s | AUROC | '
          'ΔAUROC vs fp32 | AURC×1000 |')
    print('|---|---|---|---|---|---|---|---|')
    for r in q:
        d = r['auroc'] - base[r['method']]['auroc']
        print(f"| {r['arith']} | {r['method']} | {r['accuracy']:.4f} | "
              f"{r['same_prediction_as_fp32']:.4f} | {r['images_per_s']:.0f} | {r['auroc']:.5f} | "
              f"{d:+.5f} | {r['aurc_x1000']:.3f} |")


if __name__ == '__main__':
    if sys.argv[1] == '--quality':
        quality(sys.argv[2])
    else:
        throughput(sys.argv[1], sys.argv[2:])
