"""Trains a small CNN on all 60,000 Fashion-MNIST training images with PyTorch (plain
cross-entropy, no weight decay, no augmentation: the over-confident regime), exports it to
TorchScript, and writes the 10,000 test images and labels as raw files for quality_torch.
Usage: python3 train_fmnist_cnn.py --data DIR --out DIR [--epochs 15] [--device cuda]
DIR holds Debian's dataset-fashion-mnist files (train-images-idx3-ubyte.gz, ...).
Writes OUT/cnn.pt, OUT/test_x.f32 (10000 x 784 float32 in [0, 1]), OUT/test_y.i64."""
import argparse, gzip, os, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F


def load(data, part):
    img = np.frombuffer(gzip.open(os.path.join(data, f'{part}-images-idx3-ubyte.gz')).read(),
                        np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
    lab = np.frombuffer(gzip.open(os.path.join(data, f'{part}-labels-idx1-ubyte.gz')).read(),
                        np.uint8, offset=8).astype(np.int64)
    return img, lab


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.f1 = nn.Linear(64 * 7 * 7, 128)
        self.f2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.f2(F.relu(self.f1(x.flatten(1))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--epochs', type=int, default=15)
    ap.add_argument('--device', default='cuda')
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(0)
    xtr, ytr = load(a.data, 'train')
    xte, yte = load(a.data, 't10k')
    xtr_t, ytr_t = torch.from_numpy(xtr).to(dev), torch.from_numpy(ytr).to(dev)
    net = CNN().to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    t0 = time.time()
    for epoch in range(a.epochs):
        net.train()
        perm = torch.randperm(len(xtr_t), device=dev)
        for i in range(0, len(perm), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(net(xtr_t[idx]), ytr_t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        xte_t = torch.from_numpy(xte).to(dev)
        acc = (net(xte_t).argmax(1).cpu().numpy() == yte).mean()
        traced = torch.jit.trace(net.cpu(), torch.rand(2, 1, 28, 28))
    os.makedirs(a.out, exist_ok=True)
    traced.save(os.path.join(a.out, 'cnn.pt'))
    xte.reshape(len(xte), -1).astype('<f4').tofile(os.path.join(a.out, 'test_x.f32'))
    yte.astype('<i8').tofile(os.path.join(a.out, 'test_y.i64'))
    print(f'trained CNN on {len(xtr)} images, {a.epochs} epochs in {time.time() - t0:.1f} s on '
          f'{dev}; test accuracy {acc:.4f}', file=sys.stderr)


if __name__ == '__main__':
    main()
