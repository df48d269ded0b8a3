"""Builds PyTorch nn.Sequential models (odd sizes, strides, paddings, non-square kernels),
writes them with NumPy alone in misd's sequential directory format
(include/misd/eigen/sequential_io.hpp),
together with an input batch, an upstream gradient G and torch's logits and input gradients
d(sum(G * logits))/dx, in float64 and float32, for tests/test_sequential_torch.cpp.

usage: export_torch_sequential.py OUT_DIR     (exits 77 when torch or numpy is missing)
"""
import json
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError:
    sys.exit(77)


class Normalize(nn.Module):
    """Per-channel (x - mean) / std; misd's "normalize" layer."""

    def __init__(self, mean, std, image):
        super().__init__()
        shape = (-1, 1, 1) if image else (-1,)
        self.mean = torch.tensor(mean, dtype=torch.float64).reshape(shape)
        self.std = torch.tensor(std, dtype=torch.float64).reshape(shape)

    def forward(self, x):
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


def pair(v):
    return v if isinstance(v, int) else list(v)


def build(input_shape, spec):
    """nn.Sequential from misd layer objects (sizes only; torch draws the weights)."""
    mods = []
    for l in spec:
        t = l["type"]
        if t == "conv2d":
            mods.append(nn.Conv2d(l["in"], l["out"], l["kernel"], l.get("stride", 1), l.get("padding", 0)))
        elif t == "maxpool2d":
            mods.append(nn.MaxPool2d(l["kernel"], l.get("stride", l["kernel"]), l.get("padding", 0)))
        elif t == "global_avgpool2d":
            mods.append(nn.AdaptiveAvgPool2d(1))
        elif t == "relu":
            mods.append(nn.ReLU())
        elif t == "flatten":
            mods.append(nn.Flatten())
        elif t == "linear":
            mods.append(nn.Linear(l["in"], l["out"]))
        elif t == "normalize":
            mods.append(Normalize(l["mean"], l["std"], len(input_shape) == 3))
        else:
            raise ValueError(t)
    return nn.Sequential(*mods)


def tuple_json(l):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in l.items()}


CASES = {
    # non-square kernel and stride, asymmetric padding, padded max pooling, 1x1 conv
    "odd": ([3, 11, 9], [
        {"type": "normalize", "mean": [0.25, -0.5, 0.125], "std": [0.5, 2.0, 1.5]},
        {"type": "conv2d", "in": 3, "out": 5, "kernel": (3, 2), "stride": (2, 1), "padding": (1, 0)},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1},
        {"type": "conv2d", "in": 5, "out": 4, "kernel": 1},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "linear", "in": 48, "out": 7}]),
    # 5x5 kernel, stride 3, padding 2, global average pooling
    "gap": ([2, 13, 13], [
        {"type": "conv2d", "in": 2, "out": 6, "kernel": 5, "stride": 3, "padding": 2},
        {"type": "relu"},
        {"type": "conv2d", "in": 6, "out": 5, "kernel": 2, "stride": 2, "padding": 1},
        {"type": "global_avgpool2d"},
        {"type": "flatten"},
        {"type": "linear", "in": 5, "out": 4}]),
    # the default CNN of misd train --arch cnn
    "cnn": ([1, 28, 28], [
        {"type": "conv2d", "in": 1, "out": 16, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "relu"},
        {"type": "conv2d", "in": 16, "out": 32, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "conv2d", "in": 32, "out": 64, "kernel": 3, "stride": 1, "padding": 1},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "flatten"},
        {"type": "linear", "in": 3136, "out": 128},
        {"type": "relu"},
        {"type": "linear", "in": 128, "out": 10}]),
    # an MLP with per-feature normalisation on flat inputs
    "mlp": ([20], [
        {"type": "normalize", "mean": [0.1 * k for k in range(20)], "std": [1 + 0.05 * k for k in range(20)]},
        {"type": "linear", "in": 20, "out": 8},
        {"type": "relu"},
        {"type": "linear", "in": 8, "out": 3}]),
}

out = sys.argv[1]
torch.manual_seed(0)
for name, (input_shape, spec) in CASES.items():
    d = os.path.join(out, name)
    os.makedirs(os.path.join(d, "model"), exist_ok=True)
    net = build(input_shape, spec)
    # float32 weights, as the files hold them; the float64 reference uses the same values.
    state = {k: v.to(torch.float32) for k, v in net.state_dict().items()}
    for k, v in state.items():
        j, what = k.split(".")
        np.save(os.path.join(d, "model", f"layer_{j}.{what}.npy"), v.numpy())
    with open(os.path.join(d, "model", "model.json"), "w") as f:
        json.dump({"input_shape": input_shape, "layers": [tuple_json(l) for l in spec]}, f)
    n = 5
    x = torch.rand(n, *input_shape, dtype=torch.float64) * 2 - 0.5
    x = x.to(torch.float32)
    k = spec[-1]["out"]
    g = torch.randn(n, k, dtype=torch.float64).to(torch.float32)
    np.save(os.path.join(d, "x.npy"), x.numpy())
    np.save(os.path.join(d, "g.npy"), g.numpy())
    for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
        net_t = build(input_shape, spec).to(dtype)
        net_t.load_state_dict({kk: v.to(dtype) for kk, v in state.items()})
        xt = x.to(dtype).clone().requires_grad_(True)
        z = net_t(xt)
        (z * g.to(dtype)).sum().backward()
        np.save(os.path.join(d, f"logits_{suffix}.npy"), z.detach().numpy())
        np.save(os.path.join(d, f"grad_{suffix}.npy"), xt.grad.reshape(n, -1).numpy())
with open(os.path.join(out, "cases.txt"), "w") as f:
    f.write("\n".join(CASES) + "\n")
