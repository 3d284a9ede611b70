#!/usr/bin/env python3
"""Checks, in PyTorch, the safetensors files NormKit writes. Run by hand, not in CI:

    mkdir -p /tmp/normkit-export
    NORMKIT_CHECKPOINT_EXPORT=/tmp/normkit-export swift test --filter TorchCheckpointTests
    /work/torchenv/bin/python scripts/check_safetensors_roundtrip.py /tmp/normkit-export

The test writes two files there:

- normkit_after_train.safetensors: the fixture checkpoint (checkpoint_model.safetensors) after
  one train-mode forward pass in NormKit. It must load strictly into the same nested PyTorch
  model, match torch's own state after that step (checkpoint_after_train.safetensors) with the
  same dtypes (num_batches_tracked int64), carry NormKit's metadata, and be byte for byte what
  safetensors.torch.save writes for the same tensors and metadata.
- normkit_dtypes.safetensors: F32, F64, F16, BF16 and I64 tensors whose values this script
  recomputes; the 16-bit ones as torch rounds them.

Exits with status 1 and names the first difference when anything disagrees.
"""
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

sys.path.insert(0, os.path.dirname(__file__))
from make_checkpoint_fixtures import OUT, nested_model  # noqa: E402


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def check_same_bytes(path, tensors, metadata):
    with open(path, "rb") as f:
        written = f.read()
    if written != save(tensors, metadata=metadata):
        fail(f"{path}: the bytes differ from safetensors.torch.save of the same tensors")


def check_model(path):
    loaded = load_file(path)
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    if metadata != {"written_by": "NormKit"}:
        fail(f"metadata {metadata}")
    model = nested_model()
    model.load_state_dict(loaded, strict=True)
    expected = load_file(os.path.join(OUT, "checkpoint_after_train.safetensors"))
    for key, value in expected.items():
        got = model.state_dict()[key]
        if loaded[key].dtype != value.dtype:
            fail(f"{key}: dtype {loaded[key].dtype}, torch has {value.dtype}")
        if value.dtype == torch.int64:
            if not torch.equal(got, value):
                fail(f"{key}: {got} != {value}")
        elif not torch.allclose(got, value, rtol=2e-4, atol=2e-5):
            fail(f"{key}: max difference {(got - value).abs().max().item()}")
    check_same_bytes(path, loaded, metadata)
    print(f"ok  {os.path.basename(path)}: {len(loaded)} tensors load strictly into the nested model "
          f"and match torch's state after the same train step")


def check_dtypes(path):
    loaded = load_file(path)
    values = torch.arange(12, dtype=torch.float64).reshape(3, 4) * 0.75 - 4
    expected = {
        "f32": values.float(), "f64": values, "f16": values.half(), "bf16": values.float().bfloat16(),
        "i64": torch.tensor([-(1 << 62), (1 << 53) + 1]), "scalar": torch.tensor(7), "empty": torch.zeros(0, 3),
    }
    if set(loaded) != set(expected):
        fail(f"keys {sorted(loaded)}")
    for key, value in expected.items():
        if loaded[key].dtype != value.dtype or loaded[key].shape != value.shape or not torch.equal(loaded[key], value):
            fail(f"{key}: {loaded[key]} ({loaded[key].dtype}) != {value} ({value.dtype})")
    check_same_bytes(path, loaded, {"format": "pt"})
    print(f"ok  {os.path.basename(path)}: every dtype equal to torch's values, bytes equal to safetensors.torch.save")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: check_safetensors_roundtrip.py EXPORT_DIRECTORY")
    check_model(os.path.join(sys.argv[1], "normkit_after_train.safetensors"))
    check_dtypes(os.path.join(sys.argv[1], "normkit_dtypes.safetensors"))
    print("all NormKit-written files check out in PyTorch")
