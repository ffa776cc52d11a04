#!/usr/bin/env python3
"""Reference outputs of torchvision's RoIAlign (torchvision.ops.roi_align), on small fixed inputs,
written as JSON for the Rust tests of the detection RoIAlign to compare against.

Usage (from the repository root; needs torch and a matching torchvision, CPU is enough):
    python3 scripts/roi_align_reference.py
It writes crates/frelu-vision/src/models/detection/fixtures/roi_align_reference.json
(or the path given as the first argument) and prints one line per case.

Schema:
    {"generator": "torchvision X.Y roi_align", "cases": [
      {"name": ..., "features_shape": [N, C, H, W], "features": [flat, row-major],
       "boxes": [[batch_index, x1, y1, x2, y2], ...],
       "output_size": [ph, pw], "spatial_scale": s, "sampling_ratio": r, "aligned": bool,
       "output_shape": [R, C, ph, pw], "output": [flat, row-major]}]}

Exactness: the features are random normal values rounded to multiples of 1/1024 and every box
coordinate is a multiple of 1/8, so both are exactly representable in f32 and are written as
their exact decimal value: what the JSON holds is bit for bit what torchvision was given. Outputs
are float32 values written in their shortest decimal form that reads back to the same f32
(at most 9 significant digits).

The outputs come from the compiled op (torch.ops.torchvision.roi_align, CPU, float32); each is
also checked against torchvision's pure-Python reference (torchvision.ops.roi_align._roi_align).

Only an outside reference: nothing of the build or the tests runs it.
"""

import json
import os
import sys

import numpy as np
import torch
import torchvision
from torchvision.ops import roi_align

# `torchvision.ops.roi_align` the attribute is the function; the module holds the Python reference.
_roi_align_py = getattr(sys.modules["torchvision.ops.roi_align"], "_roi_align", None)

DEFAULT_OUT = "crates/frelu-vision/src/models/detection/fixtures/roi_align_reference.json"

torch.manual_seed(0)


def features(n, c, h, w):
    """Random normal features rounded to multiples of 1/1024 (exact in f32 and in decimal)."""
    x = torch.randn(n, c, h, w, dtype=torch.float32)
    return torch.round(x * 1024.0) / 1024.0


def exact_list(t):
    """Flat list of the exact values (f32 -> python float is exact; here they are dyadic, short)."""
    return [float(v) for v in t.detach().reshape(-1).numpy()]


def f32_list(t):
    """Flat list of python floats whose repr is the shortest decimal that round-trips in f32."""
    return [float(str(np.float32(v))) for v in t.detach().reshape(-1).numpy()]


def case(name, feats, boxes, output_size, spatial_scale, sampling_ratio, aligned):
    rois = torch.tensor(boxes, dtype=torch.float32)
    # Box coordinates must be exact in f32 (multiples of 1/8 here).
    assert rois.tolist() == [[float(v) for v in b] for b in boxes], name
    out = roi_align(feats, rois, output_size, spatial_scale, sampling_ratio, aligned)
    if _roi_align_py is not None:
        # Same op through torchvision's pure-Python reference (argument order differs). That
        # reference only clamps samples to the map and lacks the C++ kernel's rule "a sample with
        # y < -1 or y > H (x likewise) contributes 0", so it is only compared on boxes lying within
        # [-1, W] x [-1, H] after scaling (and the aligned shift); the C++ op is the one written.
        ref = _roi_align_py(feats, rois, spatial_scale, output_size[0], output_size[1], sampling_ratio, aligned)
        _, _, h, w = feats.shape
        shift = 0.5 if aligned else 0.0
        for i, (_, x1, y1, x2, y2) in enumerate(boxes):
            x1, y1, x2, y2 = (v * spatial_scale - shift for v in (x1, y1, x2, y2))
            if not aligned:  # the legacy mode stretches a box to at least 1 px from its start
                x2, y2 = max(x2, x1 + 1.0), max(y2, y1 + 1.0)
            if x1 >= -1 and y1 >= -1 and x2 <= w and y2 <= h:
                err = (out[i] - ref[i]).abs().max().item()
                assert err < 1e-5, f"{name} box {i}: C++ op and Python reference differ by {err}"
    return {
        "name": name,
        "features_shape": list(feats.shape),
        "features": exact_list(feats),
        "boxes": [[float(v) for v in b] for b in boxes],
        "output_size": list(output_size),
        "spatial_scale": spatial_scale,
        "sampling_ratio": sampling_ratio,
        "aligned": aligned,
        "output_shape": list(out.shape),
        "output": f32_list(out),
    }


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    cases = []

    # --- Plain boxes inside an 8x8 map, both alignment conventions, 3x3 bins. ---
    f8 = features(2, 3, 8, 8)
    inside = [
        [0, 0.5, 1.0, 6.25, 5.5],
        [0, 2.0, 2.0, 4.0, 7.0],
        [1, 1.25, 0.75, 7.0, 7.5],
        [1, 3.0, 1.5, 5.5, 3.75],
        [1, 0.0, 0.0, 7.0, 7.0],
    ]
    cases.append(case("inside_aligned", f8, inside, [3, 3], 1.0, 2, True))
    cases.append(case("inside_unaligned", f8, inside, [3, 3], 1.0, 2, False))

    # --- 7x7 bins (the usual detection head size) on a 10x10 map. ---
    f10 = features(2, 3, 10, 10)
    big = [
        [0, 0.0, 0.0, 9.0, 9.0],
        [0, 1.5, 2.25, 8.0, 6.5],
        [1, 2.5, 0.5, 9.5, 9.75],
        [1, 4.0, 3.0, 7.5, 8.0],
    ]
    cases.append(case("bins7x7_aligned", f10, big, [7, 7], 1.0, 2, True))

    # --- Boxes partly/fully outside the 8x8 map and a tiny box (w, h < 1 px). ---
    # Samples with y < -1 or y > H (x likewise) contribute 0; samples in [-1, 0] clamp to 0.
    # aligned=False clamps roi width/height up to 1 px; aligned=True keeps the tiny size.
    outside = [
        [0, -2.0, -1.5, 3.0, 4.0],      # partly negative
        [1, 5.0, 4.5, 10.5, 9.25],      # partly beyond W and H
        [1, -0.75, 6.5, 2.5, 8.75],     # straddles the left edge and the bottom edge
        [0, 9.0, 9.5, 12.0, 13.0],      # fully outside (beyond W and H): all zeros
        [1, -6.0, -5.0, -2.0, -1.5],    # fully outside (negative): all zeros
        [0, 3.25, 4.125, 3.625, 4.5],   # tiny: 0.375 x 0.375 px
    ]
    cases.append(case("outside_tiny_aligned", f8, outside, [3, 3], 1.0, 2, True))
    cases.append(case("outside_tiny_unaligned", f8, outside, [3, 3], 1.0, 2, False))

    # --- spatial_scale 0.5: boxes in the pixels of a 16x16 input, features 8x8. ---
    half = [
        [0, 2.0, 3.0, 12.0, 14.0],
        [1, -3.0, 5.0, 9.0, 17.0],
        [0, 7.5, 0.5, 15.5, 6.0],
        [1, 1.0, 1.0, 16.0, 16.0],
    ]
    cases.append(case("scale_half_aligned", f8, half, [3, 3], 0.5, 2, True))

    # --- sampling_ratio 0: adaptive grid ceil(roi_size / bins), per axis. ---
    adaptive = [
        [0, 0.0, 0.0, 9.0, 9.0],        # 9 px / 3 bins -> 3x3 samples per bin
        [0, 1.5, 2.0, 3.0, 9.5],        # narrow, tall: grid_w 1, grid_h 3
        [1, 0.25, 0.5, 8.75, 4.0],      # wide, short: grid_w 3, grid_h 2
        [1, 4.0, 4.0, 4.5, 5.0],        # tiny (0.5 x 1 px)
        [1, -2.0, 3.0, 12.0, 7.0],      # wider than the map: grid_w 5
    ]
    cases.append(case("adaptive_aligned", f10, adaptive, [3, 3], 1.0, 0, True))
    cases.append(case("adaptive_unaligned", f10, adaptive, [3, 3], 1.0, 0, False))

    # --- Non-square output [2, 4] on a non-square 6x10 map (H != W catches axis swaps). ---
    f6x10 = features(2, 3, 6, 10)
    wide = [
        [0, 0.5, 0.5, 9.0, 5.0],
        [0, 2.0, 1.0, 6.0, 3.5],
        [1, 1.0, 0.0, 9.5, 5.5],
        [1, 6.5, 2.25, 11.0, 6.75],     # partly beyond W and H
    ]
    cases.append(case("nonsquare_2x4_aligned", f6x10, wide, [2, 4], 1.0, 2, True))
    cases.append(case("nonsquare_2x4_adaptive_unaligned", f6x10, wide, [2, 4], 1.0, 0, False))

    tv = torchvision.__version__.split("+")[0]
    doc = {"generator": f"torchvision {tv} roi_align (torch {torch.__version__.split('+')[0]})", "cases": cases}
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        print(
            f"{c['name']}: features {c['features_shape']}, {len(c['boxes'])} boxes, "
            f"output {c['output_shape']}, scale {c['spatial_scale']}, "
            f"sampling_ratio {c['sampling_ratio']}, aligned {c['aligned']}"
        )
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)"
          f"{'' if _roi_align_py else ' (no Python reference to cross-check)'}")


if __name__ == "__main__":
    main()
