"""Batched augmentation: equal to hand-made references, reproducible from the generator, device- and
dtype-preserving."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trainfix.data.augment import random_crop, random_flip, to_float


def batch(n: int = 16, channels: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, channels, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def test_to_float_scales_then_normalizes_per_channel():
    x = batch()
    plain = to_float(x)
    assert plain.dtype == torch.float32 and torch.allclose(plain, x.float() / 255)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.125)
    normalized = to_float(x, mean, std)
    expected = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(normalized, expected, atol=1e-6)
    assert to_float(torch.tensor([[[[0, 255]]]], dtype=torch.uint8)).tolist() == [[[[0.0, 1.0]]]]


def test_to_float_rejects_bad_inputs():
    with pytest.raises(ValueError, match="uint8"):
        to_float(batch().float())
    with pytest.raises(ValueError, match="both mean and std"):
        to_float(batch(), mean=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"one value per channel \(3\)"):
        to_float(batch(), mean=(0.5,), std=(0.5,))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_random_crop_equals_pad_and_slice_with_the_same_offsets(dtype):
    x = batch(n=12, size=10).to(dtype)
    padding = 4
    out = random_crop(x, padding, torch.Generator().manual_seed(7))
    offsets = torch.randint(0, 2 * padding + 1, (2, 12), generator=torch.Generator().manual_seed(7))
    padded = F.pad(x, (padding,) * 4)
    for i in range(12):
        top, left = offsets[0, i].item(), offsets[1, i].item()
        assert torch.equal(out[i], padded[i, :, top : top + 10, left : left + 10]), i
    assert out.dtype == dtype and out.shape == x.shape
    assert len(set(offsets.flatten().tolist())) > 3  # offsets vary per image


def test_random_crop_shifts_in_zeros_and_padding_zero_is_identity():
    x = torch.full((256, 1, 6, 6), 255, dtype=torch.uint8)
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    zeros_per_image = (out == 0).flatten(1).sum(1)
    assert (
        zeros_per_image.min() == 0 and zeros_per_image.max() == 20
    )  # offset (2, 2) keeps all; a corner shift of 2 zeroes 36 - 16
    assert random_crop(x, 0, torch.Generator()) is x
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        random_crop(x, -1, torch.Generator())


def test_random_flip_flips_the_drawn_images():
    x = batch(n=64)
    out = random_flip(x, torch.Generator().manual_seed(3))
    flipped = torch.rand(64, generator=torch.Generator().manual_seed(3)) < 0.5
    assert 10 < flipped.sum() < 54
    assert torch.equal(out[flipped], torch.flip(x[flipped], dims=[-1]))
    assert torch.equal(out[~flipped], x[~flipped])


def test_same_seed_same_batch_other_seed_other_batch():
    x = to_float(batch(n=32))

    def augment(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return random_flip(random_crop(x, 4, generator), generator)

    assert torch.equal(augment(1), augment(1))
    assert not torch.equal(augment(1), augment(2))


def test_batch_shape_is_checked():
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        random_flip(torch.zeros(3, 8, 8), torch.Generator())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_output_stays_on_device_and_matches_reference():
    device = torch.device("cuda")
    x = batch(n=12, size=10).to(device)
    out = random_flip(
        random_crop(to_float(x), 4, torch.Generator(device).manual_seed(5)), torch.Generator(device).manual_seed(6)
    )
    assert out.device.type == "cuda" and out.dtype == torch.float32
    offsets = torch.randint(0, 9, (2, 12), generator=torch.Generator(device).manual_seed(5), device=device)
    flipped = torch.rand(12, generator=torch.Generator(device).manual_seed(6), device=device) < 0.5
    padded = F.pad(to_float(x), (4,) * 4)
    for i in range(12):
        top, left = offsets[0, i].item(), offsets[1, i].item()
        reference = padded[i, :, top : top + 10, left : left + 10]
        assert torch.equal(out[i], reference.flip(-1) if flipped[i] else reference)
    with pytest.raises(ValueError, match="generator is on cpu"):
        random_flip(x, torch.Generator())
