"""Prints misd's bench_torch JSON next to ref_throughput.py's, as a Markdown table (images/s)."""
import json, sys


def last_json(path, key=None):
    rows = [json.loads(l) for l in open(path) if l.strip().startswith('{')]
    return rows


def main():
    misd = last_json(sys.argv[1])[-1]
    ref_all = last_json(sys.argv[2])
    ref = ref_all[-1]
    row = next(r for r in ref['rows'] if r['batch'] == misd['batch'])
    print(f"\nmodel {ref['model']}, batch {misd['batch']}, fp32; device {ref['device']}; "
          f"torch {ref['torch']} (python) / {misd['torch']} (LibTorch)\n")
    print('| images/s | forward | MSR+pre | RR-Fast | RR-BS (FGSM, dir once, budget 25) | RR-BS (authors\' loop) |')
    print('|---|---|---|---|---|---|')
    print(f"| misd (LibTorch adapter) | {misd['forward']:.0f} | {misd['msr_pre']:.0f} | {misd['rr_fast']:.0f} | {misd['rr_bs_once']:.0f} | - |")
    print(f"| PyTorch reference | {row['forward']:.0f} | {row['msr_pre']:.0f} | {row['rr_fast']:.0f} | {row['rr_bs_once']:.0f} | {row['rr_bs_reference']:.0f} |")
    print(f"| misd / reference | {misd['forward']/row['forward']:.2f} | {misd['msr_pre']/row['msr_pre']:.2f} | "
          f"{misd['rr_fast']/row['rr_fast']:.2f} | {misd['rr_bs_once']/row['rr_bs_once']:.2f} | |")
    print(f"\nlogits to host per forward (N x K doubles): {misd['to_host_ms']:.3f} ms vs "
          f"{misd['forward_ms']:.3f} ms per forward pass; median RR-BS radius misd "
          f"{misd['median_radius_bs']:.4g}, reference {row['median_radius_bs']:.4g}")


if __name__ == '__main__':
    main()
