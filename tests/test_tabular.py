"""TabularTrunk: its fitted preprocessing (pure NumPy, no training), then one shared
fitted estimator per backend for NumPy inference, save/load, partial_fit and
a grid search; the clear errors and warnings of the other trunks on raw tables."""

import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, train_test_split

from mtestimator import MultiTaskEstimator, load
from mtestimator._tabular import encode, fit_columns, layout, smooth_clip
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.trunks import MLPTrunk, TabularTrunk

rng = np.random.RandomState(0)
N = 48
FRAME = pd.DataFrame({
    "year": rng.randint(2007, 2010, N),                      # int, raw scale
    "mass": np.where(rng.rand(N) < 0.1, np.nan, rng.normal(4000, 800, N)),
    "island": rng.choice(["Biscoe", "Dream", "Torgersen"], N).astype(object),
    "sex": pd.Categorical(rng.choice(["f", "m"], N)),
    "tagged": rng.rand(N) > 0.5,
    "site": pd.array(rng.choice([f"s{i}" for i in range(12)], N), dtype="string"),
})
Y = pd.DataFrame({"size": FRAME["year"] - 2008 + rng.normal(size=N),
                  "kind": np.where(FRAME["island"] == "Dream", "a", "b")})


def heads():
    return [("size", RegressionHead(columns="size")), ("kind", ClassificationHead(columns="kind"))]


def tabular(**trunk):
    return MultiTaskEstimator(heads(), trunk=TabularTrunk((8,), **trunk), epochs=2,
                              random_state=0)


# -- the preprocessing (no Keras) ---------------------------------------------------

def test_kinds_of_columns_from_their_dtypes():
    state = fit_columns(FRAME, max_onehot=8)
    assert state["numeric_columns"].tolist() == [0, 1]
    assert state["onehot_columns"].tolist() == [2, 3, 4]          # object, category, bool
    assert state["embedded_columns"].tolist() == [5]              # string, 12 levels
    assert state["missing_columns"].tolist() == [1]
    assert [lv.tolist() for lv in state["onehot_levels"]] == [
        ["Biscoe", "Dream", "Torgersen"], ["f", "m"], ["False", "True"]]
    n_numeric, n_dense, cards = layout(state)
    assert (n_numeric, n_dense, cards) == (2, 2 + 1 + 3 + 2 + 2, (13,))
    assert encode(state, FRAME).shape == (N, n_dense + 1)


def test_robust_scaling_smooth_clipping_and_missing_indicator():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 1000.0, np.nan]})
    state = fit_columns(frame)
    assert state["numeric_center"][0] == 3.5                      # the median
    assert state["numeric_scale"][0] == pytest.approx(2.5)        # the IQR
    out = encode(state, frame)
    expected = smooth_clip((np.array([1, 2, 3, 4, 5, 1000, 3.5]) - 3.5) / 2.5)
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-6)
    assert np.abs(out[:, 0]).max() < 3                            # the outlier is clipped
    assert out[:, 1].tolist() == [0, 0, 0, 0, 0, 0, 1]            # missing indicator
    assert out.dtype == np.float32
    constant = encode(fit_columns(pd.DataFrame({"c": [2.0] * 4})), pd.DataFrame({"c": [2.0]}))
    assert constant.tolist() == [[0.0]]


def test_unseen_and_missing_categories_never_fail():
    state = fit_columns(FRAME, max_onehot=8)
    new = FRAME.iloc[:3].copy()
    new["island"] = ["Atlantis", None, "Dream"]
    new["site"] = pd.array(["nowhere", None, "s1"], dtype="string")
    new["sex"] = pd.Categorical(["x", None, "m"])
    out = encode(state, new)
    island = out[:, 3:6]
    assert island.tolist() == [[0, 0, 0], [0, 0, 0], [0, 1, 0]]  # unseen, missing: no level
    assert out[:2, -1].tolist() == [0, 0]                          # embedded: code 0
    assert out[2, -1] == 1 + state["embedded_levels"][0].tolist().index("s1")
    # a missing level seen at fit has its own one-hot column
    frame = pd.DataFrame({"c": ["a", None, "b"]})
    assert encode(fit_columns(frame), frame).tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]


@pytest.mark.parametrize("given", [["year"], [0], np.array([True] + [False] * 5)])
def test_categorical_features_by_name_index_or_mask(given):
    state = fit_columns(FRAME, categorical_features=given)
    assert 0 not in state["numeric_columns"]
    assert 0 in state["onehot_columns"]                           # 3 years: one-hot


def test_categorical_features_errors_name_the_column():
    with pytest.raises(ValueError, match="names 'nope', which is not a column"):
        fit_columns(FRAME, categorical_features=["nope"])
    with pytest.raises(ValueError, match="column index 9, but X has 6 columns"):
        fit_columns(FRAME, categorical_features=[9])
    with pytest.raises(ValueError, match="one value per column of X"):
        fit_columns(FRAME, categorical_features=[True, False])


def test_arrays_and_piecewise_encoding():
    X = np.column_stack([np.arange(20.0), np.arange(20.0) % 3])
    state = fit_columns(X, categorical_features=[1], piecewise_bins=4)
    n_numeric, n_dense, _ = layout(state)
    out = encode(state, X)
    assert (n_numeric, n_dense) == (1, 1 + 4 + 3)
    pieces = out[:, 1:5]
    assert pieces.min() >= 0 and pieces.max() <= 1 + 1e-6
    assert (np.diff(pieces.sum(axis=1)) >= -1e-6).all()           # grows with x
    assert pieces[0].tolist() == [0, 0, 0, 0] and pieces[-1].tolist() == [1, 1, 1, 1]


def test_infinite_and_non_numeric_values_name_the_column():
    with pytest.raises(ValueError, match="Column 'x' of X holds inf"):
        fit_columns(pd.DataFrame({"x": [1.0, np.inf]}))
    state = fit_columns(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="Column 'x' of X holds values that are not numbers"):
        encode(state, pd.DataFrame({"x": ["a", "b"]}))
    days = pd.date_range("2020-01-01", periods=2)
    for when in (days, days.tz_localize("UTC"), days - days[0], days.to_period("D")):
        with pytest.raises(TypeError, match=r"Column 'd' of X holds .* nanosecond counts.*"
                                            r"\.dt\.year.*'categorical_features'"):
            fit_columns(pd.DataFrame({"d": when}))
    assert fit_columns(pd.DataFrame({"d": days}), categorical_features=["d"])  # as levels


def test_get_params_clone_and_parameter_errors():
    trunk = TabularTrunk((16,), n_ensemble=4, numeric_embedding="periodic")
    assert clone(trunk).get_params() == trunk.get_params()
    est = MultiTaskEstimator(heads(), trunk=TabularTrunk(n_ensemble=0))
    with pytest.raises(ValueError, match="'n_ensemble' parameter of TabularTrunk"):
        est.fit(FRAME, Y)
    est = MultiTaskEstimator(heads(), trunk=TabularTrunk(numeric_embedding="fourier"))
    with pytest.raises(ValueError, match="'numeric_embedding' parameter"):
        est.fit(FRAME, Y)


# -- other trunks on raw tables ------------------------------------------------------

def test_mlp_trunk_names_a_string_column_and_points_to_tabular_trunk():
    est = MultiTaskEstimator(heads(), epochs=1)
    with pytest.raises(ValueError, match=r"Column 'island' of X holds strings such as "
                                         r"'\w+'; MLPTrunk takes numbers only\. Use "
                                         r"trunk=TabularTrunk\(\)"):
        est.fit(FRAME, Y)
    with pytest.raises(ValueError, match="Column 2 of X holds strings"):
        est.fit(FRAME.to_numpy(), Y)


def test_mlp_trunk_warns_on_badly_scaled_columns():
    X = pd.DataFrame({"z": rng.normal(size=N), "year": rng.randint(2007, 2010, N)})
    est = MultiTaskEstimator(heads(), trunk=MLPTrunk((2,)), epochs=1, random_state=0)
    with pytest.warns(UserWarning, match="Column 'year' of X has a typical magnitude of "
                                         "2.01e\\+03.*StandardScaler.*TabularTrunk"):
        est.fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(X.assign(year=X["year"] - 2008), Y)


# -- training, inference, persistence (per backend) -----------------------------------

#: One architecture for the fitted fixture and partial_fit: one compilation.
RICH = {"n_ensemble": 3, "numeric_embedding": "periodic", "max_onehot": 2, "alpha": 1e-4}


@pytest.fixture(scope="module")
def fitted():
    return tabular(**RICH).fit(FRAME, Y)


@pytest.mark.backend
def test_numpy_inference_equals_keras_and_summary(fitted):
    assert fitted._dense_layers["model"]                          # NumPy forward pass
    matrix = fitted.trunk_.validate_X(fitted, FRAME, reset=False)
    numpy_out = fitted._raw(matrix)
    keras_out = fitted.model_(matrix, training=False)
    for name in numpy_out:
        np.testing.assert_allclose(numpy_out[name], np.asarray(keras_out[name]),
                                   rtol=1e-4, atol=1e-5)
    text = fitted.summary(print_fn=None)
    assert "preprocessing: 2 numeric column(s)" in text
    assert "missing-indicators for mass" in text
    assert "embedded categorical column(s) (island, site; levels [3, 12])" in text


@pytest.mark.backend
def test_save_load_round_trip_identical_predictions(fitted, tmp_path):
    path = tmp_path / "tabular.mtest"
    fitted.save(path)
    loaded = load(path)
    pd.testing.assert_frame_equal(loaded.predict(FRAME), fitted.predict(FRAME))
    assert loaded.trunk_.embedded_levels_[0].tolist() == ["Biscoe", "Dream", "Torgersen"]
    new = FRAME.iloc[:2].assign(island=["Atlantis", None])      # unseen after load
    assert loaded.predict(new).shape == (2, 2)
    # the fitted preprocessing is checked like the heads' fitted state
    with zipfile.ZipFile(path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    meta = json.loads(files["mtestimator.json"])
    meta["trunk_fitted"]["numeric_center_"] = "median"
    files["mtestimator.json"] = json.dumps(meta)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match=r"trunk_fitted\.numeric_center_ is the string "
                                         r"'median'; expected a 1-D array"):
        load(path)


@pytest.mark.backend
def test_partial_fit_continues_and_predicts():
    est = tabular(**RICH)
    est.partial_fit(FRAME, Y)
    first = est.predict(FRAME)
    est.partial_fit(FRAME.iloc[:20], Y.iloc[:20])                # preprocessing kept
    assert est.n_iter_ == 2
    assert est.trunk_.numeric_center_.tolist() == fit_columns(FRAME)["numeric_center"].tolist()
    assert not est.predict(FRAME).equals(first)


def test_preprocessing_is_learned_on_the_training_rows_only_with_early_stopping():
    est = MultiTaskEstimator([("size", RegressionHead(columns="size"))],
                             trunk=TabularTrunk((4,)), epochs=1, early_stopping=True,
                             validation_fraction=0.5, random_state=0).fit(FRAME, Y[["size"]])
    train, _ = train_test_split(np.arange(N), test_size=0.5, random_state=est._fit_seed)
    state = fit_columns(FRAME.iloc[train])  # as HistGradientBoosting bins its training split
    assert est.trunk_.numeric_center_.tolist() == state["numeric_center"].tolist() \
        != fit_columns(FRAME)["numeric_center"].tolist()
    assert [list(v) for v in est.trunk_.embedded_levels_] == \
        [list(v) for v in state["embedded_levels"]]
    assert np.isfinite(est.predict(FRAME).to_numpy(float)).all()
    # zero-weight rows left out first: the split's positions are among the others
    weight = np.r_[np.zeros(8), np.ones(N - 8)]
    est.fit(FRAME, Y[["size"]], sample_weight=weight)
    train, _ = train_test_split(np.arange(8, N), test_size=0.5, random_state=est._fit_seed)
    assert est.trunk_.numeric_center_.tolist() == \
        fit_columns(FRAME.iloc[train])["numeric_center"].tolist()


@pytest.mark.backend
def test_grid_search_over_trunk_parameters():
    # dropout rates share one compiled trainer: the search compiles once
    search = GridSearchCV(tabular(n_ensemble=2), {"trunk__dropout": [0.1, 0.2]}, cv=KFold(2),
                          refit=False)
    search.fit(FRAME[["year", "tagged"]], Y)                      # the same layout per fold
    assert sorted(search.cv_results_["param_trunk__dropout"]) == [0.1, 0.2]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.backend
def test_learning_rate_schedule_changes_training_and_is_seeded():
    def fit(**kw):
        return MultiTaskEstimator(heads(), trunk=MLPTrunk((4,)), epochs=3, random_state=0,
                                  learning_rate=0.01, **kw).fit(FRAME[["mass"]].fillna(0)
                                                                / 1000, Y).history_["loss"]
    plain = fit()
    cosine = fit(learning_rate_schedule="cosine")
    assert cosine != plain and cosine == fit(learning_rate_schedule="cosine")


def test_schedule_factors():
    from mtestimator.engine.trainer import schedule_factor

    steps = np.arange(100.0)
    cosine = schedule_factor("cosine", steps, 100.0, np)
    assert cosine[0] == 1 and cosine[50] == pytest.approx(0.5) and (np.diff(cosine) < 0).all()
    warm = schedule_factor("linear_warmup_cosine", steps, 100.0, np)
    np.testing.assert_allclose(warm[:5], [0.2, 0.4, 0.6, 0.8, 1.0])  # 5% of the steps
    assert warm[5] == 1 and (np.diff(warm[5:]) < 0).all()


def test_weight_decay_reaches_the_optimizer():
    from mtestimator.engine.optimizers import make_optimizer

    assert make_optimizer("adam", 0.01, 0.1).weight_decay == 0.1
    assert make_optimizer("adam", 0.01).weight_decay is None
    with pytest.raises(ValueError, match="'weight_decay' parameter"):
        MultiTaskEstimator(heads(), weight_decay=-1.0).fit(FRAME[["year"]], Y)
