"""Writes the TorchScript files tests/test_torch.cpp loads (run with Debian's python3-torch):
  conv.pt          small CNN on 1 x 8 x 8 inputs, 5 classes, and conv_x.npy-like raw inputs
  bad_output.pt    returns N x K x 1 (not N x K logits)
  tuple_output.pt  returns a tuple
  not_a_model.pt   a text file
Usage: python3 export_torch_test_models.py OUT_DIR"""
import os, sys
import torch, torch.nn as nn


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(6 * 4 * 4, 5))

    def forward(self, x):
        return self.body(x)


class BadOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(x.flatten(1)).unsqueeze(-1)


class TupleOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        z = self.fc(x.flatten(1))
        return z, z


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(3)
    torch.jit.script(Conv().eval()).save(os.path.join(out, 'conv.pt'))
    torch.jit.script(BadOutput()).save(os.path.join(out, 'bad_output.pt'))
    torch.jit.script(TupleOutput()).save(os.path.join(out, 'tuple_output.pt'))
    with open(os.path.join(out, 'not_a_model.pt'), 'w') as f:
        f.write('this is not a TorchScript archive\n')


if __name__ == '__main__':
    main()
