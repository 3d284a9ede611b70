#!/usr/bin/env python3
"""Writes Tests/NormKitTests/Fixtures/half_precision.json: PyTorch's results for every layer on
float16 and bfloat16 inputs, forward and backward.

Two paths, as in PyTorch:
- "mixed": a float32 module on a half-precision input (parameters, running statistics and their
  gradients float32; output and input gradient in the input's dtype);
- "half": the module converted with .half() / .bfloat16() (everything in the half dtype).

Each case holds the input, the upstream gradient (random), the parameters, and torch's output,
input gradient, parameter gradients and running statistics after one training step (and, for
BatchNorm, an eval-mode output). Values are written as Python floats, which hold every
float16/bfloat16/float32 value exactly.

Run by hand (needs torch; CI reads the committed JSON):
    ../torchenv/bin/python scripts/make_half_fixtures.py
"""
import json
import pathlib

import torch

torch.manual_seed(2026)
OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "NormKitTests" / "Fixtures" / "half_precision.json"


def values(t):
    return [float(v) for v in t.detach().double().flatten().tolist()]


def layers():
    """(name, module factory, input shape, input scale): scale 400 makes float16 squares overflow."""
    return [
        ("batchnorm2d", lambda: torch.nn.BatchNorm2d(3), (2, 3, 4, 5), 1.0),
        ("batchnorm2d_large", lambda: torch.nn.BatchNorm2d(3), (2, 3, 4, 5), 400.0),
        ("batchnorm1d", lambda: torch.nn.BatchNorm1d(5), (6, 5), 1.0),
        ("instancenorm2d", lambda: torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 3, 5), 1.0),
        ("layernorm", lambda: torch.nn.LayerNorm(16), (4, 16), 1.0),
        ("groupnorm", lambda: torch.nn.GroupNorm(2, 4), (2, 4, 2, 5), 1.0),
        ("rmsnorm", lambda: torch.nn.RMSNorm(16), (4, 16), 1.0),
    ]


def case(name, factory, shape, scale, dtype, path):
    module = factory()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.dim() == 1 and p is getattr(module, "weight", None) else 0.0))
    parameters = {n: values(p) for n, p in module.named_parameters()}
    if path == "half":
        module = module.to(dtype)
    x = (torch.randn(shape) * scale + 0.5 * scale).to(dtype).requires_grad_()
    grad = torch.randn(shape).to(dtype)
    module.train()
    y = module(x)
    y.backward(grad)
    result = {
        "name": name, "dtype": str(dtype).replace("torch.", ""), "path": path, "shape": list(shape),
        "input": values(x), "grad_output": values(grad), "parameters": parameters,
        "output": values(y), "grad_input": values(x.grad),
        "grad_parameters": {n: values(p.grad) for n, p in module.named_parameters()},
    }
    if getattr(module, "running_mean", None) is not None:
        result["running_mean"] = values(module.running_mean)
        result["running_var"] = values(module.running_var)
        module.eval()
        with torch.no_grad():
            result["eval_output"] = values(module(x))
    return result


def main():
    cases = []
    for dtype in (torch.float16, torch.bfloat16):
        for path in ("mixed", "half"):
            for name, factory, shape, scale in layers():
                cases.append(case(name, factory, shape, scale, dtype, path))
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}))
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
