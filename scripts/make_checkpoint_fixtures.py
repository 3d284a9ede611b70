#!/usr/bin/env python3
"""Writes the safetensors fixtures of NormKit's checkpoint tests (Tests/NormKitTests/Fixtures/).

Run it from the repository root with a Python that has torch, numpy and safetensors:

    /work/torchenv/bin/python scripts/make_checkpoint_fixtures.py

The fixtures are committed, so the tests (and CI) never need Python. It writes:

- checkpoint_model.safetensors: `safetensors.torch.save_file(model.state_dict())` of a nested
  model trained three SGD steps on random data. The model is
      Sequential(
        Sequential(BatchNorm2d(3), GroupNorm(3, 3)),
        Sequential(Sequential(BatchNorm2d(3, momentum=None),
                              InstanceNorm2d(3, affine=True, track_running_stats=True)),
                   LayerNorm([3, 4, 4])))
  so its keys are PyTorch's dotted names: "0.0.running_mean", "1.0.1.num_batches_tracked", ….
- checkpoint_io.safetensors: an input, torch's eval-mode output for it, then (in train mode) the
  output, a random upstream gradient and the input gradient.
- checkpoint_after_train.safetensors: the state dict after that train-mode forward pass.
- batchnorm_f16/bf16/f64.safetensors: one BatchNorm1d(4) state dict with the floating-point
  entries converted by torch to float16, bfloat16 and float64 (num_batches_tracked stays int64),
  and batchnorm_f32.safetensors, the float32 original.
- dtype_rounding.safetensors: float32 values (specials, subnormals, ties, random) and torch's
  conversions of them to float16 and bfloat16, to check NormKit's rounding bit for bit.
"""
import os

import torch
from safetensors.torch import save_file

torch.manual_seed(20261127)
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "NormKitTests", "Fixtures")


def nested_model():
    return torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.GroupNorm(3, 3)),
        torch.nn.Sequential(
            torch.nn.Sequential(torch.nn.BatchNorm2d(3, momentum=None),
                                torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True)),
            torch.nn.LayerNorm([3, 4, 4])),
    )


def contiguous(state):
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def write_model_fixtures():
    model = nested_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        x = torch.randn(4, 3, 4, 4) * 2 + 0.5
        target = torch.randn(4, 3, 4, 4)
        optimizer.zero_grad()
        loss = ((model(x) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
    save_file(contiguous(model.state_dict()), os.path.join(OUT, "checkpoint_model.safetensors"))

    x = torch.randn(4, 3, 4, 4) * 2 + 0.5
    model.eval()
    with torch.no_grad():
        eval_output = model(x)
    model.train()
    xg = x.clone().requires_grad_(True)
    train_output = model(xg)
    grad_output = torch.randn_like(train_output)
    train_output.backward(grad_output)
    save_file(contiguous({"input": x, "eval_output": eval_output, "train_output": train_output,
                          "grad_output": grad_output, "train_grad_input": xg.grad}),
              os.path.join(OUT, "checkpoint_io.safetensors"))
    save_file(contiguous(model.state_dict()), os.path.join(OUT, "checkpoint_after_train.safetensors"))


def write_dtype_fixtures():
    bn = torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, -0.333333, 65504.0, 1e-6]))
        bn.bias.copy_(torch.randn(4))
        bn.running_mean.copy_(torch.randn(4))
        bn.running_var.copy_(torch.rand(4) + 0.5)
        bn.num_batches_tracked.fill_(7)
    state = contiguous(bn.state_dict())
    save_file(state, os.path.join(OUT, "batchnorm_f32.safetensors"))
    for name, dtype in [("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)]:
        converted = {k: (v if k == "num_batches_tracked" else v.to(dtype)) for k, v in state.items()}
        save_file(converted, os.path.join(OUT, f"batchnorm_{name}.safetensors"))

    specials = [0.0, -0.0, float("inf"), float("-inf"), 1.0, -2.5, 65504.0, 65519.99, 65520.0, 1e9, -1e9,
                6.103515625e-05, 6.0975552e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, 1e-10,
                3.4028235e38, 1.17549435e-38, 1e-45,
                # ties to even in float16 (1 + 2^-11, 1 + 3·2^-11) and bfloat16 (1 + 2^-8, 1 + 3·2^-8)
                1.00048828125, 1.00146484375, 1.00390625, 1.01171875]
    values = torch.cat([torch.tensor(specials, dtype=torch.float32),
                        torch.randn(200) * 10.0 ** torch.randint(-9, 6, (200,)).float()])
    # Random float32 bit patterns (NaNs excluded: their payload rules differ between libraries).
    bits = torch.randint(-2**31, 2**31 - 1, (1000,), dtype=torch.int64).to(torch.int32).view(torch.float32)
    values = torch.cat([values, bits[~torch.isnan(bits)]])
    save_file({"f32": values, "f16": values.to(torch.float16), "bf16": values.to(torch.bfloat16),
               "f64": values.to(torch.float64), "i64": torch.arange(-3, 3, dtype=torch.int64) * (2**40 + 1)},
              os.path.join(OUT, "dtype_rounding.safetensors"))


if __name__ == "__main__":
    write_model_fixtures()
    write_dtype_fixtures()
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):8d}  {name}")
