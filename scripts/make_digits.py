#!/usr/bin/env python3
"""Writes Sources/NormKitLab/Resources/digits.nkimg, the data set `normkit lab` trains on.

The data: the UCI ML hand-written digits data set (E. Alpaydin and C. Kaynak, "Optical
Recognition of Handwritten Digits", UCI Machine Learning Repository, 1998,
https://doi.org/10.24432/C50P49, licensed CC BY 4.0), as scikit-learn ships it in
`sklearn.datasets.load_digits`: 1,797 grey-scale images of 8x8 pixels with values 0...16,
10 classes (the digits 0-9).

The split: a fixed, stratified 80/20 train/test split (sklearn's `train_test_split` with
`test_size=0.2, stratify=y, random_state=0`), stored in the file, so every run and every
scikit-learn version after this one sees the same split: 1,437 training and 360 test images.

Run once by hand, never in CI (the output is committed):

    ../torchenv/bin/pip install scikit-learn
    ../torchenv/bin/python scripts/make_digits.py

The file format ("NKIMAGES" version 1; all integers little-endian) -- `normkit lab --data PATH`
reads any file in it:

    offset  size         field
    0       8            magic, the ASCII bytes "NKIMAGES"
    8       4  (u32)     version, 1
    12      4  (u32)     N, the number of images
    16      4  (u32)     C, channels per image
    20      4  (u32)     H, height
    24      4  (u32)     W, width
    28      4  (u32)     K, the number of classes
    32      4  (u32)     M, the largest pixel value (1...255); pixels are read as value / M
    36      N*C*H*W (u8) pixels, image after image, each in C, H, W order (row-major)
    ...     N (u8)       labels, each in 0..<K
    ...     N (u8)       split flags: 0 = training set, 1 = test set
    ...     4  (u32)     CRC-32 (IEEE 802.3, as zlib.crc32) of every byte before it
"""
import pathlib
import struct
import zlib

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "Sources" / "NormKitLab" / "Resources" / "digits.nkimg"


def encode(pixels: np.ndarray, labels: np.ndarray, is_test: np.ndarray, classes: int, max_value: int) -> bytes:
    n, c, h, w = pixels.shape
    assert pixels.dtype == np.uint8 and pixels.max() <= max_value
    assert labels.shape == (n,) and labels.max() < classes
    header = b"NKIMAGES" + struct.pack("<7I", 1, n, c, h, w, classes, max_value)
    body = header + pixels.tobytes() + labels.astype(np.uint8).tobytes() + is_test.astype(np.uint8).tobytes()
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def main() -> None:
    digits = load_digits()
    images = digits.images.astype(np.uint8)  # (1797, 8, 8), values 0...16
    assert np.array_equal(images, digits.images), "pixels are integers"
    labels = digits.target.astype(np.uint8)
    indices = np.arange(len(labels))
    _, test = train_test_split(indices, test_size=0.2, stratify=labels, random_state=0)
    is_test = np.zeros(len(labels), dtype=np.uint8)
    is_test[test] = 1
    data = encode(images[:, None, :, :], labels, is_test, classes=10, max_value=16)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(data)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(labels)} images "
          f"({int((is_test == 0).sum())} train, {int(is_test.sum())} test), {len(data)} bytes, "
          f"crc32 {struct.unpack('<I', data[-4:])[0]:08x}")


if __name__ == "__main__":
    main()
