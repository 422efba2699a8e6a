"""``varbench data list`` and ``varbench data download``: the cache listing, a checked download from file:// URLs
(no network), and one-line refusals (unknown name, offline, corrupt) that leave nothing behind."""

import json

import numpy as np
import pytest
from tests.helpers import serve_idx_files
from varbench.problems import image_data

from varbench.cli import main


@pytest.fixture
def served(tmp_path, monkeypatch):
    """``mnist`` as two small gzipped IDX files served by file:// URLs; $VARBENCH_DATA_DIR an empty cache."""
    source = tmp_path / "source"
    source.mkdir()
    files = serve_idx_files(source, {"train_images": np.zeros((3, 28, 28), np.uint8) + 200,
                                     "train_labels": np.arange(3, dtype=np.uint8)}, monkeypatch)
    monkeypatch.setenv("VARBENCH_DATA_DIR", str(tmp_path / "cache"))
    image_data._load.cache_clear()
    yield tmp_path, files
    image_data._load.cache_clear()


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("varbench: error: "), err
    return err


def test_list_then_download_then_list(served, capsys):
    tmp_path, _ = served
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert f"cache: {tmp_path / 'cache'}" in out
    assert "not downloaded: varbench data download mnist" in out and "data=mnist_full" in out
    assert "fashion_mnist" in out and "omniglot" in out and "mnist_subset" in out
    assert not (tmp_path / "cache").exists()  # listing creates nothing
    assert main(["data", "download", "mnist"]) == 0
    assert "2 files verified" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == ["train_images.gz",
                                                                               "train_labels.gz"]
    assert main(["data", "list", "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    status = {row["name"]: row["available"] for row in listing["datasets"]}
    assert status["mnist"] is True and status["fashion_mnist"] is False
    assert listing["cache"] == str(tmp_path / "cache")


def test_download_into_another_dir(served, capsys):
    tmp_path, _ = served
    assert main(["data", "download", "mnist", "--dir", str(tmp_path / "elsewhere")]) == 0
    out = capsys.readouterr().out
    assert f"VARBENCH_DATA_DIR={tmp_path / 'elsewhere'}" in out
    assert (tmp_path / "elsewhere" / "mnist" / "train_images.gz").is_file()
    assert not (tmp_path / "cache").exists()


def test_unknown_name_is_one_line(served, capsys):
    assert main(["data", "download", "svhn"]) == 2
    assert "mnist, fashion_mnist, omniglot" in one_line_error(capsys)
    assert not (served[0] / "cache").exists()


@pytest.mark.parametrize("fault", ["offline", "corrupt"])
def test_failed_download_leaves_nothing(served, capsys, monkeypatch, fault):
    tmp_path, files = served
    good = files["train_labels"]  # the second file: the first one is fetched and verified before the failure
    bad = (image_data.RemoteFile(good.name, (tmp_path / "missing.gz").as_uri(), good.digest, good.size)
           if fault == "offline" else image_data.RemoteFile(good.name, good.url, "sha256:" + "0" * 64, good.size))
    monkeypatch.setitem(files, "train_labels", bad)
    target = tmp_path / "new" / "root"
    assert main(["data", "download", "mnist", "--dir", str(target)]) == 2
    err = one_line_error(capsys)
    assert ("cannot download" if fault == "offline" else "corrupt") in err
    assert not (tmp_path / "new").exists()
