"""rdpflex.codecs.checksum: the running CRC32 of coded symbols, whole or per batch item."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from rdpflex.codecs.checksum import SymbolChecksum


def test_crc_runs_over_int32_little_endian_symbols_in_order():
    a, b = torch.tensor([[1, -2], [3, 70000]]), torch.tensor([5.0, -0.0])
    crc = SymbolChecksum()
    crc.update(a)
    crc.update(b)
    data = np.array([1, -2, 3, 70000, 5, 0], dtype="<i4").tobytes()
    assert crc.value == zlib.crc32(data) and crc.count == 6
    swapped = SymbolChecksum()
    swapped.update(b)
    swapped.update(a)
    assert swapped.value != crc.value  # the order of coding counts


def test_per_item_crcs_equal_each_item_alone():
    """A batch decoded in one call gives each image the CRC it would get decoded alone."""
    g = torch.Generator().manual_seed(0)
    updates = [torch.randint(-40, 40, (3, c, 4, 5), generator=g) for c in (2, 7)]
    batch = SymbolChecksum(items=3)
    for u in updates:
        batch.update(u)
    alone = []
    for b in range(3):
        one = SymbolChecksum()
        for u in updates:
            one.update(u[b])
        alone.append(one.value)
    assert batch.values == alone and len(set(alone)) == 3
    assert batch.count == sum(u.numel() for u in updates)


def test_per_item_update_must_carry_the_batch():
    crc = SymbolChecksum(items=2)
    with pytest.raises(ValueError, match="batch of 2"):
        crc.update(torch.zeros(1, 3, 4, 4))  # a raster-scan context model's per-item update
    with pytest.raises(ValueError, match="batch of 2"):
        crc.update(torch.tensor(3))
    assert crc.values == [0, 0] and crc.count == 0


@pytest.mark.parametrize("dtype", [torch.int64, torch.int16, torch.uint8, torch.float32, torch.float16, torch.bfloat16])
def test_symbols_of_any_dtype_are_hashed_as_int32(dtype):
    """Entropy models hand over float symbols (quantize), int64 indices, half precision under autocast: the CRC
    always runs over the int32 values, so encoder and decoder agree whatever dtype each side holds."""
    values = [0, 1, 100, 127] + ([] if dtype == torch.uint8 else [-3])
    crc = SymbolChecksum()
    crc.update(torch.tensor(values, dtype=dtype))
    assert crc.value == zlib.crc32(np.array(values, dtype="<i4").tobytes()) and crc.count == len(values)
