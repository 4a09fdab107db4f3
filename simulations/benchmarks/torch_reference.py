#!/usr/bin/python3
"""PyTorch twin of ml_bench: the same networks and workload in python3-torch.

Defines "cnn_color" and "mobilenet_small" exactly as shared/ml/torch/model.h documents them (same
layers, same state names), checks that the parameter count equals the one ml_bench printed
(--expect-params), then measures training img/s (SGD lr 0.05, momentum 0.9, batch 64, a fresh
shuffle per epoch, loss.item() per step as fedge's Train does) and batch-1 inference latency
(no_grad + eval, softmax, argmax, entropy) and prints "RESULT side=python ...".

usage: torch_reference.py [--arch cnn_color] [--examples 4096] [--epochs 2] [--frames 500]
                          [--warmup 50] [--threads 2] [--expect-params N]
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CnnColor(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.c3 = nn.Conv2d(64, 64, 3, padding=1)
        self.f1 = nn.Linear(64 * 4 * 4, 128)
        self.f2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        return self.f2(F.relu(self.f1(torch.flatten(x, 1))))


def conv(i, o, k, s, g):
    return nn.Conv2d(i, o, k, stride=s, padding=k // 2, groups=g, bias=False)


class Separable(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.dw = conv(i, i, 3, s, i)
        self.dw_gn = nn.GroupNorm(8, i)
        self.pw = conv(i, o, 1, 1, 1)
        self.pw_gn = nn.GroupNorm(8, o)

    def forward(self, x):
        x = F.relu6(self.dw_gn(self.dw(x)))
        return F.relu6(self.pw_gn(self.pw(x)))


class MobileNetSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv(3, 16, 3, 1, 1)
        self.stem_gn = nn.GroupNorm(8, 16)
        self.b1 = Separable(16, 32, 1)
        self.b2 = Separable(32, 64, 2)
        self.b3 = Separable(64, 64, 1)
        self.b4 = Separable(64, 128, 2)
        self.b5 = Separable(128, 128, 1)
        self.b6 = Separable(128, 256, 2)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        x = F.relu6(self.stem_gn(self.stem(x)))
        for block in (self.b1, self.b2, self.b3, self.b4, self.b5, self.b6):
            x = block(x)
        return self.fc(x.mean((2, 3)))


ARCHS = {"cnn_color": CnnColor, "mobilenet_small": MobileNetSmall}


def percentile(values, q):
    s = sorted(values)
    return s[min(int(q * (len(s) - 1) + 0.5), len(s) - 1)]


def train(model, x, y, epochs, gen):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    examples, loss_sum = 0, 0.0
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        for start in range(0, x.shape[0], 64):
            idx = order[start:start + 64]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            examples += len(idx)
    return examples, loss_sum / max(examples, 1)


def predict(model, frame):
    with torch.no_grad():
        logits = model(frame)
        log_p = F.log_softmax(logits, 1)
        p = log_p.exp()
        entropy = -(p * log_p).sum(1)
        label = logits.argmax(1)
        return label, p.gather(1, label[:, None]), entropy, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="cnn_color", choices=sorted(ARCHS))
    ap.add_argument("--examples", type=int, default=4096)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--expect-params", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = ARCHS[a.arch]()
    params = sum(p.numel() for p in model.parameters())
    if a.expect_params and params != a.expect_params:
        print(f"torch_reference: {a.arch} has {params} parameters, fedge's has "
              f"{a.expect_params}: the definitions differ", file=sys.stderr)
        return 1
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(a.examples, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (a.examples,), generator=gen)

    train(model, x[:512], y[:512], 1, gen)  # warm-up, as ml_bench
    t, cpu = time.perf_counter(), time.process_time()
    examples, loss = train(model, x, y, a.epochs, gen)
    train_img_s = examples / (time.perf_counter() - t)
    train_img_cpu_s = examples / (time.process_time() - cpu)

    model.eval()
    ms = []
    for i in range(a.warmup + a.frames):
        frame = x[i % a.examples:i % a.examples + 1]
        t = time.perf_counter()
        predict(model, frame)
        if i >= a.warmup:
            ms.append(1000 * (time.perf_counter() - t))
    print(f"torch_reference: {a.arch}, {params} parameters, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"RESULT side=python arch={a.arch} params={params} train_img_s={train_img_s:.1f} "
          f"train_img_cpu_s={train_img_cpu_s:.1f} "
          f"p50_ms={percentile(ms, 0.5):.3f} p95_ms={percentile(ms, 0.95):.3f} "
          f"p99_ms={percentile(ms, 0.99):.3f} loss={loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
