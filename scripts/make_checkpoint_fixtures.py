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
- resnet_model.safetensors: `save_file(model.state_dict())` of a small ResNet-like model with
  named submodules (TinyResNet below: `conv1`, `bn1`, `layer1` = Sequential of two BasicBlocks
  with `conv1`, `bn1`, `conv2`, `bn2` (a GroupNorm) and, in the second, `downsample` =
  Sequential(Conv2d, BatchNorm2d), then `norm` (a LayerNorm) and `fc`), trained three SGD steps.
  Its keys are PyTorch's dotted names: "layer1.1.downsample.1.running_mean", "conv1.weight", ….
- resnet_io.safetensors: for one eval-mode forward pass of that model, the input and output of
  every normalization layer, under "<layer name>.input" and "<layer name>.output"
  ("layer1.0.bn2.output", …), captured with forward hooks.
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


class BasicBlock(torch.nn.Module):
    """torchvision's BasicBlock in miniature, with a GroupNorm as its second normalization."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.GroupNorm(2, cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                  torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + identity)


class TinyResNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.layer1 = torch.nn.Sequential(BasicBlock(4, 4, 1), BasicBlock(4, 8, 2))
        self.norm = torch.nn.LayerNorm(8)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x):
        x = self.layer1(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(self.norm(x.mean(dim=(2, 3))))


NORM_TYPES = (torch.nn.BatchNorm2d, torch.nn.GroupNorm, torch.nn.LayerNorm)


def write_resnet_fixtures():
    torch.manual_seed(20261128)   # its own seed, so the fixtures above stay byte for byte the same
    model = TinyResNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        x = torch.randn(4, 3, 8, 8) * 1.5 + 0.25
        labels = torch.randint(0, 3, (4,))
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()
    save_file(contiguous(model.state_dict()), os.path.join(OUT, "resnet_model.safetensors"))

    captured = {}

    def hook(name):
        def record(module, inputs, output):
            captured[f"{name}.input"] = inputs[0]
            captured[f"{name}.output"] = output
        return record

    for name, module in model.named_modules():
        if isinstance(module, NORM_TYPES):
            module.register_forward_hook(hook(name))
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, 3, 8, 8) * 1.5 + 0.25)
    save_file(contiguous(captured), os.path.join(OUT, "resnet_io.safetensors"))


if __name__ == "__main__":
    write_model_fixtures()
    write_dtype_fixtures()
    write_resnet_fixtures()
    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):8d}  {name}")
