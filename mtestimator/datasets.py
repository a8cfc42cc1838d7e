"""Data sets: the abalone loader and its data-home setting.

The data home is where data files are read from and cached to, as in
scikit-learn's ``data_home``. It is, in order of precedence, the
``data_home`` argument, the ``MTESTIMATOR_DATA_HOME`` environment variable,
or ``~/mtestimator_data``.
"""

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = ["get_data_home", "load_abalone", "make_multitask_series"]

ABALONE_URL = "https://raw.githubusercontent.com/jbrownlee/Datasets/master/abalone.csv"
ABALONE_SHA256 = "eb2de13be807e9bb9ec4128b9c89b98ab23d7739121cfd17b7dde69b46ba7bf6"
ABALONE_FEATURES = [
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
]
_ENV_VAR = "MTESTIMATOR_DATA_HOME"


def get_data_home(data_home=None):
    """Return the folder where mtestimator reads and caches data files.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use. ``None`` means the ``MTESTIMATOR_DATA_HOME``
        environment variable if it is set, else ``~/mtestimator_data``.
        ``~`` is expanded. The folder is not created here.

    Returns
    -------
    data_home : pathlib.Path
        The data folder.

    Examples
    --------
    >>> from mtestimator.datasets import get_data_home
    >>> str(get_data_home("/tmp/somewhere"))
    '/tmp/somewhere'
    """
    if data_home is None:
        data_home = os.environ.get(_ENV_VAR) or "~/mtestimator_data"
    return Path(os.fspath(data_home)).expanduser()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url, target, sha256, timeout=30):
    """Download ``url`` to ``target`` atomically, checking its sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
            shutil.copyfileobj(r, out)
        got = _sha256(tmp)
        if got != sha256:
            raise OSError(
                f"The file downloaded from {url} has sha256 {got}, expected "
                f"{sha256}. It was not saved."
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_abalone(data_home=None, *, as_frame=False, download_if_missing=True):
    """Load the UCI abalone data set (4,177 shells, 8 measurements, rings).

    The file ``abalone.csv`` is read from the data home (see
    :func:`get_data_home`). If it is not there, the public copy is downloaded
    once, checked against its published sha256 and cached there.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``abalone.csv``; see :func:`get_data_home`.
    as_frame : bool, default=False
        If True, ``data`` is a DataFrame with all 8 feature columns (``sex``
        as a categorical column) and ``target`` a Series; ``frame`` holds
        both. If False, ``data`` is a float64 array of the 7 numeric
        measurements (``sex`` left out, as in the reference protocol),
        ``sex`` a separate string array, and ``target`` an int array.
    download_if_missing : bool, default=True
        If False, a missing file raises instead of being downloaded.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``, ``target`` (rings, 1 to 29), ``feature_names``,
        ``target_names``, ``frame`` (None unless ``as_frame``), ``sex`` (only
        when ``as_frame=False``) and ``DESCR``.

    Raises
    ------
    FileNotFoundError
        If the file is missing and cannot be downloaded. The message says
        where it looked and how to fix it.

    Examples
    --------
    >>> from mtestimator.datasets import load_abalone
    >>> abalone = load_abalone()
    >>> abalone.data.shape, abalone.target.shape
    ((4177, 7), (4177,))
    >>> load_abalone(as_frame=True).frame.shape
    (4177, 9)
    """
    home = get_data_home(data_home)
    path = home / "abalone.csv"
    if not path.exists():
        if not download_if_missing:
            raise FileNotFoundError(
                f"abalone.csv was not found in the data home {str(home)!r} and "
                "download_if_missing=False. Put a copy of abalone.csv there, or "
                f"point data_home= (or the {_ENV_VAR} environment variable) at a "
                "folder that has it."
            )
        try:
            _download(ABALONE_URL, path, ABALONE_SHA256)
        except (OSError, urllib.error.URLError) as exc:
            raise FileNotFoundError(
                f"abalone.csv was not found in the data home {str(home)!r} and "
                f"could not be downloaded from {ABALONE_URL}: {exc}. To fix it, "
                f"download that file by hand into {str(home)!r}, or point "
                f"data_home= (or the {_ENV_VAR} environment variable) at a "
                "folder that has abalone.csv."
            ) from exc
    frame = pd.read_csv(path, header=None, names=["sex", *ABALONE_FEATURES, "rings"])
    descr_path = home / "abalone.names"
    descr = descr_path.read_text() if descr_path.exists() else "UCI abalone data."
    if as_frame:
        frame["sex"] = frame["sex"].astype("category")
        return Bunch(
            data=frame.drop(columns="rings"),
            target=frame["rings"],
            frame=frame,
            feature_names=["sex", *ABALONE_FEATURES],
            target_names=["rings"],
            DESCR=descr,
        )
    return Bunch(
        data=frame[ABALONE_FEATURES].to_numpy(dtype=np.float64),
        target=frame["rings"].to_numpy(dtype=np.int64),
        sex=frame["sex"].to_numpy(dtype=str),
        frame=None,
        feature_names=list(ABALONE_FEATURES),
        target_names=["rings"],
        DESCR=descr,
    )


def make_multitask_series(n_series=500, n_timesteps=20, n_channels=1, *, noise=0.1,
                          random_state=None):
    """Independent series with a known "falling" label and next value.

    Each series is ``level + slope * t + amplitude * sin(frequency * t +
    phase) + noise`` on its first channel (the other channels are noisy
    copies of it, scaled); the targets are the series' next value (one step
    after the window, noise-free) and whether its trend is falling
    (``slope < 0``). For the joint estimator with a sequence trunk, as in
    section 3 of the reference problems.

    Parameters
    ----------
    n_series : int, default=500
    n_timesteps : int, default=20
    n_channels : int, default=1
    noise : float, default=0.1
        Standard deviation of the observation noise.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_series, n_timesteps, n_channels)
    y : ndarray of shape (n_series, 2)
        Column 0 the next value (float), column 1 the label: 1 falling, 0 not.

    Examples
    --------
    >>> X, y = make_multitask_series(n_series=10, n_timesteps=5, random_state=0)
    >>> X.shape, y.shape, sorted(set(y[:, 1].tolist()))
    ((10, 5, 1), (10, 2), [0.0, 1.0])
    """
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    t = np.arange(n_timesteps + 1, dtype=float)
    level = rng.normal(0.0, 1.0, size=(n_series, 1))
    slope = rng.uniform(-0.2, 0.2, size=(n_series, 1))
    amplitude = rng.uniform(0.0, 0.5, size=(n_series, 1))
    frequency = rng.uniform(0.2, 1.0, size=(n_series, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n_series, 1))
    clean = level + slope * t + amplitude * np.sin(frequency * t + phase)
    observed = clean[:, :n_timesteps] + rng.normal(0.0, noise, size=(n_series, n_timesteps))
    scales = np.concatenate([[1.0], rng.uniform(0.5, 2.0, size=n_channels - 1)])
    X = np.stack([observed * s + (rng.normal(0, noise, size=observed.shape) if i else 0.0)
                  for i, s in enumerate(scales)], axis=2)
    y = np.column_stack([clean[:, n_timesteps], (slope[:, 0] < 0).astype(float)])
    return X, y
