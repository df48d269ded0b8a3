"""Exports the reference harness's WRN (ref_throughput.py, in the folder --anchors) to TorchScript with the weights
ref_throughput.py itself draws (torch.manual_seed(0), then WRN(depth, widen)), so that misd
and the reference run the same model.
Usage: python3 export_models.py --anchors DIR --depth 28 --widen 10 --out wrn.pt"""
import argparse, sys
import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--anchors', required=True)
    ap.add_argument('--depth', type=int, default=28)
    ap.add_argument('--widen', type=int, default=10)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.anchors)
    from ref_throughput import WRN
    torch.manual_seed(0)
    net = WRN(a.depth, a.widen).eval()
    with torch.no_grad():
        traced = torch.jit.trace(net, torch.rand(2, 3, 32, 32))
    traced.save(a.out)
    print(f'exported WRN-{a.depth}-{a.widen} to {a.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
