import gzip

import numpy as np
import pytest

from gankit.data.idx import parse_idx, read_idx, write_idx
from gankit.errors import GankitError


def test_round_trip_raw_and_gzip(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    for compress, name in ((False, "a-idx3-ubyte"), (True, "a-idx3-ubyte.gz")):
        write_idx(tmp_path / name, array, compress=compress)
        np.testing.assert_array_equal(read_idx(tmp_path / name), array)


def test_labels_one_dimensional(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "l", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "l"), labels)


def test_truncated_file_names_the_file(tmp_path):
    write_idx(tmp_path / "t", np.zeros((4, 28, 28), np.uint8))
    data = (tmp_path / "t").read_bytes()
    (tmp_path / "t").write_bytes(data[:-10])
    with pytest.raises(GankitError, match=r"t: IDX file truncated"):
        read_idx(tmp_path / "t")


def test_wrong_magic(tmp_path):
    write_idx(tmp_path / "m", np.zeros((2, 3), np.uint8))
    data = bytearray((tmp_path / "m").read_bytes())
    data[2] = 0x0D  # float element type: not what MNIST holds
    (tmp_path / "m").write_bytes(bytes(data))
    with pytest.raises(GankitError, match="bad IDX magic"):
        read_idx(tmp_path / "m")


def test_trailing_bytes_and_tiny_files():
    good = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + b"abc"
    assert parse_idx(good).tolist() == [97, 98, 99]
    with pytest.raises(GankitError, match="trailing"):
        parse_idx(good + b"x")
    with pytest.raises(GankitError, match="not an IDX"):
        parse_idx(b"\x00")


def test_corrupt_gzip(tmp_path):
    payload = gzip.compress(b"\x00\x00\x08\x01" + (100).to_bytes(4, "big") + bytes(100))
    (tmp_path / "c.gz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(GankitError, match="c.gz"):
        read_idx(tmp_path / "c.gz")
