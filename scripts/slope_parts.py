"""Where in a network the FReLU slopes moved: mean |pos - 1| and |neg - 0| (the distance from
ReLU, where they start) per part of the network, over the runs given.

    python3 scripts/slope_parts.py docs/runs/detect-frcnn-e4/runs/frelu_neg_0-s*

A part is the block a layer belongs to: the backbone's stem and stages, then the heads (`rpn`,
`box_head` of Faster R-CNN; `fuse`, `trunk` of CenterNet). Each run's `slopes.json` (written by every task) is read; the table gives
the mean over the part's channels of each run, then the mean and range over the runs.
"""
import json
import os
import re
import sys


def part(path):
    """The part of the network a layer path belongs to (Faster R-CNN's and CenterNet's paths)."""
    segments = path.split('.')
    if segments[0][:1].isupper():  # the model's type name
        segments = segments[1:]
    rest = '.'.join(segments)
    m = re.match(r'backbone\.layers\.(\d+)', rest) or re.match(r'stage(\d+)', rest)
    if m:
        offset = 1 if rest.startswith('backbone.layers') else 0
        return f"backbone stage {int(m.group(1)) + offset}"
    if segments[0] == 'backbone':
        return 'backbone ' + segments[1]
    return {'stem': 'backbone stem'}.get(segments[0], segments[0])


def main(runs):
    table = {}
    for run in runs:
        per_part = {}
        for layer in json.load(open(os.path.join(run, 'slopes.json'))):
            d = per_part.setdefault(part(layer['path']), [[], []])
            d[0] += [abs(p - 1.0) for p in layer['pos']]
            d[1] += [abs(n) for n in layer['neg']]
        for name, (pos, neg) in per_part.items():
            t = table.setdefault(name, [[], [], len(pos)])
            t[0].append(sum(pos) / len(pos))
            t[1].append(sum(neg) / len(neg))
    print(f"| part | channels | mean abs(pos − 1), {len(runs)} runs [range] | mean abs(neg), [range] |")
    print("|---|---:|---|---|")
    for name, (pos, neg, n) in table.items():
        f = lambda v: f"{sum(v) / len(v):.4f} [{min(v):.4f}, {max(v):.4f}]"
        print(f"| {name} | {n} | {f(pos)} | {f(neg)} |")


if __name__ == '__main__':
    main(sys.argv[1:])
