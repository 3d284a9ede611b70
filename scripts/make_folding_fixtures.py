#!/usr/bin/env python3
"""Writes the PyTorch reference values for BatchNorm folding (Functional.fuseConvBatchNorm and
Functional.fuseLinearBatchNorm).

Run it from the repository root with a Python that has torch:

    python scripts/make_folding_fixtures.py

It writes Tests/NormKitTests/Fixtures/batchnorm_folding.json, which is committed, so the tests
(and CI) never need Python.

Each case draws a layer's weight and bias and a BatchNorm's running statistics, γ and β in
float32 (running means around 0, running variances in [0.05, 2.05], γ around 1), then runs
torch.nn.utils.fusion.fuse_conv_bn_weights / fuse_linear_bn_weights on a float32 and a float64
copy of the same values. Before writing a case, the script checks in float64 that the folded
layer computes what the layer followed by the BatchNorm in eval mode computes, on a random
input, so every reference value is known to be a correct fold.

Two kinds of case are not torch's own fold, and say so in their "reference" field:
- A grouped transposed convolution (ConvTranspose2d with groups=2): torch's
  fuse_conv_bn_weights scales dimension 1 of the [Cin, Cout/groups, kh, kw] weight by all Cout
  factors, which raises a size mismatch (and for Cout/groups = 1 returns a weight of the wrong
  shape). The reference is the per-group fold, checked against conv_transpose2d + BatchNorm.
- fuse_linear_bn_weights needs a BatchNorm weight and bias; for a BatchNorm without affine
  parameters the case passes ones and zeros, which is what affine=False means. For a
  one-feature BatchNorm after a Linear without bias, torch returns a [1] bias that broadcasts
  to [out]; the fixture stores the broadcast [out] bias NormKit returns.
"""
import json
import os

import torch
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

torch.manual_seed(20261127)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "NormKitTests", "Fixtures", "batchnorm_folding.json")


def tensor_json(t):
    return None if t is None else {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def batch_norm_state(channels, affine):
    return {
        "running_mean": 0.5 * torch.randn(channels),
        "running_var": 0.05 + 2 * torch.rand(channels),
        "weight": (1 + 0.5 * torch.randn(channels)) if affine else None,
        "bias": (0.5 * torch.randn(channels)) if affine else None,
    }


def cast(t, dtype):
    return None if t is None else t.to(dtype)


def grouped_transposed_fold(w, b, bn, eps):
    """The per-group fold of a transposed weight [Cin, Cout/groups, k...]."""
    cin, per_group = w.shape[0], w.shape[1]
    channels = bn["running_mean"].numel()
    groups = channels // per_group
    scale = bn["weight"] * torch.rsqrt(bn["running_var"] + eps)
    rows = torch.arange(cin) // (cin // groups)
    index = rows[:, None] * per_group + torch.arange(per_group)[None, :]  # [Cin, Cout/groups]
    factors = scale[index].reshape(list(index.shape) + [1] * (w.dim() - 2))
    bias = b if b is not None else torch.zeros_like(bn["running_mean"])
    return w * factors, (bias - bn["running_mean"]) * scale + bn["bias"]


CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def check_conv(case, w, b, fused_w, fused_b, bn, eps):
    """conv(x; W′, b′) = BatchNorm_eval(conv(x; W, b)), in float64."""
    dims = w.dim() - 2
    groups = case["groups"]
    cin = w.shape[0] if case["transposed"] else w.shape[1] * groups
    x = torch.randn([2, cin] + [5] * dims, dtype=torch.float64)
    op = CONV_T[dims] if case["transposed"] else CONV[dims]
    y = op(x, w, b, groups=groups)
    expected = F.batch_norm(y, bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"], training=False, eps=eps)
    actual = op(x, fused_w, fused_b, groups=groups)
    assert torch.allclose(actual, expected, atol=1e-10, rtol=1e-10), case["name"]


def check_linear(case, w, b, fused_w, fused_b, bn, eps):
    # A one-feature BatchNorm1d normalizes (N, 1, out) outputs: the Linear maps (N, 1, in).
    one_feature = bn["running_mean"].numel() == 1
    x = torch.randn([4, 1, w.shape[1]] if one_feature else [4, w.shape[1]], dtype=torch.float64)
    expected = F.batch_norm(F.linear(x, w, b), bn["running_mean"], bn["running_var"], bn["weight"], bn["bias"],
                            training=False, eps=eps)
    assert torch.allclose(F.linear(x, fused_w, fused_b), expected, atol=1e-10, rtol=1e-10), case["name"]


def new_case(name, kind, w32, b32, bn32, eps, reference, transposed=False, groups=1):
    """A case's inputs in float32, and an empty "expected" for each dtype to fill."""
    return {"name": name, "kind": kind, "transposed": transposed, "groups": groups, "eps": eps,
            "reference": reference, "layer_weight": tensor_json(w32), "layer_bias": tensor_json(b32),
            "batch_norm": {k: tensor_json(v) for k, v in bn32.items()}, "expected": {}}


def in_each_dtype(w32, b32, bn32):
    """The same float32 values as float32 and as float64: (key, dtype, weight, bias, batch norm)."""
    for dtype, key in ((torch.float32, "float32"), (torch.float64, "float64")):
        yield key, dtype, w32.to(dtype), cast(b32, dtype), {k: cast(v, dtype) for k, v in bn32.items()}


def conv_case(name, weight_shape, channels, bias=True, groups=1, transposed=False, affine=True, eps=1e-5):
    w32 = 0.3 * torch.randn(weight_shape)
    b32 = 0.5 * torch.randn(channels) if bias else None
    bn32 = batch_norm_state(channels, affine)
    per_group = transposed and groups > 1
    reference = ("per-group fold (torch's fuse_conv_bn_weights fails for groups > 1)" if per_group
                 else "torch.nn.utils.fusion.fuse_conv_bn_weights")
    case = new_case(name, "conv", w32, b32, bn32, eps, reference, transposed, groups)
    for key, dtype, w, b, bn in in_each_dtype(w32, b32, bn32):
        if per_group:
            fused_w, fused_b = grouped_transposed_fold(w, b, bn, eps)
        else:
            fused_w, fused_b = fuse_conv_bn_weights(w, b, bn["running_mean"], bn["running_var"], eps,
                                                    bn["weight"], bn["bias"], transpose=transposed)
        if dtype == torch.float64:
            check_conv(case, w, b, fused_w, fused_b, bn, eps)
        case["expected"][key] = {"weight": tensor_json(fused_w), "bias": tensor_json(fused_b)}
    return case


def linear_case(name, outputs, inputs, channels, bias=True, affine=True, eps=1e-5):
    w32 = 0.3 * torch.randn(outputs, inputs)
    b32 = 0.5 * torch.randn(outputs) if bias else None
    bn32 = batch_norm_state(channels, affine)
    reference = "torch.nn.utils.fusion.fuse_linear_bn_weights" + ("" if affine else " with weight ones and bias zeros")
    case = new_case(name, "linear", w32, b32, bn32, eps, reference)
    for key, dtype, w, b, bn in in_each_dtype(w32, b32, bn32):
        gamma = bn["weight"] if affine else torch.ones(channels, dtype=dtype)
        beta = bn["bias"] if affine else torch.zeros(channels, dtype=dtype)
        fused_w, fused_b = fuse_linear_bn_weights(w, b, bn["running_mean"], bn["running_var"], eps, gamma, beta)
        fused_b = fused_b.expand(outputs)  # [1] → [out] for a one-feature BatchNorm after a Linear without bias
        if dtype == torch.float64:
            check_linear(case, w, b, fused_w, fused_b, bn, eps)
        case["expected"][key] = {"weight": tensor_json(fused_w), "bias": tensor_json(fused_b)}
    return case


cases = [
    conv_case("conv2d", [6, 3, 3, 3], 6),
    conv_case("conv2d_no_bias", [6, 3, 3, 3], 6, bias=False),
    conv_case("conv2d_grouped", [6, 2, 3, 3], 6, groups=2),
    conv_case("conv2d_depthwise", [4, 1, 3, 3], 4, groups=4),
    conv_case("conv1d", [5, 3, 3], 5),
    conv_case("conv3d", [4, 2, 2, 2, 2], 4, bias=False),
    conv_case("conv_transpose2d", [3, 5, 3, 3], 5, transposed=True),
    conv_case("conv_transpose2d_no_bias", [3, 5, 2, 2], 5, bias=False, transposed=True),
    conv_case("conv_transpose2d_groups2", [4, 3, 3, 3], 6, groups=2, transposed=True),
    conv_case("conv_transpose1d_depthwise", [4, 1, 3], 4, groups=4, transposed=True),
    conv_case("conv2d_batchnorm_affine_false", [6, 3, 3, 3], 6, affine=False),
    conv_case("conv2d_eps_1e-3", [6, 3, 1, 1], 6, eps=1e-3),
    conv_case("conv2d_eps_0.5", [4, 2, 3, 3], 4, eps=0.5),
    linear_case("linear", 4, 5, 4),
    linear_case("linear_no_bias", 4, 5, 4, bias=False),
    linear_case("linear_batchnorm_affine_false_eps_1e-3", 3, 6, 3, affine=False, eps=1e-3),
    linear_case("linear_no_bias_batchnorm1", 5, 3, 1, bias=False),
]

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"generator": "scripts/make_folding_fixtures.py", "torch": torch.__version__, "cases": cases}, f)
    f.write("\n")
print(f"wrote {len(cases)} cases to {OUT}")
