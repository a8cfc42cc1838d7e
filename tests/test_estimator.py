"""MultiTaskEstimator: heads and trunks as objects, y layouts, composition, errors."""

import os
import pickle
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, check_cv, \
    cross_validate, train_test_split

import mtestimator
from mtestimator import MultiTaskEstimator
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.metrics import make_head_scorer
from mtestimator.trunks import Conv1DTrunk, KerasTrunk, MLPTrunk, RecurrentTrunk

rng = np.random.RandomState(0)
N = 240
X = rng.normal(size=(N, 6))
Y = pd.DataFrame({
    "length": 2 * X[:, 0] + 1 + 0.1 * rng.normal(size=N),
    "weight": X[:, 1] - X[:, 2],
    "species": np.array(["ant", "bee", "cat"])[np.digitize(X[:, 3], [-0.5, 0.5])],
    "a": (X[:, 4] > 0).astype(int),
    "b": (X[:, 5] > 0).astype(int),
    "c": (X[:, 4] + X[:, 5] > 0).astype(int),
})
HEADS = [("size", RegressionHead(columns=["length", "weight"])),
         ("species", ClassificationHead(columns="species")),
         ("tags", MultiLabelHead(columns=["a", "b", "c"]))]


def three_heads(**kw):
    params = {"trunk": MLPTrunk(hidden_layer_sizes=(32,)), "epochs": 30,
              "learning_rate": 0.01, "random_state": 0, **kw}
    return MultiTaskEstimator(heads=[(n, clone(h)) for n, h in HEADS], **params)


@pytest.fixture(scope="module")
def fitted():
    return three_heads().fit(X, Y)


def test_three_heads_dataframe_in_dataframe_out(fitted):
    pred = fitted.predict(X)
    assert isinstance(pred, pd.DataFrame) and list(pred.columns) == list(Y.columns)
    assert pred["species"].isin(["ant", "bee", "cat"]).all()
    assert set(np.unique(pred[["a", "b", "c"]])) <= {0, 1}
    probas = fitted.predict_proba(X)
    assert [p.shape for p in probas] == [(N, 3), (N, 3)]
    np.testing.assert_allclose(probas[0].sum(axis=1), 1, rtol=1e-6)
    assert set(fitted.history_) == {"loss", "size_loss", "species_loss", "tags_loss",
                                    "size_r2", "species_accuracy", "tags_binary_accuracy"}
    assert fitted.model_.get_layer("size").units == 2
    assert fitted.model_.get_layer("species").units == 3
    # every head learned something
    assert accuracy_score(Y["species"], pred["species"]) > 0.8
    assert np.corrcoef(pred["length"], Y["length"])[0, 1] > 0.9
    assert accuracy_score(Y[["a", "b", "c"]], pred[["a", "b", "c"]]) > 0.6
    assert 0.6 < fitted.score(X, Y) <= 1
    assert fitted.named_heads_["species"].classes_.tolist() == ["ant", "bee", "cat"]
    np.testing.assert_array_equal(fitted.predict_head(X, "species"), pred["species"])


def test_dataframe_x_index_is_kept(fitted):
    Xf = pd.DataFrame(X, index=np.arange(N) + 1000)
    assert list(fitted.predict(Xf).index) == list(Xf.index)


def test_array_y_by_positions_gives_array_out():
    Ya = Y.to_numpy()
    heads = [("size", RegressionHead(columns=[0, 1])), ("species", ClassificationHead(2)),
             ("tags", MultiLabelHead(columns=[3, 4, 5]))]
    est = MultiTaskEstimator(heads, trunk=MLPTrunk((8,)), epochs=3, random_state=0).fit(X, Ya)
    pred = est.predict(X)
    assert isinstance(pred, np.ndarray) and pred.shape == (N, 6) and pred.dtype == object
    numeric = MultiTaskEstimator([heads[0], ("tags", MultiLabelHead(columns=[2, 3, 4]))],
                                 trunk=MLPTrunk((8,)), epochs=2, random_state=0)
    with pytest.raises(ValueError, match=r"Columns \[5\] of y are taken by no head"):
        numeric.fit(X, Ya)
    pred = numeric.fit(X, np.delete(Ya, 2, axis=1).astype(float)).predict(X)
    assert pred.dtype == np.float64 and pred.shape == (N, 5)


def test_grid_search_clone_pickle_save_load(fitted, tmp_path):
    grid = GridSearchCV(three_heads(epochs=3),
                        {"heads__species__class_weight": [None, "balanced"],
                         "trunk__hidden_layer_sizes": [(8,), (16, 8)]}, cv=2).fit(X, Y)
    assert len(grid.cv_results_["params"]) == 4
    assert isinstance(grid.best_estimator_.predict(X), pd.DataFrame)
    params = clone(fitted).get_params()
    assert params["heads__species__class_weight"] is None
    assert params["trunk__hidden_layer_sizes"] == (32,)
    assert not hasattr(clone(fitted), "model_")
    pred = fitted.predict(X)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(fitted)).predict(X), pred)
    path = tmp_path / "three.mtest"
    fitted.save(path)
    loaded = mtestimator.load(path)
    pd.testing.assert_frame_equal(loaded.predict(X), pred)
    for a, b in zip(loaded.predict_proba(X), fitted.predict_proba(X)):
        np.testing.assert_array_equal(a, b)
    assert loaded.get_params()["heads__size__columns"] == ["length", "weight"]


def test_set_params_reaches_heads_and_trunk():
    est = three_heads()
    est.set_params(heads__tags__threshold=0.3, trunk__dropout=0.1, epochs=2)
    assert est.get_params()["heads__tags__threshold"] == 0.3
    assert est.trunk.dropout == 0.1 and est.epochs == 2
    est.set_params(heads__size=RegressionHead(columns=["length", "weight"], scale=False))
    assert est.get_params()["heads__size__scale"] is False
    with pytest.raises(ValueError, match="has no head 'nope'"):
        est.set_params(heads__nope__threshold=0.2)


def test_loss_weights_per_head_and_auto():
    heads = [(n, clone(h)) for n, h in HEADS]
    heads[1][1].set_params(loss_weight=0.0)
    est = MultiTaskEstimator(heads, trunk=MLPTrunk((16,)), epochs=20, learning_rate=0.01,
                             random_state=0).fit(X, Y)
    # the class head had no weight: chance-level
    assert accuracy_score(Y["species"], est.predict_head(X, "species")) < 0.6
    auto = three_heads(loss_weights="auto", epochs=5).fit(X, Y)
    assert {f"{n}_uncertainty" for n, _ in HEADS} <= {lay.name for lay in auto.model_.layers}
    again = pickle.loads(pickle.dumps(auto))
    pd.testing.assert_frame_equal(again.predict(X), auto.predict(X))
    zero = [(n, clone(h).set_params(loss_weight=0.0)) for n, h in HEADS]
    with pytest.raises(ValueError, match="loss weights of the heads.*all zero"):
        MultiTaskEstimator(zero, epochs=1).fit(X, Y)


@pytest.mark.parametrize("head, kind", [(ClassificationHead(), "classifier"),
                                        (RegressionHead(), "regressor"),
                                        (MultiLabelHead(), "multilabel")])
def test_estimator_type_follows_a_single_head(head, kind):
    est = MultiTaskEstimator([("y", head)], trunk=MLPTrunk((8,)), epochs=3, random_state=0)
    assert is_classifier(est) == (kind != "regressor")
    assert is_regressor(est) == (kind == "regressor")
    assert hasattr(est, "predict_proba") == (kind != "regressor")
    y = {"classifier": Y["species"].to_numpy(), "regressor": Y["length"].to_numpy(),
         "multilabel": Y[["a", "b", "c"]].to_numpy()}[kind]
    splitter = check_cv(3, y, classifier=is_classifier(est))
    assert isinstance(splitter, StratifiedKFold if kind == "classifier" else KFold)
    est.fit(X, y)
    assert est.predict(X).shape == y.shape
    if kind != "regressor":
        assert est.classes_.tolist() == (["ant", "bee", "cat"] if kind == "classifier"
                                         else [0, 1, 2])
    several = three_heads()
    assert not is_classifier(several) and not is_regressor(several)
    assert several.__sklearn_tags__().target_tags.multi_output


def test_zero_weight_rows_define_nothing():
    w = np.ones(N)
    w[:60] = 0
    Yw = Y.copy()
    Yw.loc[:59, "species"] = "dog"  # a class seen only on zero-weight rows
    Yw.loc[:59, "length"] = 1e6  # would dominate the target scaling
    heads = [("size", RegressionHead(columns=["length", "weight"])),
             ("species", ClassificationHead(columns="species", class_weight="balanced")),
             ("tags", MultiLabelHead(columns=["a", "b", "c"], class_weight="balanced"))]
    kw = {"trunk": MLPTrunk((8,)), "epochs": 3, "random_state": 0}
    weighted = MultiTaskEstimator(heads, **kw).fit(X, Yw, sample_weight=w)
    dropped = MultiTaskEstimator(heads, **kw).fit(X[60:], Yw.iloc[60:])
    a, b = weighted.named_heads_, dropped.named_heads_
    assert a["species"].classes_.tolist() == ["ant", "bee", "cat"]
    np.testing.assert_array_equal(a["species"].class_weight_, b["species"].class_weight_)
    np.testing.assert_array_equal(a["size"].mean_, b["size"].mean_)
    np.testing.assert_array_equal(a["size"].std_, b["size"].std_)
    np.testing.assert_array_equal(a["tags"].pos_weight_, b["tags"].pos_weight_)
    pd.testing.assert_frame_equal(weighted.predict(X), dropped.predict(X))


def test_weighted_regression_scaling_uses_the_weights():
    w = np.where(np.arange(N) % 2 == 0, 3.0, 1.0)
    est = MultiTaskEstimator([("y", RegressionHead())], trunk=MLPTrunk((4,)), epochs=1,
                             random_state=0).fit(X, Y["length"], sample_weight=w)
    head = est.named_heads_["y"]
    np.testing.assert_allclose(head.mean_, np.average(Y["length"], weights=w))
    np.testing.assert_allclose(head.std_, np.sqrt(np.cov(Y["length"], aweights=w, ddof=0)))


@pytest.mark.parametrize(
    "heads, y, match",
    [
        ([("a", RegressionHead("length")), ("a", ClassificationHead("species"))], Y,
         "head names.*distinct.*got 'a'"),
        ([("a__b", RegressionHead("length"))], Y, "without '__'"),
        ([("a", RegressionHead("length")), ("b", ClassificationHead("length"))], Y,
         "Column 'length' of y is taken by heads 'a' and 'b'"),
        ([("a", RegressionHead("height"))], Y, "takes column 'height', which y does not have"),
        ([("a", RegressionHead("length")), ("b", RegressionHead())], Y,
         "columns=None.*only a single head"),
        ([("a", RegressionHead("length"))], Y.to_numpy(), "y is not a DataFrame"),
        ([("a", ClassificationHead("length"))], Y, "continuous values.*RegressionHead"),
        ([("a", RegressionHead("species"))], Y, "must be numeric; got '(ant|bee|cat)'"),
        ([("a", ClassificationHead(["species", "a"]))], Y, "takes one label column"),
        ([("a", MultiLabelHead(["species", "a"]))], Y, "only 0 and 1"),
        ([("a", RegressionHead("length", hidden_layer_sizes=(4, 0)))], Y,
         r"hidden_layer_sizes=\(4, 0\) must be a positive int or a sequence"),
        ([], Y, "at least one head"),
        ("not a list", Y, "'heads' parameter"),
    ],
)
def test_bad_heads_and_targets(heads, y, match):
    est = MultiTaskEstimator(heads, trunk=MLPTrunk((4,)), epochs=1)
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_head_towers_train_predict_in_numpy_and_save(tmp_path):
    heads = [("size", RegressionHead(["length", "weight"], hidden_layer_sizes=(6,))),
             ("species", ClassificationHead("species", hidden_layer_sizes=(5, 3))),
             ("tags", MultiLabelHead(["a", "b", "c"]))]
    est = MultiTaskEstimator(heads, trunk=MLPTrunk((8,), dropout=0.1, activation="tanh"),
                             epochs=2, random_state=0).fit(X, Y)
    layers = {layer.name: layer for layer in est.model_.layers}
    assert sorted(n for n in layers if "_tower_" in n) == [
        "size_tower_0", "size_tower_dropout_0", "species_tower_0", "species_tower_1",
        "species_tower_dropout_0", "species_tower_dropout_1"]  # tags: no tower
    assert layers["species_tower_1"].units == 3 and \
        layers["size_tower_0"].activation.__name__ == "tanh"  # the trunk's activation
    assert est._dense_layers["model"] is not False  # towers predict in NumPy too
    text = est.summary(print_fn=None)  # a head's parameters include its tower's
    assert "[5, 3] 3" in text and f"trunk {6 * 8 + 8:,} + heads" in text
    keras_out = est.model_(X.astype("float32"), training=False)
    for name, raw in est._predict_raw(X).items():
        np.testing.assert_allclose(raw, np.asarray(keras_out[name]), rtol=1e-5, atol=1e-6)
    est.save(tmp_path / "towers.mtest")
    pd.testing.assert_frame_equal(mtestimator.load(tmp_path / "towers.mtest").predict(X),
                                  est.predict(X))
    est.set_params(heads__tags__hidden_layer_sizes=(2,))
    with pytest.raises(ValueError, match="partial_fit cannot change the network. Call fit"):
        est.partial_fit(X, Y)
    assert "tags_tower_0" in [layer.name for layer in est.fit(X, Y).model_.layers]


def test_partial_fit_continues_and_refuses_shape_changes():
    est = three_heads(epochs=2).fit(X, Y)
    before = est.predict_proba(X)[0]
    est.partial_fit(X, Y)
    assert est.n_iter_ == 3 and len(est.history_["size_loss"]) == 3
    assert not np.allclose(est.predict_proba(X)[0], before)
    est.set_params(trunk__hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="partial_fit cannot change the network. Call fit"):
        est.partial_fit(X, Y)
    assert est.n_iter_ == 3
    first = MultiTaskEstimator([("y", ClassificationHead())], trunk=MLPTrunk((4,)),
                               random_state=0)
    first.partial_fit(X[:10], Y["species"][:10], classes=["ant", "bee", "cat"])
    assert first.n_iter_ == 1 and first.classes_.tolist() == ["ant", "bee", "cat"]


def test_head_scorer_and_cross_validate_on_named_heads():
    scoring = {"species": make_head_scorer(accuracy_score, head="species"),
               "tags": make_head_scorer(accuracy_score, head="tags")}
    res = cross_validate(three_heads(epochs=5), X, Y, cv=2, scoring=scoring)
    assert np.all(res["test_species"] > 0.3) and np.all(np.isfinite(res["test_tags"]))


@pytest.mark.parametrize("trunk", [RecurrentTrunk((8,), cell="gru"), Conv1DTrunk((4,))])
@pytest.mark.backend
def test_sequence_trunks(trunk):
    Xs = rng.normal(size=(80, 10, 2))
    y = pd.DataFrame({"next": Xs[:, -1, 0], "up": (Xs[:, -1, 1] > 0).astype(int)})
    est = MultiTaskEstimator([("next", RegressionHead("next")),
                              ("up", ClassificationHead("up"))], trunk=trunk, epochs=2,
                             random_state=0).fit(Xs, y)
    assert est.predict(Xs).shape == (80, 2) and est.input_shape_ == (10, 2)
    assert est.model_.get_layer("up").units == 1  # binary: one sigmoid unit


def _cnn(input_shape, seed=None):
    def init(i):
        return keras.initializers.HeUniform(None if seed is None else seed + i)

    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(16, 3, activation="relu", kernel_initializer=init(0)),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(1)),
        keras.layers.Flatten()])


@pytest.mark.slow
@pytest.mark.backend
def test_keras_trunk_cnn_on_digit_images():
    digits = load_digits()
    images = digits.images[..., None] / 16.0  # (n, 8, 8, 1)
    y = np.column_stack([digits.target, digits.target % 2, digits.target >= 5,
                         np.isin(digits.target, [2, 3, 5, 7])]).astype(int)
    X_tr, X_te, y_tr, y_te = train_test_split(images, y, random_state=0)
    est = MultiTaskEstimator([("digit", ClassificationHead(0)),
                              ("properties", MultiLabelHead([1, 2, 3]))],
                             trunk=KerasTrunk(_cnn), epochs=15, random_state=0).fit(X_tr, y_tr)
    accuracy = accuracy_score(y_te[:, 0], est.predict_head(X_te, "digit"))
    print(f"digits: held-out accuracy {accuracy:.3f}")
    assert accuracy >= 0.95
    assert est.predict(X_te).shape == (len(X_te), 4)
    assert est.input_shape_ == (8, 8, 1)


def _dense(input_shape, seed=None):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(
        3, kernel_initializer=keras.initializers.GlorotUniform(seed))])


def test_keras_trunk_without_seed_warns_and_kwargs_get_the_seed():
    """The user's step: a build_fn without seed gave other results at each seeded fit."""
    import warnings

    def no_seed(input_shape):
        return _dense(input_shape)

    def any_kwargs(input_shape, **kwargs):
        seen.append(kwargs["seed"])
        return _dense(input_shape, kwargs["seed"])

    def fit(build_fn, random_state=0):
        return MultiTaskEstimator([("y", RegressionHead())], trunk=KerasTrunk(build_fn),
                                  epochs=1, random_state=random_state).fit(X, X[:, 0])

    with pytest.warns(UserWarning, match=r"build_fn \(.*no_seed\) without a 'seed' argument"
                                         r".*same random_state give different results\. "
                                         r"Add a seed parameter"):
        fit(no_seed)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: unseeded, or the seed reaches build_fn
        fit(no_seed, random_state=None)
        a, b = fit(any_kwargs), fit(any_kwargs)
    assert isinstance(seen[0], int) and seen[0] == seen[1]
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_keras_trunk_checks_its_output_and_input():
    def not_flat(input_shape):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Conv2D(2, 3)])

    images = rng.normal(size=(20, 8, 8, 1))
    with pytest.raises(ValueError, match="output is 2-D.*Flatten"):
        MultiTaskEstimator([("y", RegressionHead())], trunk=KerasTrunk(not_flat),
                           epochs=1).fit(images, images[:, 0, 0, 0])
    est = MultiTaskEstimator([("y", RegressionHead())], trunk=KerasTrunk(_cnn), epochs=1,
                             random_state=0).fit(images, images[:, 0, 0, 0])
    with pytest.raises(ValueError, match=r"samples of shape \(6, 6, 1\).*\(8, 8, 1\)"):
        est.predict(images[:, :6, :6])
    with pytest.raises(ValueError, match="NaN"):
        est.predict(np.full((2, 8, 8, 1), np.nan))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="string tensors train on the TensorFlow backend only")
@pytest.mark.backend
def test_keras_trunk_on_text():
    texts = np.array(["good movie great fun", "bad film awful plot", "great acting good",
                      "awful boring bad"] * 20)
    y = pd.DataFrame({"positive": [1, 0, 1, 0] * 20, "length": [len(t) for t in texts] * 1})
    vocab = sorted({w for t in texts for w in t.split()})

    def text_trunk(input_shape, seed=None):
        inputs = keras.Input(input_shape, dtype="string")
        x = keras.layers.TextVectorization(vocabulary=vocab, output_sequence_length=4)(inputs)
        x = keras.layers.Embedding(len(vocab) + 2, 8, embeddings_initializer=keras.initializers
                                   .RandomUniform(seed=seed))(x)
        return keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(x))

    est = MultiTaskEstimator([("positive", ClassificationHead("positive")),
                              ("length", RegressionHead("length"))],
                             trunk=KerasTrunk(text_trunk), epochs=20, learning_rate=0.05,
                             random_state=0).fit(texts, y)
    assert accuracy_score(y["positive"], est.predict_head(texts, "positive")) == 1.0
    assert est.predict(texts[:3]).shape == (3, 2)


def test_import_loads_neither_tensorflow_nor_scikeras():
    code = ("import sys, mtestimator; "
            "print(sorted(m for m in ('tensorflow', 'scikeras', 'keras', 'jax', 'skops') "
            "if m in sys.modules))")
    for backend in ("jax", "tensorflow"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={**os.environ, "KERAS_BACKEND": backend})
        assert out.stdout.strip() == "[]", (backend, out.stdout)
