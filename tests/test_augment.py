import pytest
import torch

from gankit.augment import color, cutout, diff_augment, parse_policy, translation


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_translation_shifts_content_and_fills_zeros():
    x = torch.rand(16, 2, 8, 8) + 1  # no zeros in the input
    out = translation(x, _gen())
    assert out.shape == x.shape
    for image, moved in zip(x, out, strict=True):
        # find the shift (dy, dx) for which the moved image equals the input where both are defined
        matches = []
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                rolled = torch.roll(image, (dy, dx), dims=(1, 2))
                inside = moved != 0
                if torch.equal(moved[inside], rolled[inside]):
                    matches.append((dy, dx))
        assert matches, "every image is a shifted copy of its input"
        dy, dx = matches[0]
        assert int((moved[0] == 0).sum()) == 8 * 8 - (8 - abs(dy)) * (8 - abs(dx))


def test_cutout_zeroes_a_square_of_half_the_size():
    x = torch.ones(32, 1, 8, 8)
    out = cutout(x, _gen())
    holes = (out == 0).sum(dim=(1, 2, 3))
    assert holes.max() == 16 and holes.min() >= 4  # a 4x4 square, clipped at the border at worst


def test_color_changes_brightness_saturation_and_contrast_per_image():
    x = torch.rand(8, 3, 4, 4) * 2 - 1
    out = color(x, _gen())
    assert out.shape == x.shape and not torch.allclose(out, x)
    shift = (out - x).mean(dim=(1, 2, 3))
    assert shift.std() > 0  # each image its own draw


def test_diff_augment_is_reproducible_and_differentiable():
    policy = parse_policy("color,translation,cutout")
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    a, b = diff_augment(x, policy, _gen(3)), diff_augment(x, policy, _gen(3))
    torch.testing.assert_close(a, b)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bad_policies_and_shapes():
    with pytest.raises(ValueError, match="unknown augmentation flip"):
        parse_policy("color,flip")
    with pytest.raises(ValueError, match="needs image batches"):
        diff_augment(torch.rand(4, 2), ("color",), _gen())
