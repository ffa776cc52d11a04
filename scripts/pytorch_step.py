#!/usr/bin/env python3
"""PyTorch reference for the training-step part of `frelu bench` (CPU).

What it measures
    The wall time of one training step -- forward pass, cross-entropy loss (mean over the
    batch), backward pass and an SGD step with momentum -- of the networks that `frelu bench`
    times, on one synthetic batch reused every step. It reports the median, min and max over
    `--repeats` timed steps after `--warmup` untimed ones, per model and activation.

How it mirrors `frelu bench` (crates/frelu-vision/src/bench/steps.rs: synthetic_batch, time_steps)
    * Input: normal(0, 1) images, 1x28x28 for simple-cnn and 3x32x32 otherwise; labels
      i % 10 for i in 0..batch; 10 classes; batch 128 by default.
    * Optimiser: Burn's `SgdConfig::new().with_momentum(Some(MomentumConfig::new()))` stepped
      at lr 0.01. Burn's MomentumConfig defaults are momentum 0.9, dampening 0.1, nesterov
      false, no weight decay; its first step uses the raw gradient as velocity, as PyTorch's
      SGD does. Hence torch.optim.SGD(lr=0.01, momentum=0.9, dampening=0.1).
    * Step = forward + loss + backward + optimiser step; the timer brackets exactly that
      (PyTorch's zero_grad, which Burn needs no counterpart of, is inside it too; it is cheap).
    * Several activations given to --act are timed interleaved, step after step, as frelu
      bench interleaves its variants, so a noisy machine slows them alike.
    * Networks (crates/frelu-vision/src/models), all convolutions without bias, padded k//2,
      BatchNorm eps 1e-5 momentum 0.1 (same update rule as Burn's), Linear heads with bias,
      the activation after every BN (and after every residual addition):
      - simple-cnn (simple_cnn.rs): 4 x (conv3x3 -> BN -> act), widths 32, 32, 64, 64,
        MaxPool 2x2/2 after blocks 1 and 3, AdaptiveAvgPool to 7x7, flatten, Linear(64*49, 10).
      - resnet20 (resnet.rs, CifarResNet, ModelConfig's default shortcut option A): conv3x3
        stem of 16 -> BN -> act, 3 stages x 3 basic blocks of 16, 32, 64 channels (stride 2 at
        the first block of stages 2 and 3), each block conv3x3 -> BN -> act -> conv3x3 -> BN,
        + shortcut, act; option-A shortcut: subsample x[:, :, ::2, ::2] and zero-pad
        (out - in) / 2 channels on each side (no parameters); global average pool, Linear(64, 10).
      - mobilenet_v1_cifar (mobilenet.rs, small_input = true): conv3x3/1 stem of 32a -> BN ->
        act, 13 depthwise-separable blocks (dw3x3 -> BN -> act -> pw1x1 -> BN -> act) with
        pointwise widths a*(64, 128, 128, 256, 256, 512 x 6, 1024 x 2) and stride 2 at blocks
        2, 4, 6, 12, global average pool, Dropout(1e-3), Linear(1024a, 10); channels are
        floor(c * a), at least 1; a = 0.5 by default, as `frelu bench --mobilenet-width`.
    * --act prelu is PyTorch's nn.PReLU(channels, init=0.25): one slope per channel, at every
      place the activation sits, as frelu's `prelu` (init 0.25, per channel).
    * Model names are those `frelu bench` prints (Architecture's Display).

Parameter counts (printed per model; "params" = trainable, what
frelu_vision::models::trainable_params counts; "params_incl_bn_stats" adds the BN running
mean and variance, which Burn's Module::num_params() also counts). Expected, counted by hand
from the Rust layer shapes, ReLU (PReLU adds one per activation channel):
    simple-cnn                   96,554 trainable    96,938 with BN stats  (+192 for PReLU)
    resnet20                    269,722             271,098               (+688)
    mobilenet_v1_cifar (a=0.5)  823,722             834,666               (+5,472)
    mobilenet_v1_cifar (a=1.0) 3,217,226          3,239,114               (+10,944)

PyTorch here is only an outside reference for the Rust timings: no build or test of the
project depends on it or on this script.

Usage:
    python3 scripts/pytorch_step.py [--models simple-cnn,resnet20,mobilenet_v1_cifar]
        [--batch 128] [--threads 2] [--repeats 15] [--warmup 3] [--act relu[,prelu]]
        [--width 0.5] [--out FILE.json]
"""

import argparse
import json
import statistics
import time
import warnings

# PyTorch warns at import when NumPy is absent; this script does not use NumPy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MODELS = ("simple-cnn", "resnet20", "mobilenet_v1_cifar")
ACTIVATIONS = ("relu", "prelu")
NUM_CLASSES = 10


def make_act(kind, channels):
    """The activation at one place: ReLU, or PReLU with one slope per channel (init 0.25)."""
    if kind == "relu":
        return nn.ReLU()
    if kind == "prelu":
        return nn.PReLU(num_parameters=channels, init=0.25)
    raise ValueError(f"unknown activation {kind!r}")


def conv(cin, cout, kernel, stride=1, groups=1):
    """k x k convolution without bias, padded to keep the size at stride 1 (common::conv)."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, groups=groups,
                     bias=False)


def bn(channels):
    """Burn's BatchNormConfig defaults: epsilon 1e-5, momentum 0.1, gamma 1, beta 0."""
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1)


class ConvBnAct(nn.Sequential):
    """common::ConvBnAct: conv -> BN -> activation."""

    def __init__(self, cin, cout, kernel, stride, act, groups=1):
        super().__init__(conv(cin, cout, kernel, stride, groups), bn(cout), make_act(act, cout))


class SimpleCnn(nn.Module):
    """simple_cnn.rs: 4 conv-BN-act blocks, 2x2 max-pool after the 1st and the 3rd."""

    def __init__(self, act, in_channels=1, widths=(32, 32, 64, 64), num_classes=NUM_CLASSES):
        super().__init__()
        a, b, c, d = widths
        self.blocks = nn.ModuleList([
            ConvBnAct(in_channels, a, 3, 1, act),
            ConvBnAct(a, b, 3, 1, act),
            ConvBnAct(b, c, 3, 1, act),
            ConvBnAct(c, d, 3, 1, act),
        ])
        self.pool = nn.MaxPool2d(2)  # Burn's MaxPool2dConfig: stride = kernel, no padding
        self.resize = nn.AdaptiveAvgPool2d((7, 7))
        self.head = nn.Linear(d * 7 * 7, num_classes)

    def forward(self, x):
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i % 2 == 0:
                x = self.pool(x)
        return self.head(torch.flatten(self.resize(x), 1))


class BasicBlock(nn.Module):
    """resnet.rs BasicBlock with the option-A shortcut."""

    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.first = ConvBnAct(cin, cout, 3, stride, act)
        self.conv2 = conv(cout, cout, 3)
        self.bn2 = bn(cout)
        self.act = make_act(act, cout)
        self.stride = stride
        self.pad = 0
        if stride != 1 or cin != cout:
            assert cout >= cin and (cout - cin) % 2 == 0, "option A needs an even increase"
            self.pad = (cout - cin) // 2

    def shortcut(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad, self.pad))
        return x

    def forward(self, x):
        residual = self.bn2(self.conv2(self.first(x)))
        return self.act(residual + self.shortcut(x))


class CifarResNet(nn.Module):
    """resnet.rs CifarResNet: depth 6n + 2, stages of base, 2 base, 4 base channels."""

    def __init__(self, act, depth=20, in_channels=3, base_width=16, num_classes=NUM_CLASSES):
        super().__init__()
        assert depth >= 8 and (depth - 2) % 6 == 0, "depth must be 6n + 2"
        n = (depth - 2) // 6
        w = base_width
        self.stem = ConvBnAct(in_channels, w, 3, 1, act)
        blocks = []
        channels = w
        for stage, width in enumerate((w, 2 * w, 4 * w)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(channels, width, stride, act))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(torch.flatten(self.pool(x), 1))


# mobilenet.rs BLOCKS: pointwise output channels and stride of the 13 separable blocks (a = 1).
MOBILENET_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                    (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    """mobilenet.rs MobileNetV1; small_input = True is `mobilenet_v1_cifar` (stride-1 stem)."""

    def __init__(self, act, width=1.0, in_channels=3, num_classes=NUM_CLASSES,
                 small_input=True, dropout=1e-3):
        super().__init__()

        def scaled(c):
            return max(int(c * width), 1)

        channels = scaled(32)
        self.stem = ConvBnAct(in_channels, channels, 3, 1 if small_input else 2, act)
        blocks = []
        for out, stride in MOBILENET_BLOCKS:
            out = scaled(out)
            blocks.append(nn.Sequential(
                ConvBnAct(channels, channels, 3, stride, act, groups=channels),  # depthwise
                ConvBnAct(channels, out, 1, 1, act),  # pointwise
            ))
            channels = out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(self.dropout(torch.flatten(self.pool(x), 1)))


def init_weights(model):
    """As common.rs: He normal, fan-out, for every convolution; BN gamma 1, beta 0 (defaults).
    Linear layers keep PyTorch's default init (Burn's is the same uniform bound)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def build(name, act, width):
    """The network `frelu bench` names `name`, and its input shape (channels, size)."""
    if name == "simple-cnn":
        model, shape = SimpleCnn(act), (1, 28)
    elif name == "resnet20":
        model, shape = CifarResNet(act, depth=20), (3, 32)
    elif name == "mobilenet_v1_cifar":
        model, shape = MobileNetV1(act, width=width, small_input=True), (3, 32)
    else:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    init_weights(model)
    return model, shape


def count_params(model):
    """(trainable parameters, trainable + BN running mean/var) -- the second is what Burn's
    Module::num_params() counts (PyTorch's num_batches_tracked has no Burn counterpart)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = sum(b.numel() for n, b in model.named_buffers()
                if n.endswith("running_mean") or n.endswith("running_var"))
    return trainable, trainable + stats


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def time_model(name, acts, args):
    """Median/min/max step time (ms) of `name` with each activation of `acts`, interleaved."""
    runs = []
    shape = None
    for act in acts:
        model, shape = build(name, act, args.width)
        model.train()
        optim = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, dampening=0.1,
                                nesterov=False, weight_decay=0.0)
        runs.append((act, model, optim))
    channels, size = shape
    images = torch.randn(args.batch, channels, size, size)
    targets = torch.arange(args.batch, dtype=torch.int64) % NUM_CLASSES
    loss_fn = nn.CrossEntropyLoss()  # mean over the batch, as Burn's CrossEntropyLoss
    times = [[] for _ in runs]
    for repeat in range(args.warmup + args.repeats):
        for i, (_, model, optim) in enumerate(runs):
            t = time.perf_counter()
            optim.zero_grad(set_to_none=True)
            loss = loss_fn(model(images), targets)
            loss.backward()
            optim.step()
            elapsed = time.perf_counter() - t
            if repeat >= args.warmup:
                times[i].append(elapsed * 1e3)
    results = []
    for (act, model, _), ts in zip(runs, times):
        params, with_stats = count_params(model)
        step_ms = statistics.median(ts)
        result = {
            "model": name,
            "activation": act,
            "step_ms": step_ms,
            "min_ms": min(ts),
            "max_ms": max(ts),
            "images_per_sec": args.batch / (step_ms / 1e3),
            "params": params,
            "params_incl_bn_stats": with_stats,
        }
        if name == "mobilenet_v1_cifar":
            result["width"] = args.width
        results.append(result)
    return results


def main():
    parser = argparse.ArgumentParser(
        description="PyTorch (CPU) reference for the training-step timings of `frelu bench`.")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated, names as frelu bench prints them "
                             f"(default: {','.join(MODELS)})")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch.set_num_threads (default 2: this machine's cores)")
    parser.add_argument("--repeats", type=int, default=15, help="timed steps (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--act", default="relu",
                        help="relu, prelu, or both comma-separated (timed interleaved); "
                             "default relu")
    parser.add_argument("--width", type=float, default=0.5,
                        help="width multiplier of mobilenet_v1_cifar (default 0.5; "
                             "frelu bench's ModelConfig::new uses 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed (default 0)")
    parser.add_argument("--out", help="write the JSON report here")
    args = parser.parse_args()

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    acts = [a.strip().lower() for a in args.act.split(",") if a.strip()]
    for m in models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r}; known: {', '.join(MODELS)}")
    for a in acts:
        if a not in ACTIVATIONS:
            parser.error(f"unknown activation {a!r}; known: {', '.join(ACTIVATIONS)}")
    if args.batch < 1 or args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--batch, --repeats and --threads must be at least 1, --warmup at least 0")
    if not args.width > 0:
        parser.error("--width must be positive")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    mkldnn = bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
    report = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "cpu": cpu_model(),
        "mkldnn_enabled": mkldnn,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "steps": [],
    }
    print(f"torch {report['torch_version']}, {report['threads']} threads, "
          f"mkldnn {'on' if mkldnn else 'off'}, cpu {report['cpu']}; batch {args.batch}, "
          f"{args.repeats} timed steps after {args.warmup} warm-up")
    print(f"{'model':<20} {'activation':<10} {'params':>10} {'+BN stats':>10} "
          f"{'ms/step':>9} {'min':>9} {'max':>9} {'images/s':>9}")
    for name in models:
        for r in time_model(name, acts, args):
            report["steps"].append(r)
            print(f"{r['model']:<20} {r['activation']:<10} {r['params']:>10,} "
                  f"{r['params_incl_bn_stats']:>10,} {r['step_ms']:>9.1f} {r['min_ms']:>9.1f} "
                  f"{r['max_ms']:>9.1f} {r['images_per_sec']:>9.0f}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        print(f"JSON report: {args.out}")


if __name__ == "__main__":
    main()
