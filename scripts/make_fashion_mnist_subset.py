#!/usr/bin/env python3
"""Make the bundled Fashion-MNIST subset from the full IDX files.

Usage: scripts/make_fashion_mnist_subset.py [SRC_DIR] [DST_DIR] [N_TRAIN] [N_TEST]
Defaults: /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist),
data/fashion-mnist-subset, 10000, 2000. Takes the first N images of each split, keeps the
IDX format and gzip-compresses deterministically (mtime 0), so re-running gives the same bytes.
"""
import gzip
import os
import struct
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
dst = sys.argv[2] if len(sys.argv) > 2 else "data/fashion-mnist-subset"
n_train = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
n_test = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
os.makedirs(dst, exist_ok=True)


def subset(name, n):
    with gzip.open(os.path.join(src, name + ".gz"), "rb") as f:
        data = f.read()
    zero, kind, rank = struct.unpack(">HBB", data[:4])
    assert zero == 0 and kind == 8, f"{name}: not an unsigned-byte IDX file"
    dims = list(struct.unpack(">" + "I" * rank, data[4 : 4 + 4 * rank]))
    per_item = 1
    for d in dims[1:]:
        per_item *= d
    assert n <= dims[0], f"{name}: only {dims[0]} items"
    dims[0] = n
    header = struct.pack(">HBB", 0, 8, rank) + struct.pack(">" + "I" * rank, *dims)
    body = data[4 + 4 * rank : 4 + 4 * rank + n * per_item]
    with open(os.path.join(dst, name + ".gz"), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as out:
            out.write(header + body)


for split, n in (("train", n_train), ("t10k", n_test)):
    subset(f"{split}-images-idx3-ubyte", n)
    subset(f"{split}-labels-idx1-ubyte", n)
print(f"wrote {n_train} train / {n_test} test images to {dst}")
