"""``keras.datasets`` (mnist, fashion_mnist, cifar10) read from Keras' cache in the files Keras
downloads (never running code from them); downloaded by Keras when missing and allowed."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import socket
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from netbuilder.runtime.data.dataset import DataError, Parts

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def keras_cache_dirs() -> list[Path]:
    """Where Keras keeps downloaded datasets, as ``keras.utils.get_file`` chooses it:
    ``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``), or ``/tmp/.keras/datasets`` when
    that home is not writable."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(home, os.W_OK):
        home = "/tmp/.keras"
    return [Path(home) / "datasets"]


_FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                  "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")


def _cached(name: str) -> tuple[Path | None, Path]:
    """(the cached file or folder if present, the main path looked for)."""
    dirs = keras_cache_dirs()
    candidates: list[Path]
    if name == "mnist":
        candidates = [d / "mnist.npz" for d in dirs]
    elif name == "fashion_mnist":
        candidates = [d / "fashion-mnist" for d in dirs]
        for c in candidates:
            if all((c / f).is_file() for f in _FASHION_FILES):
                return c, candidates[0]
        return None, candidates[0] / _FASHION_FILES[1]
    else:
        candidates = []
        for d in dirs:
            candidates += [d / "cifar-10-batches-py-target" / "cifar-10-batches-py",
                           d / "cifar-10-batches-py",
                           d / "cifar-10-batches-py-target_archive",
                           d / "cifar-10-batches-py.tar.gz",
                           d / "cifar-10-python.tar.gz"]
        for c in candidates:
            if (c.is_dir() and (c / "data_batch_1").is_file()) or c.is_file():
                return c, candidates[1]
        return None, candidates[1]
    for c in candidates:
        if c.is_file():
            return c, candidates[0]
    return None, candidates[0]


def load_keras_dataset(name: str, opts: dict[str, Any]) -> Parts:
    found, looked_for = _cached(name)
    if found is not None:
        try:
            (x, y), (xt, yt) = _read_cached(name, found)
        except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError,
                tarfile.TarError, gzip.BadGzipFile) as err:
            raise DataError(f"{name}: the cached file {found} is damaged or not what Keras "
                            f"downloads ({err}); delete it and try again") from None
        note = f"{name} from Keras' cache ({found})"
    else:
        offline = os.environ.get("NETBUILDER_OFFLINE", "").strip() not in ("", "0")
        if not opts["download"] or offline:
            raise DataError(f"{name} is not in Keras' cache: looked for {looked_for}; "
                            "downloads are turned off. Put the file there, or train on 'digits' "
                            "or 'shapes', which need no download")
        (x, y), (xt, yt) = _download(name, looked_for)
        note = f"{name} downloaded into Keras' cache"
    classes = {"mnist": [str(i) for i in range(10)], "fashion_mnist": list(FASHION_CLASSES),
               "cifar10": list(CIFAR10_CLASSES)}[name]
    y = np.asarray(y).reshape(-1).astype(np.int64)
    yt = np.asarray(yt).reshape(-1).astype(np.int64)
    return Parts(name, name, np.asarray(x), y, classes, "0-255", x_test=np.asarray(xt),
                  y_test=yt, notes=[note])


def _download(name: str, looked_for: Path) -> Any:
    import keras

    loader = getattr(keras.datasets, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        return loader.load_data()
    except Exception as err:  # noqa: BLE001 - any failure means: not available
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{name} is not in Keras' cache (looked for {looked_for}) and "
                        f"downloading it failed: {reason}. Put the file there, or train on "
                        "'digits' or 'shapes', which need no download") from None
    finally:
        socket.setdefaulttimeout(previous)


def _read_cached(name: str, path: Path) -> Any:
    if name == "mnist":
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    if name == "fashion_mnist":
        def read(fname: str, offset: int) -> np.ndarray:
            with gzip.open(path / fname, "rb") as f:
                return np.frombuffer(f.read(), np.uint8, offset=offset)

        y, yt = read(_FASHION_FILES[0], 8), read(_FASHION_FILES[2], 8)
        x = read(_FASHION_FILES[1], 16).reshape(len(y), 28, 28)
        xt = read(_FASHION_FILES[3], 16).reshape(len(yt), 28, 28)
        return (x, y), (xt, yt)
    return _read_cifar(path)


def _read_cifar(path: Path) -> Any:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    raw: dict[str, bytes] = {}
    if path.is_dir():
        for n in names:
            raw[n] = (path / n).read_bytes()
    else:
        with tarfile.open(path, "r:*") as tar:
            for member in tar.getmembers():
                base = member.name.rsplit("/", 1)[-1]
                if base in names and member.isfile():
                    f = tar.extractfile(member)
                    assert f is not None
                    raw[base] = f.read()
        missing = [n for n in names if n not in raw]
        if missing:
            raise ValueError(f"the archive has no {missing[0]}")
    xs, ys = [], []
    for n in names:
        d = _SafeUnpickler(io.BytesIO(raw[n]), encoding="bytes").load()
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        data = np.asarray(d["data"], dtype=np.uint8)
        xs.append(data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(d["labels"], dtype=np.int64))
    return (np.concatenate(xs[:5]), np.concatenate(ys[:5])), (xs[5], ys[5])


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only; never runs code from the file."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in (
                "_reconstruct", "scalar"):
            from numpy._core import multiarray  # type: ignore[attr-defined]

            return getattr(multiarray, name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):   # bytes in protocol-2 pickles
            import codecs

            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
