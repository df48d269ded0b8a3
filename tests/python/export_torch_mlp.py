"""Exports a PyTorch nn.Sequential MLP with NumPy alone in misd's MLP directory format
(include/misd/eigen/mlp_io.hpp), plus an input batch and torch's logits for it, for tests/test_mlp_io.cpp.

usage: export_torch_mlp.py OUT_DIR     (exits 77 when torch or numpy is missing)
"""
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError:
    sys.exit(77)

out = sys.argv[1]
os.makedirs(os.path.join(out, "model"), exist_ok=True)
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
linears = [m for m in net if isinstance(m, nn.Linear)]
state = net.state_dict()
for i, m in enumerate(linears):
    idx = list(net).index(m)
    np.save(os.path.join(out, "model", f"weights_{i}.npy"), state[f"{idx}.weight"].numpy().astype(np.float32))
    np.save(os.path.join(out, "model", f"biases_{i}.npy"), state[f"{idx}.bias"].numpy().astype(np.float32))
x = torch.rand(16, 784)
with torch.no_grad():
    z = net(x)
np.save(os.path.join(out, "x.npy"), x.numpy())
np.save(os.path.join(out, "logits.npy"), z.numpy())
