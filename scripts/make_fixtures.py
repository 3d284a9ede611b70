#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that NormKit's tests compare against.

Run it from the repository root with a Python that has torch:

    python scripts/make_fixtures.py

It writes Tests/NormKitTests/Fixtures/torch_reference.json. The fixtures are committed, so the
tests (and CI) never need Python.

Every case builds one layer with given options, loads a random initial state (random affine
parameters and, where tracked, random running statistics), and runs a sequence of steps. Each
step sets train or eval mode, feeds a random input, back-propagates a *random* upstream
gradient, and records the output, all three gradients and the buffers afterwards. Gradients
are zeroed before every step. Inputs are drawn in float32 and the same values are run through
a float32 and a float64 copy of the layer, so the Swift tests can compare both scalar types
elementwise against PyTorch.
"""
import json
import math
import os

import torch

torch.manual_seed(20261126)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "NormKitTests", "Fixtures", "torch_reference.json")


def build(layer, args, dtype):
    cls = getattr(torch.nn, layer)
    kwargs = dict(args)
    if layer in ("LayerNorm", "RMSNorm"):
        kwargs["normalized_shape"] = tuple(kwargs["normalized_shape"])
    return cls(**kwargs).to(dtype)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t):
    return {"shape": list(t.shape), "data": flat(t)}


def random_state(module):
    """A random state dict in float32 values: weight around 1, bias around 0, positive variances."""
    state = {}
    for name, value in module.state_dict().items():
        if name == "num_batches_tracked":
            state[name] = torch.tensor(3 if module.momentum is None else 0)
        elif name == "weight":
            state[name] = 1 + 0.5 * torch.randn(value.shape)
        elif name in ("bias", "running_mean"):
            state[name] = 0.5 * torch.randn(value.shape)
        elif name == "running_var":
            state[name] = 0.5 + torch.rand(value.shape)
    return state


def run_case(name, layer, args, steps, mean=0.0, std=1.0):
    probe = build(layer, args, torch.float32)
    state32 = random_state(probe)
    inputs = []
    for mode, shape in steps:
        x = (mean + std * torch.randn(shape)).float()
        g = torch.randn(shape).float()
        inputs.append((mode, x, g))
    case = {
        "name": name,
        "layer": layer,
        "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.items()},
        "initial_state": {k: tensor_json(v.float()) for k, v in state32.items()},
        "steps": [{"mode": mode, "input": tensor_json(x), "grad_output": tensor_json(g)} for mode, x, g in inputs],
        "expected": {},
    }
    for dtype, key in ((torch.float32, "float32"), (torch.float64, "float64")):
        module = build(layer, args, dtype)
        module.load_state_dict({k: (v if k == "num_batches_tracked" else v.to(dtype)) for k, v in state32.items()})
        records = []
        for mode, x, g in inputs:
            module.train(mode == "train")
            module.zero_grad(set_to_none=False)
            xi = x.to(dtype).clone().requires_grad_(True)
            y = module(xi)
            y.backward(g.to(dtype))
            rec = {"output": flat(y), "grad_input": flat(xi.grad)}
            for pname, p in module.named_parameters():
                rec["grad_" + pname] = flat(p.grad) if p.grad is not None else [0.0] * p.numel()
            for bname, b in module.named_buffers():
                rec[bname] = flat(b) if bname != "num_batches_tracked" else [float(b.item())]
            records.append(rec)
        case["expected"][key] = records
    return case


def option_grid(momenta):
    """Every combination of momentum, affine and track_running_stats, with a name tag for each."""
    for momentum in momenta:
        for affine in (True, False):
            for track in (True, False):
                yield (f"m{momentum}_a{int(affine)}_t{int(track)}",
                       {"eps": 1e-5, "momentum": momentum, "affine": affine, "track_running_stats": track})


def main():
    cases = []
    T, E = "train", "eval"

    # BatchNorm: every option combination, odd sizes, several training steps then eval.
    for tag, opts in option_grid(momenta=(0.1, 0.3, None)):
        cases.append(run_case(f"bn1d_2d_{tag}", "BatchNorm1d", {"num_features": 3, **opts},
                              [(T, (5, 3)), (T, (4, 3)), (T, (7, 3)), (E, (3, 3))]))
        cases.append(run_case(f"bn2d_{tag}", "BatchNorm2d", {"num_features": 3, **opts},
                              [(T, (2, 3, 3, 5)), (T, (3, 3, 2, 3)), (T, (1, 3, 3, 3)), (E, (2, 3, 3, 5))]))
    cases.append(run_case("bn1d_3d_eps", "BatchNorm1d", {"num_features": 4, "eps": 1e-3},
                          [(T, (3, 4, 7)), (T, (2, 4, 9)), (E, (3, 4, 5))]))
    cases.append(run_case("bn3d", "BatchNorm3d", {"num_features": 2, "momentum": 0.2},
                          [(T, (2, 2, 3, 2, 3)), (T, (3, 2, 1, 3, 2)), (E, (1, 2, 2, 3, 3))]))
    cases.append(run_case("bn2d_simd_tail", "BatchNorm2d", {"num_features": 5},
                          [(T, (3, 5, 7, 9)), (E, (2, 5, 5, 3))]))
    cases.append(run_case("bn2d_large_mean", "BatchNorm2d", {"num_features": 3},
                          [(T, (4, 3, 5, 5)), (T, (4, 3, 5, 5)), (E, (2, 3, 5, 5))], mean=1e4, std=0.1))

    # InstanceNorm: defaults, affine, tracking, momentum values, batched and unbatched inputs.
    for tag, opts in option_grid(momenta=(0.1, 0.4, None)):
        cases.append(run_case(f"in2d_{tag}", "InstanceNorm2d", {"num_features": 3, **opts},
                              [(T, (2, 3, 4, 5)), (T, (3, 3, 3, 3)), (T, (3, 4, 5)), (E, (2, 3, 4, 5)), (E, (3, 2, 3))]))
    cases.append(run_case("in1d_unbatched", "InstanceNorm1d", {"num_features": 4, "affine": True, "track_running_stats": True},
                          [(T, (4, 9)), (T, (2, 4, 7)), (E, (4, 5)), (E, (3, 4, 6))]))
    cases.append(run_case("in3d", "InstanceNorm3d", {"num_features": 2, "affine": True, "track_running_stats": True, "momentum": 0.25},
                          [(T, (2, 2, 2, 3, 3)), (T, (2, 3, 2, 3)), (E, (1, 2, 2, 2, 3))]))

    # LayerNorm: one and several normalized dimensions, affine options, large mean.
    cases.append(run_case("ln_1dim", "LayerNorm", {"normalized_shape": [7]}, [(T, (4, 7)), (E, (2, 3, 7))]))
    cases.append(run_case("ln_2dims", "LayerNorm", {"normalized_shape": [3, 5], "eps": 1e-6}, [(T, (2, 4, 3, 5)), (E, (3, 5))]))
    cases.append(run_case("ln_no_affine", "LayerNorm", {"normalized_shape": [6], "elementwise_affine": False}, [(T, (5, 6))]))
    cases.append(run_case("ln_no_bias", "LayerNorm", {"normalized_shape": [2, 9], "bias": False}, [(T, (3, 2, 9))]))
    cases.append(run_case("ln_large_mean", "LayerNorm", {"normalized_shape": [33]}, [(T, (5, 33))], mean=1e4, std=0.1))

    # GroupNorm: one group, several, one per channel; affine on and off.
    cases.append(run_case("gn_2groups", "GroupNorm", {"num_groups": 2, "num_channels": 6}, [(T, (3, 6, 4, 3)), (E, (2, 6, 5))]))
    cases.append(run_case("gn_1group", "GroupNorm", {"num_groups": 1, "num_channels": 4}, [(T, (2, 4, 3, 3))]))
    cases.append(run_case("gn_per_channel", "GroupNorm", {"num_groups": 5, "num_channels": 5, "eps": 1e-4}, [(T, (2, 5, 7))]))
    cases.append(run_case("gn_no_affine", "GroupNorm", {"num_groups": 3, "num_channels": 6, "affine": False}, [(T, (2, 6, 2, 2, 3))]))
    cases.append(run_case("gn_2d_input", "GroupNorm", {"num_groups": 2, "num_channels": 4}, [(T, (5, 4))]))

    # RMSNorm: default eps (machine epsilon), explicit eps, no affine, several dimensions.
    cases.append(run_case("rms_default_eps", "RMSNorm", {"normalized_shape": [8]}, [(T, (3, 8)), (E, (2, 2, 8))]))
    cases.append(run_case("rms_eps", "RMSNorm", {"normalized_shape": [3, 5], "eps": 1e-6}, [(T, (2, 3, 5))]))
    cases.append(run_case("rms_no_affine", "RMSNorm", {"normalized_shape": [11], "elementwise_affine": False}, [(T, (4, 11))]))

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"torch_version": torch.__version__, "cases": cases}, f, separators=(",", ":"))
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
