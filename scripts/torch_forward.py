#!/usr/bin/python3
"""PyTorch forward throughput on the 10,000 MNIST test images, for comparison with
saddle_bench's infer/<model> benchmarks (docs/performance.md, "Inference throughput").

Networks (each given once or more, measured in turn, every round, in the order given):
  --dense mlp|lenet5      the dense network: MLP 784-300-100-10 or LeNet5-Caffe
                          (conv 1->20 5x5, relu, pool 2, conv 20->50 5x5, relu, pool 2,
                          dense 800->500, relu, dense 500->10); random weights
  --arch mlp:A-B-C        a plain MLP with the shape of a purged one: gather of A pixels,
                          dense A->B, relu, B->C, relu, C->10; random weights
  --arch lenet5:A-B-C-D   a plain LeNet5 of purged shape: conv 1->A, relu, pool, conv A->B,
                          relu, pool, gather of C of the B*16 flattened values, dense C->D,
                          relu, D->10; random weights
  --export FILE.sdln      the purged network written by `saddle export` (format of
                          docs/export-format.md), its own weights: also reports its test
                          error, which must equal `saddle eval FILE`'s
Throughput does not depend on the weight values; the test error does (random weights: ~90%).

Every forward runs under torch.no_grad() in batches of --batch rows (500, as saddle's
evaluation), --threads intra-op threads (default 1, OpenBLAS and OpenMP pinned to the same
count before torch loads). Each of --rounds rounds times one pass over the test set per
network (thread CPU time and wall time); printed: the median images per second of each.

Usage: /usr/bin/python3 scripts/torch_forward.py --data data/mnist --dense mlp --arch mlp:191-222-100
Exit status 2 with a one-line message on a bad argument, a missing or damaged file.
"""
import argparse
import os
import struct
import sys
import time
import zlib


def fail(message):
    print(f"torch_forward: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/mnist", help="folder with the MNIST IDX files")
    p.add_argument("--dense", action="append", default=[], choices=["mlp", "lenet5"])
    p.add_argument("--arch", action="append", default=[], help="mlp:A-B-C or lenet5:A-B-C-D")
    p.add_argument("--export", action="append", default=[], help="a .sdln file of saddle export")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", default="", help="also write the results to this file")
    a = p.parse_args()
    if a.batch <= 0 or a.threads <= 0 or a.rounds <= 0:
        fail("--batch, --threads and --rounds must be positive")
    if not (a.dense or a.arch or a.export):
        fail("nothing to measure: give --dense, --arch or --export")
    return a


ARGS = parse_args()
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
try:
    import numpy as np  # noqa: E402
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
except ImportError as e:
    fail(f"cannot import torch/numpy ({e}); Debian 12: apt-get install python3-torch")
torch.set_num_threads(ARGS.threads)

MEAN, STD = 0.1307, 0.3081


def load_test(d):
    def read(name, magic):
        path = os.path.join(d, name)
        try:
            raw = open(path, "rb").read()
        except OSError:
            fail(f"MNIST not found in {d} (missing {name}); fetch it with: scripts/fetch_mnist.sh data/mnist")
        if len(raw) < 8 or int.from_bytes(raw[:4], "big") != magic:
            fail(f"{path}: not an IDX file of the expected kind")
        ndim = raw[3]
        dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    x = read("t10k-images-idx3-ubyte", 2051)
    y = read("t10k-labels-idx1-ubyte", 2049)
    return x.reshape(x.shape[0], -1).astype(np.float32) / 255.0, y.astype(np.int64)


# ----------------------------------------------------------------- networks as op lists
# A network is a list of (kind, params) applied to x: [B, features] (conv layers reshape).

def rand(*shape):
    return torch.randn(*shape) * 0.1


def mlp_ops(widths, gather):
    ops = []
    if gather is not None:
        ops.append(("gather", torch.tensor(gather, dtype=torch.int64)))
    for i in range(len(widths) - 1):
        ops.append(("dense", (rand(widths[i + 1], widths[i]), rand(widths[i + 1]))))
        if i + 2 < len(widths):
            ops.append(("relu", None))
    return ops


def lenet_ops(c1, c2, f1, f2, gather):
    ops = [("reshape", (1, 28, 28)), ("conv", (rand(c1, 1, 5, 5), rand(c1))), ("relu", None), ("pool", None),
           ("conv", (rand(c2, c1, 5, 5), rand(c2))), ("relu", None), ("pool", None), ("flatten", None)]
    if gather is not None:
        ops.append(("gather", torch.tensor(gather, dtype=torch.int64)))
    ops += [("dense", (rand(f2, f1), rand(f2))), ("relu", None), ("dense", (rand(10, f2), rand(10)))]
    return ops


def parse_arch(spec):
    try:
        model, counts = spec.split(":")
        n = [int(v) for v in counts.split("-")]
    except ValueError:
        fail(f"--arch {spec}: expected mlp:A-B-C or lenet5:A-B-C-D")
    if model == "mlp" and len(n) == 3 and 0 < n[0] <= 784:
        return mlp_ops([n[0], n[1], n[2], 10], list(range(n[0])))
    if model == "lenet5" and len(n) == 4 and 0 < n[2] <= n[1] * 16:
        return lenet_ops(n[0], n[1], n[2], n[3], list(range(n[2])))
    fail(f"--arch {spec}: expected mlp:A-B-C (A <= 784) or lenet5:A-B-C-D (C <= 16 B)")


def read_export(path):
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        fail(f"--export {path}: {e.strerror}")
    if len(raw) < 24 or raw[:8] != b"SADLPNET":
        fail(f"--export {path}: not an exported network (bad magic)")
    version, size, crc = struct.unpack_from("<IQI", raw, 8)
    if version != 1:
        fail(f"--export {path}: format version {version}, this script reads 1")
    payload = raw[24:]
    if len(payload) != size or zlib.crc32(payload) != crc:
        fail(f"--export {path}: truncated or corrupted (size or CRC-32 mismatch)")
    pos = 0

    def u32():
        nonlocal pos
        v = struct.unpack_from("<I", payload, pos)[0]
        pos += 4
        return v

    def string():
        nonlocal pos
        n = u32()
        s = payload[pos:pos + n].decode()
        pos += n
        return s

    def floats(n):
        nonlocal pos
        a = np.frombuffer(payload, dtype="<f4", count=n, offset=pos).copy()
        pos += 4 * n
        return torch.from_numpy(a)

    meta = [string() for _ in range(5)]  # architecture, dataset, scaling, gate, pruned arch
    rows, cols, classes, count = u32(), u32(), u32(), u32()
    ops = []
    shape = None  # (C, H, W) of conv activations
    for _ in range(count):
        kind = u32()
        if kind == 1:
            u32()
            n = u32()
            idx = [u32() for _ in range(n)]
            if shape is not None:
                ops.append(("flatten", None))
                shape = None
            ops.append(("gather", torch.tensor(idx, dtype=torch.int64)))
        elif kind == 2:
            i, o = u32(), u32()
            w = floats(i * o).reshape(i, o).t().contiguous()
            ops.append(("dense", (w, floats(o))))
        elif kind == 3:
            c, h, w_, co, k = (u32() for _ in range(5))
            if shape is None:
                ops.append(("reshape", (c, h, w_)))
            ops.append(("conv", (floats(co * c * k * k).reshape(co, c, k, k), floats(co))))
            shape = (co, h - k + 1, w_ - k + 1)
        elif kind == 4:
            u32()
            ops.append(("relu", None))
        elif kind == 5:
            c, h, w_ = u32(), u32(), u32()
            ops.append(("pool", None))
            shape = (c, h // 2, w_ // 2)
        else:
            fail(f"--export {path}: unknown layer kind {kind}")
    if shape is not None:
        ops.append(("flatten", None))
    return ops, meta


def forward(ops, x):
    for kind, p in ops:
        if kind == "dense":
            x = F.linear(x, p[0], p[1])
        elif kind == "relu":
            x = F.relu(x)
        elif kind == "conv":
            x = F.conv2d(x, p[0], p[1])
        elif kind == "pool":
            x = F.max_pool2d(x, 2)
        elif kind == "gather":
            x = x.index_select(1, p)
        elif kind == "reshape":
            x = x.reshape(x.shape[0], *p)
        elif kind == "flatten":
            x = x.reshape(x.shape[0], -1)
    return x


def main():
    a = ARGS
    torch.manual_seed(1)
    images, labels = load_test(a.data)
    nets = []  # (name, ops, input tensor, labels or None)
    raw = torch.from_numpy(images)
    std = (raw - MEAN) / STD
    for m in a.dense:
        nets.append((f"dense {m}", mlp_ops([784, 300, 100, 10], None) if m == "mlp" else lenet_ops(20, 50, 800, 500, None),
                     std, None))
    for spec in a.arch:
        nets.append((f"arch {spec}", parse_arch(spec), std, None))
    for path in a.export:
        ops, meta = read_export(path)
        x = std if meta[2] == "standardize" else raw
        nets.append((f"export {path} ({meta[0]} {meta[4]})", ops, x, torch.from_numpy(labels)))
    n = images.shape[0]
    cpu = {name: [] for name, *_ in nets}
    wall = {name: [] for name, *_ in nets}
    errors = {}
    with torch.no_grad():
        for name, ops, x, y in nets:  # warm-up pass (oneDNN/OpenBLAS buffers), not timed
            forward(ops, x[:a.batch])
        for r in range(a.rounds):
            order = nets[r % len(nets):] + nets[:r % len(nets)]  # rotated every round
            for name, ops, x, y in order:
                c0, w0 = time.thread_time(), time.perf_counter()
                preds = [forward(ops, x[i:i + a.batch]).argmax(1) for i in range(0, n, a.batch)]
                cpu[name].append(time.thread_time() - c0)
                wall[name].append(time.perf_counter() - w0)
                if y is not None:
                    errors[name] = float((torch.cat(preds) != y).float().mean())

    def median(v):
        v = sorted(v)
        h = len(v) // 2
        return v[h] if len(v) % 2 else 0.5 * (v[h - 1] + v[h])

    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, batch {a.batch}, {a.rounds} rounds, "
          f"{n} test images; load {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print("| network | img/s (thread CPU) | img/s (wall) | test error |")
    print("|---|---|---|---|")
    results = []
    for name, *_ in nets:
        c, w = n / median(cpu[name]), n / median(wall[name])
        err = f"{100 * errors[name]:.2f}%" if name in errors else "-"
        print(f"| {name} | {c:.0f} | {w:.0f} | {err} |")
        results.append(dict(network=name, img_per_s_cpu=c, img_per_s_wall=w, test_error=errors.get(name)))
    if a.json:
        import json
        with open(a.json, "w") as f:
            json.dump(dict(torch=torch.__version__, threads=a.threads, batch=a.batch, rounds=a.rounds,
                           results=results), f, indent=1)


if __name__ == "__main__":
    main()
