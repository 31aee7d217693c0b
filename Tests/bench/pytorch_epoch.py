#!/usr/bin/env python3
"""The PyTorch CPU baseline for `userrep train`: the same architecture (d → 512 → 256 → 120 →
256 → 512 → d, SELU hidden, linear code and output, alpha dropout 0.05), the same loss (mean
Euclidean reconstruction error), Adam lr 1e-3, batch 256, on the same exported features file, read
with safetensors. Prints seconds per epoch. Usage: pytorch_epoch.py FEATURES [EPOCHS] [THREADS]
(pip install torch --index-url https://download.pytorch.org/whl/cpu; pip install safetensors numpy)
"""
import sys, time
import numpy as np
import torch
from safetensors.numpy import load_file

path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
x = torch.from_numpy(load_file(path)["features"])
x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
d = x.shape[1]
sizes = [d, 512, 256, 120, 256, 512, d]
layers = []
for i in range(6):
    layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
    if i not in (2, 5):
        layers += [torch.nn.SELU(), torch.nn.AlphaDropout(0.05)]
net = torch.nn.Sequential(*layers)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
for epoch in range(epochs):
    start = time.time()
    order = torch.randperm(x.shape[0])
    total = 0.0
    for i in range(0, x.shape[0], 256):
        b = x[order[i:i + 256]]
        loss = (net(b) - b).norm(dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * b.shape[0]
    print(f"epoch {epoch + 1}: {time.time() - start:.1f} s, loss {total / x.shape[0]:.4f}", flush=True)
