#!/usr/bin/python3
"""Flower-style FedAvg in NumPy on the updates fold_throughput_bench wrote.

Usage: flower_fedavg_numpy.py DATA_DIR [--reps R]

DATA_DIR holds updates.json (tensor shapes, example counts), updates.f32 (every update's
tensors concatenated, little-endian fp32) and fedge_mean.f32 (fedge's exact weighted mean), as
written by `fold_throughput_bench --data-dir DATA_DIR`.

It averages the updates the way Flower's server-side FedAvg does with `inplace=True`: one
float64 factor n_i / N per update, each fp32 layer scaled in place by its factor, the scaled
layers summed layer by layer. Parsing the file and copying the updates before each repetition
(the in-place scaling consumes them) are not timed. It prints the best time over R repetitions
as fp32 update bytes per second, the unit fold_throughput_bench uses, checks that its mean
agrees with fedge's to fp32 summation rounding (exit 1 if not), and prints a "RESULT k=v" line
for fold_vs_triad_numpy.sh.
"""

import argparse
import json
import os
import sys
import time

import numpy as np


def aggregate_inplace(updates, counts):
    """Weighted mean of `updates` (lists of fp32 arrays, one per layer) with weights `counts`.

    Scales every update's layers in place (they are consumed) and returns new arrays.
    """
    total = sum(counts)
    factors = np.asarray([n / total for n in counts], dtype=np.float64)
    mean = None
    for layers, factor in zip(updates, factors):
        scaled = [np.multiply(layer, factor, out=layer) for layer in layers]
        if mean is None:
            mean = scaled
        else:
            mean = [np.add(acc, s) for acc, s in zip(mean, scaled)]
    return mean


def load(data_dir):
    with open(os.path.join(data_dir, "updates.json")) as f:
        meta = json.load(f)
    shapes = [tuple(t["shape"]) for t in meta["tensors"]]
    sizes = [int(np.prod(s)) for s in shapes]
    params = sum(sizes)
    counts = [int(n) for n in meta["counts"]]
    flat = np.fromfile(os.path.join(data_dir, "updates.f32"), dtype="<f4")
    if flat.size != params * len(counts):
        sys.exit(f"updates.f32 has {flat.size} values, expected {params * len(counts)}")
    fedge = np.fromfile(os.path.join(data_dir, "fedge_mean.f32"), dtype="<f4")
    if fedge.size != params:
        sys.exit(f"fedge_mean.f32 has {fedge.size} values, expected {params}")
    flat = flat.reshape(len(counts), params)
    offsets = np.cumsum([0] + sizes)
    updates = [
        [row[offsets[t]:offsets[t + 1]].reshape(shapes[t]) for t in range(len(shapes))]
        for row in flat
    ]
    return updates, counts, fedge, params


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    updates, counts, fedge, params = load(args.data_dir)
    nbytes = len(counts) * params * 4
    best = float("inf")
    mean = None
    for _ in range(max(1, args.reps)):
        work = [[layer.copy() for layer in layers] for layers in updates]
        start = time.perf_counter()
        mean = aggregate_inplace(work, counts)
        best = min(best, time.perf_counter() - start)
        del work

    flat_mean = np.concatenate([m.ravel() for m in mean])
    diff = np.abs(flat_mean.astype(np.float64) - fedge.astype(np.float64))
    # fp32 products and a running fp32 sum of len(counts) terms: each step rounds by at most
    # 2^-24 relative; the factors sum to 1, so the error is below (updates + 1) * 2^-24 * max|w|.
    max_abs = max(float(np.max(np.abs(layer))) for layers in updates for layer in layers)
    tol = (len(counts) + 1) * 2.0**-24 * max_abs
    gbps = nbytes / best / 1e9
    print(f"numpy {np.__version__} Flower-style FedAvg: {len(counts)} updates x {params} "
          f"parameters, best of {args.reps}: {best * 1e3:.2f} ms = {gbps:.2f} GB/s of fp32 updates")
    agree = float(diff.max()) <= tol
    print(f"max |numpy - fedge| = {diff.max():.3g} (fp32 summation bound {tol:.3g}): "
          f"{'agree' if agree else 'DISAGREE'}")
    print(f"RESULT numpy_gbps={gbps:.4f} numpy_ms={best * 1e3:.3f} max_diff={diff.max():.6g} "
          f"tol={tol:.6g}")
    if not agree:
        sys.exit("flower_fedavg_numpy: NumPy's mean and fedge's disagree beyond fp32 rounding")


if __name__ == "__main__":
    main()
