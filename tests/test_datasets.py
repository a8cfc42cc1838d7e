import hashlib

import numpy as np
import pytest

from mtestimator.datasets import ABALONE_SHA256, get_data_home, load_abalone


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
