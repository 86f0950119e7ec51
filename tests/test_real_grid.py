"""scripts/real_grid.py: real images of a split as one grid, beside a generator's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gankit.data import load_dataset
from gankit.errors import GankitError
from tests.conftest import load_script


@pytest.fixture(scope="module")
def script():
    yield from load_script("real_grid")


def test_the_first_n_images_fill_the_grid_in_order(script, tmp_path):
    out = script.real_grid("digits", "test", 4, seed=0, first=True, out=tmp_path / "g.png")
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 + 2 * (8 + 2), 2 + 2 * (8 + 2))  # 2x2 images of 8x8 with 2 px padding
    first = load_dataset("digits").images("test")[0, 0].numpy()
    assert np.array_equal(grid[2:10, 2:10], first)


def test_a_seeded_draw_repeats_and_a_bad_count_names_the_split(script, tmp_path):
    a = script.real_grid("digits", "test", 9, seed=3, first=False, out=tmp_path / "a.png")
    b = script.real_grid("digits", "test", 9, seed=3, first=False, out=tmp_path / "b.png")
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    with pytest.raises(GankitError, match="test split"):
        script.real_grid("digits", "test", 10**6, seed=0, first=False, out=tmp_path / "c.png")
