"""The bundled data sets load without network access, deterministically, with the documented preprocessing."""

import socket

import numpy as np
import pytest
from varbench.problems import data

from varbench.core.errors import VarbenchError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("data loading tried to open a network connection")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    data._digits_pixels.cache_clear()
    data.digits.cache_clear()
    data.breast_cancer.cache_clear()


def test_digits_standardized_and_binarized(no_network):
    full = data.digits(data.DIGITS_SIZE)
    assert full.shape == (1797, 64) and full.dtype == np.float32
    np.testing.assert_allclose(full.mean(0), 0.0, atol=1e-5)
    std = full.std(0)
    assert np.all((np.abs(std - 1) < 1e-4) | (std == 0))  # constant pixels stay at 0
    binary = data.digits(10, binarized=True)
    assert binary.shape == (10, 64) and set(np.unique(binary)) <= {0.0, 1.0}
    # The first digit of scikit-learn's copy is a 0: its centre column is dark, its ring bright.
    assert binary[0].reshape(8, 8)[3:5, 3:5].sum() == 0 and binary[0].sum() > 10


def test_subsets_are_prefixes_and_read_only(no_network):
    np.testing.assert_array_equal(data.digits(5), data.digits(300)[:5])
    with pytest.raises(ValueError):
        data.digits(5)[0, 0] = 1.0


def test_breast_cancer(no_network):
    x, y = data.breast_cancer(data.BREAST_CANCER_SIZE)
    assert x.shape == (569, 30) and y.shape == (569,)
    assert set(np.unique(y)) == {-1.0, 1.0} and int((y > 0).sum()) == 357  # 357 benign, 212 malignant
    np.testing.assert_allclose(x.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(0), 1.0, atol=1e-4)


@pytest.mark.parametrize("subset", [0, 1798])
def test_bad_subset(subset):
    with pytest.raises(VarbenchError, match="between 1 and 1797"):
        data.digits(subset)
