"""Data sets: the abalone and emotions loaders and their data-home setting.

The data home is where data files are read from and cached to, as in
scikit-learn's ``data_home``. It is, in order of precedence, the
``data_home`` argument, the ``MTESTIMATOR_DATA_HOME`` environment variable,
or ``~/mtestimator_data``.
"""

import gzip
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

__all__ = ["get_data_home", "load_abalone", "load_emotions", "make_multitask_series"]

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
EMOTIONS_FILE = "emotions.arff.gz"
EMOTIONS_SHA256 = "604ca2c8feda0883c43c6ae5b1e604ab5c1fe84930a78b3882e7e09ca7079284"
_EMOTIONS_N_LABELS = 6
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


_EMOTIONS_DESCR = """\
Emotions (MULAN multi-label data set)
-------------------------------------

593 songs (30-second excerpts), each described by 72 audio features
extracted with Marsyas -- 8 rhythmic (beat histogram: ``BH_*``, ``BHSUM*``)
and 64 timbre features (means and standard deviations of spectral
centroid, rolloff, flux and 13 MFCCs) -- and labelled with any number of 6
emotions of the Tellegen-Watson-Clark model: amazed-surprised,
happy-pleased, relaxing-calm, quiet-still, sad-lonely, angry-aggressive
(label names are kept as spelled in the MULAN file, ``amazed-suprised``
and ``angry-aggresive``). 1.87 labels per song on average; no missing
values.

Reference: K. Trohidis, G. Tsoumakas, G. Kalliris and I. Vlahavas,
"Multi-label classification of music into emotions", Proceedings of the
9th International Conference on Music Information Retrieval (ISMIR 2008),
Philadelphia, 2008, pp. 325-330. Distributed with the MULAN library
(Tsoumakas et al.).
"""


def _arff_name(text):
    """The attribute name at the start of ``text`` (quoted or not) and the rest."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        end = text.index(text[0], 1)
        return text[1:end], text[end + 1:].strip()
    name, rest = (text.split(None, 1) + [""])[:2]
    return name, rest.strip()


def _read_dense_arff(path):
    """Parse a gzipped dense ARFF file whose values are all numbers.

    Returns the attribute names, their declared types (``"numeric"`` or the
    nominal values as a tuple of strings) and the data as a float64 array.
    ``%`` comments and blank lines are skipped; sparse rows (``{...}``) and
    missing values (``?``) are rejected.
    """
    names, types, rows = [], [], []
    in_data = False
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("%"):
                continue
            if in_data:
                if line.startswith("{") or "?" in line:
                    raise ValueError(f"{path}, line {number}: sparse rows and missing "
                                     "values are not supported")
                values = line.split(",")
                if len(values) != len(names):
                    raise ValueError(f"{path}, line {number}: {len(values)} values, "
                                     f"expected {len(names)}")
                rows.append(values)
                continue
            keyword = line.split(None, 1)[0].lower()
            if keyword == "@attribute":
                name, kind = _arff_name(line.split(None, 1)[1])
                names.append(name)
                if kind.startswith("{"):
                    types.append(tuple(v.strip().strip("'\"")
                                       for v in kind.strip("{}").split(",")))
                elif kind.lower() in ("numeric", "real", "integer"):
                    types.append("numeric")
                else:
                    raise ValueError(f"{path}, line {number}: unsupported attribute type "
                                     f"{kind!r} for {name!r}")
            elif keyword == "@data":
                in_data = True
    if not in_data:
        raise ValueError(f"{path} has no @data section")
    return names, types, np.array(rows, dtype=np.float64).reshape(len(rows), len(names))


def load_emotions(data_home=None, *, as_frame=False, return_X_y=False):
    """Load the MULAN "emotions" multi-label data set (593 songs, 72 features, 6 labels).

    The file ``emotions.arff.gz`` (gzipped ARFF, as distributed with MULAN)
    is read from the data home (see :func:`get_data_home`) and checked
    against its sha256. It is never downloaded: there is no public copy
    this loader can rely on, so put the file in the data home yourself.

    The labels are the 6 emotions amazed-surprised, happy-pleased,
    relaxing-calm, quiet-still, sad-lonely and angry-aggressive; their names
    are returned as spelled in the file (``"amazed-suprised"``,
    ``"angry-aggresive"``), as in MULAN and OpenML, so that columns match
    other tools.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``emotions.arff.gz``; see :func:`get_data_home`.
    as_frame : bool, default=False
        If True, ``data`` is a DataFrame of the 72 features, ``target`` a
        DataFrame of the 6 labels (int64, 0/1) and ``frame`` both side by
        side. If False, ``data`` and ``target`` are arrays and ``frame`` is
        None.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (float64, shape (593, 72)), ``target`` (int64 indicator
        matrix, shape (593, 6)), ``feature_names``, ``target_names``,
        ``frame`` (None unless ``as_frame``) and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        If the file is not in the data home. The message says where it
        looked and how to fix it.
    OSError
        If the file's sha256 is not the expected one (damaged or a
        different version).

    Examples
    --------
    >>> from mtestimator.datasets import load_emotions
    >>> emotions = load_emotions()
    >>> emotions.data.shape, emotions.target.shape
    ((593, 72), (593, 6))
    >>> emotions.target_names[:2]
    ['amazed-suprised', 'happy-pleased']
    >>> X, y = load_emotions(as_frame=True, return_X_y=True)
    >>> type(X).__name__, type(y).__name__, int(y["relaxing-calm"].sum())
    ('DataFrame', 'DataFrame', 264)
    """
    home = get_data_home(data_home)
    path = home / EMOTIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{EMOTIONS_FILE} was not found in the data home {str(home)!r}. It is not "
            "downloaded automatically: put a copy of the MULAN emotions data set "
            f"({EMOTIONS_FILE}, sha256 {EMOTIONS_SHA256}) there, or point data_home= "
            f"(or the {_ENV_VAR} environment variable) at a folder that has it."
        )
    got = _sha256(path)
    if got != EMOTIONS_SHA256:
        raise OSError(
            f"{str(path)!r} has sha256 {got}, expected {EMOTIONS_SHA256}: the file is "
            f"damaged or not the MULAN emotions data set. Replace it with a good copy "
            f"(or point data_home= or the {_ENV_VAR} environment variable elsewhere)."
        )
    names, types, values = _read_dense_arff(path)
    n_features = len(names) - _EMOTIONS_N_LABELS
    if n_features != 72 or any(t == "numeric" for t in types[n_features:]):
        raise ValueError(f"{str(path)!r} does not have 72 features and 6 nominal labels")
    feature_names, target_names = names[:n_features], names[n_features:]
    data = values[:, :n_features]
    target = values[:, n_features:].astype(np.int64)
    frame = None
    if as_frame:
        data = pd.DataFrame(data, columns=feature_names)
        target = pd.DataFrame(target, columns=target_names)
        frame = pd.concat([data, target], axis=1)
    if return_X_y:
        return data, target
    return Bunch(data=data, target=target, frame=frame, feature_names=feature_names,
                 target_names=target_names, DESCR=_EMOTIONS_DESCR)


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
