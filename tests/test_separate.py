"""SeparateNetworks: one scikeras-trained network per head, MultiTaskEstimator's layout."""

import json
import os
import pickle
import random
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from mtestimator import MultiTaskEstimator, SeparateNetworks
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import MLPTrunk

rng = np.random.RandomState(0)
N = 120
X = rng.normal(size=(N, 5))
Y = pd.DataFrame({
    "length": 2 * X[:, 0] + 1 + 0.1 * rng.normal(size=N),
    "weight": X[:, 1] - X[:, 2],
    "species": np.array(["ant", "bee", "cat"])[np.digitize(X[:, 3], [-0.5, 0.5])],
    "a": (X[:, 4] > 0).astype(int),
    "b": (X[:, 0] > 0).astype(int),
    "c": (X[:, 4] + X[:, 0] > 0).astype(int),
}, index=np.arange(100, 100 + N))
HEADS = [("size", RegressionHead(columns=["length", "weight"])),
         ("species", ClassificationHead(columns="species")),
         ("tags", MultiLabelHead(columns=["a", "b", "c"]))]
FAST = {"trunk": MLPTrunk(hidden_layer_sizes=(8,)), "epochs": 4, "learning_rate": 0.01,
        "random_state": 0}


def make(cls=SeparateNetworks, **kw):
    # the trunk cloned too: set_params on one estimator never changes another's
    return cls(heads=[(n, clone(h)) for n, h in HEADS],
               **{**FAST, "trunk": clone(FAST["trunk"]), **kw})


@pytest.fixture(scope="module")
def fitted():
    return make().fit(X, Y)


@pytest.fixture(scope="module")
def joint():
    return make(MultiTaskEstimator).fit(X, Y)


def test_import_loads_neither_scikeras_nor_tensorflow():
    code = ("import sys, mtestimator; mtestimator.SeparateNetworks; "
            "print(sorted(m for m in ('scikeras', 'tensorflow', 'keras', 'jax') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_predict_layout_equals_multitask_estimator(fitted, joint):
    sep, ref = fitted.predict(X[:7]), joint.predict(X[:7])
    assert isinstance(sep, pd.DataFrame)
    assert list(sep.columns) == list(ref.columns) == list(Y.columns)
    assert list(sep.dtypes) == list(ref.dtypes)
    assert sep.index.equals(ref.index)
    assert sep["species"].isin(["ant", "bee", "cat"]).all()
    assert set(np.unique(sep[["a", "b", "c"]])) <= {0, 1}
    for name in ("size", "species", "tags"):
        a, b = fitted.predict_head(X[:7], name), joint.predict_head(X[:7], name)
        assert type(a) is type(b) and a.shape == b.shape  # a Series or DataFrame: y's columns
        assert list(np.atleast_1d(a.dtypes)) == list(np.atleast_1d(b.dtypes))
    assert [p.shape for p in fitted.predict_proba(X[:7])] == \
        [p.shape for p in joint.predict_proba(X[:7])] == [(7, 3), (7, 3)]
    frame_X = pd.DataFrame(X, index=Y.index)
    assert fitted.predict(frame_X).index.equals(Y.index)
    # an array y: an array back, in the same layout as the joint estimator's
    heads = [("size", RegressionHead(columns=[0, 1])),
             ("species", ClassificationHead(columns=2))]
    y = np.column_stack([Y["length"], Y["weight"], np.digitize(X[:, 3], [-0.5, 0.5])])
    sep = SeparateNetworks(heads, **FAST).fit(X, y).predict(X[:5])
    ref = MultiTaskEstimator(heads, **FAST).fit(X, y).predict(X[:5])
    assert isinstance(sep, np.ndarray) and sep.shape == ref.shape == (5, 3)
    assert sep.dtype == ref.dtype


def test_each_head_decodes_its_own_networks_raw_output(fitted):
    X32 = X.astype(np.float32)
    heads = dict(fitted.heads_)
    for name, trainer in fitted.estimators_:
        raw = trainer.predict(X32)  # scikeras hands back the raw network output
        np.testing.assert_allclose(raw, np.asarray(trainer.model_(X32)[name]), rtol=1e-5,
                                   atol=1e-6)
        head = heads[name]
        if name == "size":
            np.testing.assert_allclose(head.decode(raw), fitted.predict_head(X, name),
                                       rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_array_equal(head.decode(raw), fitted.predict_head(X, name))
            np.testing.assert_allclose(head.predict_proba(raw),
                                       fitted._predict_head_proba(X, name), atol=1e-5)
    proba = fitted.predict_proba(X)[0]
    np.testing.assert_array_equal(heads["species"].classes_[proba.argmax(axis=1)],
                                  fitted.predict_head(X, "species"))
    assert np.isfinite(fitted.score(X, Y))


def test_fitted_attributes(fitted):
    from scikeras.wrappers import KerasClassifier, KerasRegressor

    assert [name for name, _ in fitted.estimators_] == ["size", "species", "tags"]
    kinds = [type(t) for _, t in fitted.estimators_]
    assert issubclass(kinds[0], KerasRegressor)
    assert issubclass(kinds[1], KerasClassifier) and issubclass(kinds[2], KerasClassifier)
    assert fitted.model_ is None
    assert [n for n, _ in fitted.heads_] == ["size", "species", "tags"]
    assert fitted.heads_[1][1].classes_.tolist() == ["ant", "bee", "cat"]
    assert isinstance(fitted.trunk_, MLPTrunk) and fitted.trunk_ is not FAST["trunk"]
    assert set(fitted.history_) == {"size_loss", "species_loss", "tags_loss",
                                    "size_r2", "species_accuracy", "tags_binary_accuracy"}
    assert "loss" not in fitted.history_
    assert all(len(v) == 4 for v in fitted.history_.values()) and fitted.n_iter_ == 4
    assert fitted.n_features_in_ == 5 and fitted.input_shape_ == (5,)
    assert not hasattr(fitted, "classes_")  # several heads
    for name, trainer in fitted.estimators_:
        assert trainer.model_.output_names == [name]
        assert trainer.model_.get_layer(name).units == dict(fitted.heads_)[name].output_units_
        assert trainer.history_["loss"] == fitted.history_[f"{name}_loss"]
    assert "loss_weights" not in fitted.get_params()
    # one classification head: a classifier with classes_
    one = SeparateNetworks([("y", ClassificationHead())], **FAST).fit(X, Y["species"])
    assert one.classes_.tolist() == ["ant", "bee", "cat"]
    assert one.predict(X[:3]).shape == (3,)


@pytest.mark.backend
def test_reproducible_seeded_per_head_and_no_global_random_state():
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    a, b = make().fit(X, Y), make().fit(X, Y)
    assert (np.random.get_state()[1] == np_state).all() and random.getstate() == py_state
    pd.testing.assert_frame_equal(a.predict(X), b.predict(X))
    assert a.history_ == b.history_
    kernels = [t.model_.get_layer("trunk_dense_0").get_weights()[0] for _, t in a.estimators_]
    assert not np.allclose(kernels[0], kernels[1]) and not np.allclose(kernels[1], kernels[2])
    other = make(random_state=1).fit(X, Y)
    assert not np.allclose(other.predict_head(X, "size"), a.predict_head(X, "size"))


@pytest.mark.backend
def test_callbacks_path_trains_the_same_batches(fitted):
    with_callbacks = make(callbacks=[keras.callbacks.History()]).fit(X, Y)
    np.testing.assert_allclose(with_callbacks.predict_head(X, "size"),
                               fitted.predict_head(X, "size"), rtol=1e-4, atol=1e-4)
    assert {k: len(v) for k, v in with_callbacks.history_.items()} == \
        {k: len(v) for k, v in fitted.history_.items()}


def test_early_stopping_keeps_each_heads_validation_curve():
    est = make(early_stopping=True, epochs=6, n_iter_no_change=2).fit(X, Y)
    assert {"val_size_loss", "val_species_loss", "val_tags_loss"} <= set(est.history_)
    for name in ("size", "species", "tags"):
        assert len(est.history_[f"val_{name}_loss"]) == len(est.history_[f"{name}_loss"])
    assert est.n_iter_ == max(len(v) for v in est.history_.values())


def test_zero_weight_rows_are_dropped_as_in_the_joint_estimator():
    w = np.ones(N)
    w[::4] = 0
    keep = w > 0
    a = make().fit(X, Y, sample_weight=w)
    b = make().fit(X[keep], Y[keep])
    pd.testing.assert_frame_equal(a.predict(X), b.predict(X))


def test_missing_labels_leave_rows_out_of_that_heads_network():
    Ym = Y.copy()
    Ym["length"] = Ym["length"].where(np.arange(N) % 5 != 0)  # masked 2-output head
    Ym["species"] = Ym["species"].astype(object).where(np.arange(N) % 7 != 1)
    Ym["a"] = Ym["a"].astype(float).where(np.arange(N) % 6 != 2)  # masked labels
    est = make().fit(X, Ym)
    pred = est.predict(X)
    assert est.heads_[0][1].masked_ and est.heads_[2][1].masked_  # NaN in encoded y
    assert pred.notna().all().all() and list(pred.columns) == list(Y.columns)
    assert all(np.isfinite(v).all() for v in est.history_.values())
    joint = make(MultiTaskEstimator).fit(X, Ym)
    assert list(joint.predict(X).dtypes) == list(pred.dtypes)


@pytest.mark.backend
def test_partial_fit_continues_all_or_nothing():
    est = make()
    est.partial_fit(X, Y).partial_fit(X, Y)
    assert est.n_iter_ == 2 and all(len(v) == 2 for v in est.history_.values())
    before = est.predict(X)
    bad = Y.copy()
    bad.loc[bad.index[0], "species"] = "dog"  # unseen class
    with pytest.raises(ValueError, match="not seen in fit"):
        est.partial_fit(X, bad)
    pd.testing.assert_frame_equal(est.predict(X), before)
    assert est.n_iter_ == 2
    est.partial_fit(X, Y)
    assert est.n_iter_ == 3 and all(len(t.history_["loss"]) == 3 for _, t in est.estimators_)


def test_clone_pickle_and_grid_search(fitted):
    params = clone(fitted).get_params()
    assert params["heads__species__class_weight"] is None
    assert params["trunk__hidden_layer_sizes"] == (8,)
    restored = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(restored.predict(X), fitted.predict(X))
    assert restored.model_ is None and restored.history_ == fitted.history_
    est = make(epochs=2)
    est.set_params(heads__size__scale=False, trunk__hidden_layer_sizes=(4,))
    assert est.heads[0][1].scale is False and est.trunk.hidden_layer_sizes == (4,)
    with pytest.raises(ValueError, match="SeparateNetworks.*no head 'nope'"):
        est.set_params(heads__nope__scale=False)
    search = GridSearchCV(est, {"heads__size__scale": [True, False],
                                "trunk__hidden_layer_sizes": [(4,), (6,)]},
                          cv=KFold(2)).fit(X, Y)
    assert set(search.best_params_) == {"heads__size__scale", "trunk__hidden_layer_sizes"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.predict(X[:3]).shape == (3, 6)


def test_unpickles_in_a_fresh_process(fitted, tmp_path):
    path = tmp_path / "sep.pkl"
    path.write_bytes(pickle.dumps(fitted))
    np.save(tmp_path / "X.npy", X)
    code = ("import pickle, sys, numpy as np; est = pickle.loads(open(sys.argv[1], 'rb')"
            ".read()); print(est.predict_head(np.load(sys.argv[2]), 'size')[:3]"
            ".to_numpy().tolist())")
    out = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "X.npy")],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    got = np.array(eval(out.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, fitted.predict_head(X, "size")[:3], rtol=1e-6)


def test_save_and_load_round_trip(fitted, tmp_path):
    import zipfile

    import mtestimator

    path = tmp_path / "sep.mtest"
    fitted.save(path)
    with zipfile.ZipFile(path) as zf:  # one Keras archive (and optimizer) per head's network
        assert sorted(zf.namelist()) == ["mtestimator.json", "networks/size.keras",
                                         "networks/species.keras", "networks/tags.keras",
                                         "optimizers/size.npz", "optimizers/species.npz",
                                         "optimizers/tags.npz"]
    again = mtestimator.load(path)
    assert type(again) is SeparateNetworks and again.model_ is None
    assert repr(again.get_params()) == repr(fitted.get_params())
    assert [n for n, _ in again.estimators_] == [n for n, _ in fitted.estimators_]
    assert [dict(w.history_) for _, w in again.estimators_] == \
        [dict(w.history_) for _, w in fitted.estimators_]
    pd.testing.assert_frame_equal(again.predict(X), fitted.predict(X))
    for a, b in zip(again.predict_proba(X), fitted.predict_proba(X)):
        np.testing.assert_array_equal(a, b)
    for name in ("size", "species", "tags"):
        np.testing.assert_array_equal(again.predict_head(X, name),
                                      fitted.predict_head(X, name))
    assert again.score(X, Y) == fitted.score(X, Y)
    resaved = tmp_path / "resaved.mtest"
    again.save(resaved)
    pd.testing.assert_frame_equal(mtestimator.load(resaved).predict(X), fitted.predict(X))


def _separate_damage(members):
    """How a good SeparateNetworks file is damaged: functions of its members
    ({name: bytes}, the JSON decoded), and the message each gives."""
    def drop(name):
        return lambda m: {k: v for k, v in m.items() if k != name}

    def swapped(m):
        return {**m, "networks/size.keras": m["networks/species.keras"]}

    def meta(edit):
        def damage(m):
            m = {**m, "mtestimator.json": json.loads(json.dumps(m["mtestimator.json"]))}
            edit(m["mtestimator.json"])
            return m
        return damage

    return [
        (drop("networks/tags.keras"), r"it lacks networks/tags\.keras, the network 'tags'"),
        (swapped, r"networks/size\.keras's outputs \['species'\] do not match the heads in "
                  r"mtestimator\.json; expected \['size'\]"),
        (meta(lambda j: j.update(networks=["model"])),
         r"networks is a list of 1 item; expected \['size', 'species', 'tags'\], the "
         r"networks of SeparateNetworks"),
        (meta(lambda j: j.update({"class": "MultiTaskEstimator"})),
         r"networks is a list of 3 items; expected \['model'\], the networks of "
         r"MultiTaskEstimator"),
        (meta(lambda j: j["fitted"].update(estimators_=[])),
         r"fitted\.estimators_ is not a fitted attribute a file may set"),
    ]


def test_damaged_separate_file_is_a_clear_value_error(fitted, tmp_path):
    import zipfile

    import mtestimator

    good = tmp_path / "sep.mtest"
    fitted.save(good)
    with zipfile.ZipFile(good) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["mtestimator.json"] = json.loads(members["mtestimator.json"])
    for i, (damage, match) in enumerate(_separate_damage(members)):
        bad = tmp_path / f"bad{i}.mtest"
        with zipfile.ZipFile(bad, "w") as zf:
            for name, data in damage(members).items():
                zf.writestr(name, json.dumps(data) if name == "mtestimator.json" else data)
        with pytest.raises(ValueError, match=match):
            mtestimator.load(bad)


def test_cross_validate_joint_and_separate_on_the_same_splits():
    cv = KFold(3, shuffle=True, random_state=0)
    results = {cls.__name__: cross_validate(make(cls, epochs=3), X, Y, cv=cv)
               for cls in (MultiTaskEstimator, SeparateNetworks)}
    for result in results.values():
        assert len(result["test_score"]) == 3 and np.isfinite(result["test_score"]).all()


def test_partial_fit_after_load_with_early_stopping(tmp_path):
    # a loaded estimator has no _fit_seed: the validation split falls back to its seed
    import mtestimator
    from mtestimator.heads import ClassificationHead, RegressionHead
    from mtestimator.trunks import MLPTrunk

    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 3))
    Y = np.column_stack([X[:, 0], (X[:, 1] > 0).astype(int)])
    for cls in (mtestimator.SeparateNetworks, mtestimator.MultiTaskEstimator):
        est = cls(heads=[("r", RegressionHead(columns=0)), ("c", ClassificationHead(columns=1))],
                  trunk=MLPTrunk(hidden_layer_sizes=(3,)), epochs=2, early_stopping=True,
                  random_state=0).fit(X, Y)
        est.save(tmp_path / "m.mtest")
        loaded = mtestimator.load(tmp_path / "m.mtest")
        loaded.partial_fit(X, Y)
        assert loaded.n_iter_ == est.n_iter_ + 1
