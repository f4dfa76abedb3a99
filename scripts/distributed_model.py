#!/usr/bin/env python3
"""Cluster model of data-parallel saddle training (docs/distributed.md).

Reads the RESULT lines of scripts/bench_distributed.sh (step time of one process at global
batches 128..8, and the parameter count), and predicts the step time on P nodes, one rank per
node, at a fixed global batch B (strong scaling: the optimisation is the one of one process):

    t_P(B) = t_1(B / P) + T_allreduce(P)
    T_allreduce(P) = 2 (P - 1) alpha + 2 (P - 1) / P * S / beta     (ring all-reduce)
                   + 2 ceil(log2 P) alpha                             (the 1 + 2m doubles of the forward)

with S = 4 n bytes (float32 gradient of the n parameters: weights, biases and gate log-alphas),
beta the link bandwidth and alpha the per-message latency. No overlap of communication and
computation (saddle reduces after the backward pass). t_1(b) is interpolated linearly in b
between the measured batches and extrapolated below the smallest one by the line through the
two smallest. Prints Markdown tables: bytes per step, all-reduce time, speedup and efficiency
at 2, 8 and 32 nodes, and the smallest global batch at which P nodes are faster than one.

Usage: scripts/distributed_model.py RESULTS.txt
"""
import math
import sys
from collections import defaultdict

LINKS = [("10 Gb/s Ethernet", 10e9 / 8, 15e-6), ("25 Gb/s Ethernet", 25e9 / 8, 10e-6),
         ("100 Gb/s InfiniBand", 100e9 / 8, 2e-6)]
NODES = [2, 8, 32]
BATCH = 128


def read(path):
    times, params = defaultdict(dict), {}
    for line in open(path):
        if not line.startswith("RESULT"):
            continue
        kv = dict(p.split("=", 1) for p in line.split()[1:])
        if kv["tag"] != "batch":
            continue
        times[kv["model"]][int(kv["batch"])] = float(kv["ms_step"]) / 1e3
        params[kv["model"]] = int(kv["params"])
    return times, params


def step_time(table, b):
    xs = sorted(table)
    if b >= xs[-1]:
        lo, hi = xs[-2], xs[-1]
    elif b <= xs[0]:
        lo, hi = xs[0], xs[1]
    else:
        hi = next(x for x in xs if x >= b)
        lo = max(x for x in xs if x <= b)
        if lo == hi:
            return table[lo]
    slope = (table[hi] - table[lo]) / (hi - lo)
    return max(table[lo] + slope * (b - lo), 1e-7)


def allreduce(p, nbytes, beta, alpha):
    if p == 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes / beta + 2 * math.ceil(math.log2(p)) * alpha


def main():
    times, params = read(sys.argv[1])
    for model in ("mlp", "lenet5"):
        if model not in times:
            continue
        n = params[model]
        nbytes = 4 * n
        t1 = step_time(times[model], BATCH)
        print(f"\n### {model}: n = {n:,} parameters, {nbytes:,} bytes all-reduced per step; "
              f"one process: {1e3 * t1:.2f} ms/step at batch {BATCH}\n")
        print("| link | nodes | all-reduce ms | compute ms (batch per node) | step ms | speedup | efficiency |")
        print("|---|---|---|---|---|---|---|")
        for name, beta, alpha in LINKS:
            for p in NODES:
                c = allreduce(p, nbytes, beta, alpha)
                t = step_time(times[model], BATCH / p)
                s = t1 / (t + c)
                print(f"| {name} | {p} | {1e3 * c:.3f} | {1e3 * t:.3f} ({BATCH / p:g}) | {1e3 * (t + c):.3f} | "
                      f"{s:.2f} | {100 * s / p:.0f} % |")
        print("\nSmallest global batch B (a multiple of P) at which P nodes are faster than one, "
              "t_1(B/P) + T_allreduce < t_1(B); below it communication does not pay "
              "(B = P: it pays from one row per node):\n")
        print("| link | " + " | ".join(f"P = {p}" for p in NODES) + " |")
        print("|---|" + "---|" * len(NODES))
        for name, beta, alpha in LINKS:
            cells = []
            for p in NODES:
                c = allreduce(p, nbytes, beta, alpha)
                b = next((b for b in range(p, 1 << 16, p) if step_time(times[model], b / p) + c < step_time(times[model], b)), None)
                cells.append(str(b) if b is not None else "> 65536")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
