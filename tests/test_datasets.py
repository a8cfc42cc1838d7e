import gzip
import hashlib
import io
import shutil

import numpy as np
import pandas as pd
import pytest

from mtestimator.datasets import (
    ABALONE_SHA256,
    EMOTIONS_FILE,
    EMOTIONS_SHA256,
    get_data_home,
    load_abalone,
    load_emotions,
)

EMOTION_LABELS = ["amazed-suprised", "happy-pleased", "relaxing-calm", "quiet-still",
                  "sad-lonely", "angry-aggresive"]  # as spelled in the MULAN file


def test_data_home_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MTESTIMATOR_DATA_HOME", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("MTESTIMATOR_DATA_HOME")
    assert get_data_home().name == "mtestimator_data"


def test_load_abalone_arrays():
    data = load_abalone()
    assert data.data.shape == (4177, 7) and data.data.dtype == np.float64
    assert data.target.min() == 1 and data.target.max() == 29
    assert len(np.unique(data.target)) == 28
    assert set(data.sex) == {"M", "F", "I"}
    assert hashlib.sha256((get_data_home() / "abalone.csv").read_bytes()).hexdigest() \
        == ABALONE_SHA256


def test_load_abalone_frame():
    data = load_abalone(as_frame=True)
    assert list(data.data.columns)[0] == "sex"
    assert data.frame.shape == (4177, 9)
    assert data.data["sex"].dtype == "category"


def test_missing_file_without_download_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match="was not found in the data home") as exc:
        load_abalone(data_home=tmp_path, download_if_missing=False)
    assert str(tmp_path) in str(exc.value) and "MTESTIMATOR_DATA_HOME" in str(exc.value)


def test_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    import mtestimator.datasets as ds

    monkeypatch.setattr(ds, "ABALONE_URL", "http://127.0.0.1:9/abalone.csv")
    with pytest.raises(FileNotFoundError, match="could not be downloaded"):
        load_abalone(data_home=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


def test_download_checks_sha256(tmp_path, monkeypatch):
    import mtestimator.datasets as ds

    src = tmp_path / "src.csv"
    src.write_text("M,0.1,0.1,0.1,0.1,0.1,0.1,0.1,9\n")
    monkeypatch.setattr(ds, "ABALONE_URL", src.as_uri())
    with pytest.raises(FileNotFoundError, match="sha256"):
        load_abalone(data_home=tmp_path / "home")
    monkeypatch.setattr(ds, "ABALONE_SHA256", hashlib.sha256(src.read_bytes()).hexdigest())
    assert load_abalone(data_home=tmp_path / "home").data.shape == (1, 7)


def test_load_emotions_arrays():
    data = load_emotions()
    assert data.data.shape == (593, 72) and data.data.dtype == np.float64
    assert data.target.shape == (593, 6) and data.target.dtype == np.int64
    assert set(np.unique(data.target)) == {0, 1}
    assert data.target_names == EMOTION_LABELS
    assert len(data.feature_names) == 72 and len(set(data.feature_names)) == 72
    assert data.feature_names[0] == "Mean_Acc1298_Mean_Mem40_Centroid"
    assert data.feature_names[-1] == "BHSUM3"
    assert np.isfinite(data.data).all() and data.frame is None
    assert "Trohidis" in data.DESCR and "ISMIR 2008" in data.DESCR
    # label frequencies as published for MULAN emotions (cardinality 1.869)
    assert data.target.sum(axis=0).tolist() == [173, 166, 264, 148, 168, 189]
    assert data.target.sum(axis=1).mean() == pytest.approx(1.869, abs=1e-3)
    assert data.target.sum(axis=1).min() >= 1  # every song has at least one emotion
    assert hashlib.sha256((get_data_home() / EMOTIONS_FILE).read_bytes()).hexdigest() \
        == EMOTIONS_SHA256


def test_load_emotions_matches_scipy_arff():
    from scipy.io import arff

    path = get_data_home() / EMOTIONS_FILE
    records, meta = arff.loadarff(io.StringIO(gzip.open(path, "rt").read()))
    data = load_emotions()
    assert meta.names() == data.feature_names + data.target_names
    np.testing.assert_array_equal(
        np.column_stack([records[n] for n in data.feature_names]), data.data)
    np.testing.assert_array_equal(
        np.column_stack([records[n].astype(int) for n in data.target_names]), data.target)


def test_load_emotions_frame_and_return_X_y():
    data = load_emotions(as_frame=True)
    assert isinstance(data.data, pd.DataFrame) and isinstance(data.target, pd.DataFrame)
    assert list(data.data.columns) == data.feature_names
    assert list(data.target.columns) == EMOTION_LABELS
    assert (data.target.dtypes == np.int64).all() and (data.data.dtypes == np.float64).all()
    assert data.frame.shape == (593, 78)
    assert list(data.frame.columns) == data.feature_names + EMOTION_LABELS
    X, y = load_emotions(return_X_y=True)
    np.testing.assert_array_equal(X, data.data.to_numpy())
    np.testing.assert_array_equal(y, data.target.to_numpy())
    X, y = load_emotions(as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.DataFrame)


def test_load_emotions_missing_file_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match="was not found in the data home") as exc:
        load_emotions(data_home=tmp_path)
    message = str(exc.value)
    assert str(tmp_path) in message and EMOTIONS_FILE in message
    assert "MTESTIMATOR_DATA_HOME" in message


def test_load_emotions_rejects_wrong_checksum(tmp_path):
    good = (get_data_home() / EMOTIONS_FILE).read_bytes()
    rows = gzip.decompress(good).decode().splitlines()
    rows[-1] = rows[-1].replace("0.", "9.", 1)  # one changed value, still valid ARFF
    (tmp_path / EMOTIONS_FILE).write_bytes(gzip.compress("\n".join(rows).encode()))
    with pytest.raises(OSError, match="has sha256 [0-9a-f]{64}, expected") as exc:
        load_emotions(data_home=tmp_path)
    assert not isinstance(exc.value, FileNotFoundError)
    assert EMOTIONS_SHA256 in str(exc.value) and str(tmp_path) in str(exc.value)
    shutil.copyfile(get_data_home() / EMOTIONS_FILE, tmp_path / EMOTIONS_FILE)
    assert load_emotions(data_home=tmp_path).data.shape == (593, 72)
