"""mtestimator.save / mtestimator.load of Pipelines and meta-estimators (persistence/objects.py)."""

import errno
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor, make_column_transformer
from sklearn.ensemble import StackingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import mtestimator
from mtestimator import MultiTaskEstimator
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.trunks import MLPTrunk

rng = np.random.RandomState(0)
COLUMNS = {"size": rng.normal(size=40), "age": rng.normal(size=40),
           "island": rng.choice(["north", "south", "east"], 40)}
X = pd.DataFrame(COLUMNS)
Y = pd.DataFrame({"mass": X["size"] * 2, "sex": np.where(X["age"] > 0, "f", "m"),
                  "kind": np.where(X["size"] > 0.5, "a", np.where(X["age"] > 0, "b", "c"))})
XN = X[["size", "age"]].to_numpy()


def three_heads(**params):
    return MultiTaskEstimator([("mass", RegressionHead("mass")),
                               ("sex", ClassificationHead("sex")),
                               ("kind", ClassificationHead("kind"))],
                              trunk=MLPTrunk((4,)), **{"epochs": 1, "random_state": 0,
                                                       **params})


def one_head(head):
    return MultiTaskEstimator([("y", head)], trunk=MLPTrunk((3,)), epochs=1, random_state=0)


@pytest.fixture(scope="module")
def pipe():
    encode = make_column_transformer((OneHotEncoder(), ["island"]),
                                     (StandardScaler(), ["size", "age"]))
    return make_pipeline(encode, three_heads()).fit(X, Y)


@pytest.fixture(scope="module")
def saved(pipe, tmp_path_factory):
    path = tmp_path_factory.mktemp("objects") / "pipe.mtest"
    mtestimator.save(pipe, path)
    return path


def _leaves(data, name="file"):
    """Every (name, bytes) inside the archive, nested archives opened."""
    if data[:4] != b"PK\x03\x04":
        yield name, data
        return
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for member in zf.namelist():
            yield from _leaves(zf.read(member), f"{name}/{member}")


def test_pipeline_round_trips_in_a_new_process_and_holds_no_pickle(pipe, saved, tmp_path):
    data = tmp_path / "X.npz"
    np.savez(data, **COLUMNS)
    out = tmp_path / "predictions.npz"
    code = ("import sys, numpy as np, pandas as pd, mtestimator; "
            "X = pd.DataFrame(dict(np.load(sys.argv[2], allow_pickle=False))); "
            "P = mtestimator.load(sys.argv[1]).predict(X); "
            "np.savez(sys.argv[3], **{c: P[c].to_numpy(dtype=float if c == 'mass' else str)"
            " for c in P})")
    subprocess.run([sys.executable, "-c", code, str(saved), str(data), str(out)],
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": os.pathsep
                                                         .join(sys.path)})
    expected = pipe.predict(X)
    with np.load(out, allow_pickle=False) as got:
        assert sorted(got) == sorted(expected)
        np.testing.assert_array_equal(got["mass"], expected["mass"].to_numpy(dtype=float))
        for column in ("sex", "kind"):
            np.testing.assert_array_equal(got[column], expected[column].to_numpy(dtype=str))
    # no pickle anywhere: .npy arrays load without it, nothing else is a pickle stream
    leaves = dict(_leaves(saved.read_bytes()))
    assert "file/mtestimator/0.mtest/model.keras/config.json" in leaves
    for name, raw in leaves.items():
        assert raw[:1] != b"\x80", name  # the PROTO opcode every pickle since 2 starts with
        if name.endswith(".npy"):
            np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)


def test_loaded_pipeline_predicts_identically_in_process(pipe, saved):
    loaded = mtestimator.load(saved)
    pd.testing.assert_frame_equal(loaded.predict(X), pipe.predict(X))
    assert loaded[-1].get_params()["epochs"] == 1


def test_an_estimator_alone_keeps_its_own_format(pipe, tmp_path):
    mtestimator.save(pipe[-1], tmp_path / "est.mtest")
    with zipfile.ZipFile(tmp_path / "est.mtest") as zf:
        assert "mtestimator.json" in zf.namelist() and "schema.json" not in zf.namelist()
    assert type(mtestimator.load(tmp_path / "est.mtest", trusted=[])) is MultiTaskEstimator


@pytest.mark.parametrize("make, y, trust", [
    (lambda: GridSearchCV(one_head(RegressionHead()), {"epochs": [1]}, cv=2),
     XN[:, 0], ["sklearn.metrics._scorer._PassthroughScorer",
                "sklearn.model_selection._split.KFold"]),
    (lambda: StackingRegressor([("net", one_head(RegressionHead())), ("ridge", Ridge())],
                               cv=2), XN[:, 0], ["sklearn.utils._bunch.Bunch"]),
    (lambda: CalibratedClassifierCV(one_head(ClassificationHead()), cv=2),
     (XN[:, 0] > 0).astype(int), ["sklearn.calibration._CalibratedClassifier",
                                  "sklearn.calibration._SigmoidCalibration"]),
    (lambda: TransformedTargetRegressor(one_head(RegressionHead()), func=np.log1p,
                                        inverse_func=np.expm1), np.abs(XN[:, 0]), []),
], ids=["grid-search", "stacking", "calibrated", "transformed-target"])
def test_meta_estimators_round_trip_and_untrusted_types_are_named(make, y, trust, tmp_path):
    est = make().fit(XN, y)
    path = tmp_path / "meta.mtest"
    mtestimator.save(est, path)
    if trust:
        with pytest.raises(TypeError, match=r"not trusted by default: \[.*"
                                            rf"{trust[0]}.*trusted=\["):
            mtestimator.load(path)
    loaded = mtestimator.load(path, trusted=trust)
    np.testing.assert_array_equal(loaded.predict(XN), est.predict(XN))


def test_unfitted_estimators_in_the_tree_keep_their_parameters(tmp_path):
    pipe = make_pipeline(StandardScaler(), three_heads(epochs=3))
    mtestimator.save(pipe, tmp_path / "unfitted.mtest")
    loaded = mtestimator.load(tmp_path / "unfitted.mtest")
    assert repr(loaded) == repr(pipe)
    assert loaded[-1].fit(X[["size", "age"]], Y).n_iter_ == 3


def _rewrite(path, target, change):
    """A copy of the archive at ``path``, written to ``target`` with member edits:
    ``change(members)`` edits a dict {name: bytes}."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    change(members)
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return target


def _placeholder_to(member):
    def change(members):
        old, new = (json.dumps(json.dumps(m)) for m in ("mtestimator/0.mtest", member))
        assert old.encode() in members["schema.json"]
        members["schema.json"] = members["schema.json"].replace(old.encode(), new.encode())
    return change


def _unfitted_member(meta):
    """An unfitted estimator's member holding ``meta``, listed in the index."""
    def change(members):
        members["mtestimator/0.json"] = json.dumps(meta).encode()
        members["mtestimator/objects.json"] = json.dumps({
            "format": "mtestimator-objects", "version": 1,
            "members": ["mtestimator/0.json", "mtestimator/0.mtest"]}).encode()
    return change


@pytest.mark.parametrize("change, match", [
    (lambda m: m.update({"mtestimator/objects.json": b'{"format": "x"}'}),
     r"damaged or hand-edited: its mtestimator/objects.json is \{'format': 'x'\}"),
    (lambda m: m.update({"mtestimator/objects.json": b'{"format": "mtestimator-objects", '
                                                      b'"version": 9, "members": []}'}),
     "objects format version 9; this mtestimator reads version 1"),
    (lambda m: m.pop("mtestimator/0.mtest"), "lists the members .*expected distinct"),
    (lambda m: m.update({"mtestimator/0.mtest": m["mtestimator/0.mtest"][:500]}),
     r"pipe.mtest' \(its member mtestimator/0.mtest\) is not an mtestimator file, or "
     "it is damaged"),
    (_placeholder_to("mtestimator/9.mtest"), "placeholder names the member "
                                             "'mtestimator/9.mtest'; expected one of"),
    (lambda m: m.update({"schema.json": b"{not json"}), "damaged or hand-edited: "),
    (lambda m: m.update({"mtestimator/objects.json": b"{not json"}),
     r"its mtestimator/objects.json is b'\{not json'; expected an object"),
    (_unfitted_member({"class": "JointRegressorClassifier", "params": {"epochs": -1}}),
     r"mtestimator/0.json: params: The 'epochs' parameter of JointRegressorClassifier must be"),
    (_unfitted_member({"class": "RegressionHead", "params": {}}),
     r"mtestimator/0.json: class names RegressionHead, a head; expected an estimator"),
], ids=["index", "version", "missing-member", "truncated-member", "placeholder",
        "schema", "index-not-json", "bad-parameters", "not-an-estimator"])
def test_damaged_file_is_a_clear_value_error(saved, tmp_path, change, match):
    path = _rewrite(saved, tmp_path / "pipe.mtest", change)
    with pytest.raises(ValueError, match=match):
        mtestimator.load(path)


def test_while_loading_an_estimator_is_built_only_from_its_placeholder():
    from mtestimator.persistence import objects
    from mtestimator.persistence.spec import Damage

    token = objects._LOADING.set({})
    try:
        with pytest.raises(Damage, match="MultiTaskEstimator stands with the state "
                                         r"\{'epochs': 1\}; expected a placeholder"):
            MultiTaskEstimator.__new__(MultiTaskEstimator).__setstate__({"epochs": 1})
    finally:
        objects._LOADING.reset(token)


def test_a_placeholder_read_by_skops_alone_says_to_use_mtestimator_load(saved):
    import skops.io

    with pytest.raises(ValueError, match=r"read the file with mtestimator.load\(path"):
        skops.io.load(saved, trusted=["mtestimator._estimator.MultiTaskEstimator"])


def test_bad_trusted_and_unsavable_parts_are_clear(pipe, saved, tmp_path):
    with pytest.raises(TypeError, match=r"trusted must be a list .*got True"):
        mtestimator.load(saved, trusted=True)
    lam = make_pipeline(FunctionTransformer(lambda x: x), pipe[-1])
    with pytest.raises(TypeError, match=r"Cannot save Pipeline .*<lambda>.*top level"):
        mtestimator.save(lam, tmp_path / "lambda.mtest")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_leaves_the_previous_file(pipe, saved, tmp_path, monkeypatch):
    path = tmp_path / "pipe.mtest"
    path.write_bytes(saved.read_bytes())

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(OSError, match="No space left"):
        mtestimator.save(pipe, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["pipe.mtest"]
    assert path.read_bytes() == saved.read_bytes()
