"""The ``sbn`` problem on the downloadable image sets (full MNIST, Fashion-MNIST, Omniglot): read from the
per-user cache, never downloaded on the fly; a set not downloaded is one line naming the command that fetches it.
The cache here holds small IDX files the test writes itself, "downloaded" from file:// URLs (no network)."""


import numpy as np
import pytest
from tests.helpers import serve_idx_files
from varbench.problems import image_data, sbn_nets

from varbench.catalog import resolve_problem
from varbench.core.errors import VarbenchError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache ($VARBENCH_DATA_DIR) and a fake ``mnist`` of 6 training images served by file:// URLs."""
    source = tmp_path / "source"
    source.mkdir()
    images = np.random.default_rng(0).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    arrays = {"train_images": images, "train_labels": np.arange(6, dtype=np.uint8),
              "test_images": images[:2], "test_labels": np.arange(2, dtype=np.uint8)}
    serve_idx_files(source, arrays, monkeypatch)
    monkeypatch.setenv("VARBENCH_DATA_DIR", str(tmp_path / "cache"))
    sbn_nets.sbn_data.cache_clear()
    image_data._load.cache_clear()
    yield tmp_path / "cache", images
    sbn_nets.sbn_data.cache_clear()
    image_data._load.cache_clear()


@pytest.mark.parametrize("data, name", [("mnist_full", "mnist"), ("fashion_mnist", "fashion_mnist"),
                                        ("omniglot", "omniglot")])
def test_not_downloaded_names_the_command(cache, data, name):
    root, _ = cache
    with pytest.raises(VarbenchError) as err:
        resolve_problem(f"sbn:data={data},data_subset=4,latent=2")
    message = str(err.value)
    assert "\n" not in message and f"'varbench data download {name}'" in message, message
    assert not root.exists()  # nothing created


def test_downloaded_mnist_is_a_seeded_sample_of_the_training_images(cache):
    root, images = cache
    image_data.download("mnist")
    problem = resolve_problem("sbn:data=mnist_full,data_subset=4,batch_size=4,latent=2,architecture=linear2")
    x = problem.dataset()
    assert x.shape == (4, 784) and set(np.unique(x)) <= {0.0, 1.0}
    thresholded = (images.reshape(6, -1) > 127).astype(np.float32)
    rows = [int(np.flatnonzero(np.all(thresholded == r, 1))[0]) for r in x]
    assert len(set(rows)) == 4
    # the decoder's output bias starts at the clipped mean pixel's logit, as for data=mnist
    mean = np.clip(x.astype(np.float64).mean(0), 0.001, 0.999)
    np.testing.assert_allclose(problem.init_params(np.random.RandomState(0))["dec_b1"], np.log(mean / (1 - mean)),
                               rtol=1e-5)
    with pytest.raises(VarbenchError, match="between 1 and 6"):
        resolve_problem("sbn:data=mnist_full,data_subset=7")


def test_cli_run_on_a_set_not_downloaded_is_one_line_and_creates_nothing(cache, capsys, tmp_path, monkeypatch):
    from varbench.cli import main

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["run", "--problem", "sbn:data=omniglot,latent=2", "--estimator", "score_function"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "varbench data download omniglot" in err, err
    assert list(work.iterdir()) == [] and not cache[0].exists()
