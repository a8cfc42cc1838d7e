"""ConformalMultiTask (intervals and sets per head) and the heads' temperature calibration."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mtestimator
from mtestimator import MultiTaskEstimator
from mtestimator._compat import InvalidParameterError
from mtestimator.conformal import ConformalMultiTask
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import MLPTrunk

RNG = np.random.default_rng(0)
N, N_FIT = 1600, 800
X = RNG.normal(size=(N, 5))
_GROUP = (X[:, 1] + 0.5 * RNG.normal(size=N) > 0).astype(int) + (X[:, 2] > 0.5)
Y = np.column_stack([
    X[:, 0] + RNG.normal(size=N) * (0.3 + np.abs(X[:, 1])),  # value, heteroscedastic
    _GROUP,                                                   # group: 3 classes
    X[:, 3] + 0.3 * RNG.normal(size=N) > 0,                   # two labels
    X[:, 4] + 0.3 * RNG.normal(size=N) > 0,
    2 * X[:, 0] + 0.5 * RNG.normal(size=N),                   # only where group is 1 or 2
]).astype(float)
HEADS = [("value", RegressionHead(0)), ("group", ClassificationHead(1)),
         ("tags", MultiLabelHead([2, 3])), ("when", RegressionHead(4, when=(1, [1, 2])))]


def network(heads=HEADS, **kw):
    return MultiTaskEstimator(heads=heads, trunk=MLPTrunk((8,)), **{
        "epochs": 3, "random_state": 0, **kw})


def coverage(conformal, X_test, Y_test):
    """Empirical coverage of every head (a conditional head: on its rows)."""
    intervals, sets = conformal.predict_interval(X_test), conformal.predict_set(X_test)
    rows = np.arange(len(X_test))
    inside = {n: (b[:, 0] <= Y_test[:, j]) & (Y_test[:, j] <= b[:, 1])
              for (n, b), j in zip(intervals.items(), (0, 4))}
    on = np.isin(Y_test[:, 1], [1, 2])
    return {"value": inside["value"].mean(), "when": inside["when"][on].mean(),
            "group": sets["group"][rows, Y_test[:, 1].astype(int)].mean(),
            **{f"tag{j}": sets["tags"][rows, j, Y_test[:, 2 + j].astype(int)].mean()
               for j in range(2)}}


@pytest.fixture(scope="module")
def split():
    return ConformalMultiTask(network(), calibration_fraction=0.5,
                              random_state=0).fit(X[:N_FIT], Y[:N_FIT])


@pytest.mark.parametrize("method", [pytest.param("split", marks=pytest.mark.backend), "cv+"])
def test_coverage_near_nominal_on_generated_data(method, request):
    conformal = request.getfixturevalue("split") if method == "split" else ConformalMultiTask(
        network(), method="cv+", cv=2, scale="mad", random_state=0).fit(X[:N_FIT], Y[:N_FIT])
    # split: 400 calibration rows (260 for "when"), so +-0.06 is over 3 standard
    # deviations; CV+ guarantees 1 - 2 alpha and often covers more than 1 - alpha
    for head, value in coverage(conformal, X[N_FIT:], Y[N_FIT:]).items():
        assert -0.06 < value - 0.9 < (0.06 if method == "split" else 0.09), (head, value)
    assert conformal.n_calibration_["value"] == N_FIT // (2 if method == "split" else 1)
    assert conformal.n_calibration_["when"] < conformal.n_calibration_["value"]
    if method == "cv+":  # folds and spread models (HistGradientBoosting) in one safe file
        path = request.getfixturevalue("tmp_path") / "cv_plus.mtest"
        conformal.save(path)
        np.testing.assert_allclose(mtestimator.load(path).predict_interval(X[:9])["value"],
                                   conformal.predict_interval(X[:9])["value"])


def test_coverage_on_abalone():
    from mtestimator.datasets import load_abalone

    data = load_abalone()
    order = np.random.default_rng(0).permutation(len(data.target))
    fit, test = order[:3000], order[3000:]
    conformal = ConformalMultiTask(
        make_pipeline(StandardScaler(), network([("rings", RegressionHead())], epochs=5)),
        confidence_level=0.8, random_state=0).fit(data.data[fit], data.target[fit])
    bounds = conformal.predict_interval(data.data[test])["rings"]
    y = data.target[test]
    assert bounds.shape == (len(test), 2)
    assert abs(np.mean((bounds[:, 0] <= y) & (y <= bounds[:, 1])) - 0.8) < 0.04


def test_split_interval_equals_mapie():
    mapie = pytest.importorskip("mapie.regression")
    conformal = ConformalMultiTask(network([("y", RegressionHead())], epochs=2),
                                   random_state=0).fit(X[:300], Y[:300, 0])
    rows = conformal._fitted[0].rows
    reference = mapie.SplitConformalRegressor(conformal.estimator_, confidence_level=0.9,
                                              prefit=True)
    reference.conformalize(X[:300][rows], Y[:300, 0][rows])
    _, expected = reference.predict_interval(X[300:400])
    np.testing.assert_allclose(conformal.predict_interval(X[300:400])["y"],
                               expected[:, :, 0], rtol=1e-12, atol=1e-12)


def test_cv_plus_interval_equals_mapie():
    mapie = pytest.importorskip("mapie.regression")
    cv = KFold(2, shuffle=True, random_state=0)
    conformal = ConformalMultiTask(network([("y", RegressionHead())], epochs=2), method="cv+",
                                   cv=cv, random_state=0).fit(X[:200], Y[:200, 0])
    reference = mapie.CrossConformalRegressor(network([("y", RegressionHead())], epochs=2),
                                              confidence_level=0.9, method="plus", cv=cv)
    _, expected = reference.fit_conformalize(X[:200], Y[:200, 0]).predict_interval(X[200:260])
    np.testing.assert_allclose(conformal.predict_interval(X[200:260])["y"],
                               expected[:, :, 0], rtol=1e-12, atol=1e-12)


def test_sets_follow_classes_and_probabilities():
    labels = np.array(["b", "c", "a"])[_GROUP[:400]]
    conformal = ConformalMultiTask(network([("g", ClassificationHead())], epochs=3),
                                   set_method="lac", confidence_level=0.7,
                                   random_state=0).fit(X[:300], labels[:300])
    sets = conformal.predict_set(X[300:400])["g"]
    proba = conformal.estimator_.predict_proba(X[300:400])
    assert sets.shape == (100, 3) and sets.dtype == bool
    assert list(conformal.estimator_.classes_) == ["a", "b", "c"]
    # LAC keeps the most probable classes: every kept class is at least as
    # probable as every left-out one, column by column of classes_
    kept_min = np.where(sets, proba, np.inf).min(axis=1)
    left_max = np.where(sets, -np.inf, proba).max(axis=1)
    assert np.all(kept_min >= left_max)
    predicted = conformal.predict(X[300:400])
    nonempty = sets.any(axis=1)
    assert np.all(sets[nonempty, np.searchsorted(["a", "b", "c"], predicted[nonempty])])


def test_shapes_levels_and_round_trips(split, tmp_path):
    assert split.head_kinds_ == {"value": "regressor", "group": "classifier",
                                 "tags": "multilabel", "when": "regressor"}
    intervals, sets = split.predict_interval(X[:7]), split.predict_set(X[:7])
    assert {n: b.shape for n, b in intervals.items()} == {"value": (7, 2), "when": (7, 2)}
    assert {n: s.shape for n, s in sets.items()} == {"group": (7, 3), "tags": (7, 2, 2)}
    np.testing.assert_array_equal(split.predict(X[:7]), split.estimator_.predict(X[:7]))
    again = pickle.loads(pickle.dumps(split))
    np.testing.assert_array_equal(again.predict_interval(X[:7])["value"], intervals["value"])
    np.testing.assert_array_equal(again.predict_set(X[:7])["tags"], sets["tags"])
    assert clone(split).get_params()["estimator__epochs"] == 3
    split.save(tmp_path / "conformal.mtest")  # one file, no pickle: mtestimator.save
    loaded = mtestimator.load(tmp_path / "conformal.mtest")
    np.testing.assert_array_equal(loaded.predict_set(X[:7])["group"], sets["group"])
    np.testing.assert_allclose(loaded.predict_interval(X[:7])["when"], intervals["when"])
    # a level per head: a lower level never widens an interval
    levels = {"value": 0.5, "group": 0.9, "tags": 0.9, "when": 0.9}
    narrow = clone(split).set_params(confidence_level=levels)
    narrow.fit(X[:N_FIT], Y[:N_FIT])
    width = {n: np.diff(b, axis=1) for n, b in narrow.predict_interval(X[:7]).items()}
    assert np.all(width["value"] <= np.diff(intervals["value"], axis=1))
    np.testing.assert_array_equal(width["when"], np.diff(intervals["when"], axis=1))


def test_multi_output_regression_head_and_infinite_bounds():
    heads = [("both", RegressionHead([0, 1]))]
    conformal = ConformalMultiTask(network(heads, epochs=2), method="cv+", cv=2,
                                   confidence_level={"both": 0.999},
                                   random_state=0).fit(X[:60], Y[:60][:, [0, 4]])
    bounds = conformal.predict_interval(X[:5])["both"]
    assert bounds.shape == (5, 2, 2)
    assert np.all(np.isneginf(bounds[..., 0])) and np.all(np.isposinf(bounds[..., 1]))
    with pytest.raises(ValueError, match="predict_set needs a head of kind classifier"):
        conformal.predict_set(X[:5])


@pytest.mark.parametrize("params, error, match", [
    ({"method": "jackknife"}, InvalidParameterError, "'method' parameter"),
    ({"confidence_level": 1.0}, InvalidParameterError, "'confidence_level' parameter"),
    ({"confidence_level": {"value": 0.9}}, ValueError, "must name every head once"),
    ({"confidence_level": {"value": 0.9, "group": 0.9, "tags": 2, "when": 0.9}},
     ValueError, "head 'tags' must be a float in"),
])
def test_bad_parameters(params, error, match):
    with pytest.raises(error, match=match):
        ConformalMultiTask(network(epochs=1), **params).fit(X[:40], Y[:40])


def test_only_our_estimators():
    with pytest.raises(TypeError, match="got LinearRegression.*use MAPIE"):
        ConformalMultiTask(LinearRegression()).fit(X[:40], Y[:40, 0])


def test_scale_mad_needs_tabular_features():
    from mtestimator.conformal import _spread_features

    with pytest.raises(ValueError, match=r"scale='mad' estimates the spread.*scale=None"):
        _spread_features(np.zeros((4, 3, 2)))


# -- temperature calibration of the heads ---------------------------------------------

@pytest.mark.parametrize("softmax", [True, False])
def test_temperature_lowers_held_out_log_loss(softmax):
    from mtestimator.heads._calibration import fit_temperature, scale_sigmoid, scale_softmax

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 3 if softmax else 1)) * 2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True) if softmax else \
        1 / (1 + np.exp(-logits[:, 0]))
    y = ((proba.cumsum(axis=1) < rng.uniform(size=(4000, 1))).sum(axis=1) if softmax
         else (rng.uniform(size=4000) < proba).astype(int))
    # the network is overconfident: its logits are 3 times too large
    sharp = scale_softmax(proba, 1 / 3) if softmax else scale_sigmoid(proba, 1 / 3)
    temperature = fit_temperature(sharp[:2000], y[:2000], softmax=softmax)
    assert 2.7 < temperature < 3.3
    fixed = scale_softmax(sharp, temperature) if softmax else scale_sigmoid(sharp, temperature)
    assert log_loss(y[2000:], fixed[2000:]) < log_loss(y[2000:], sharp[2000:])
    if softmax:
        np.testing.assert_array_equal(fixed.argmax(axis=1), sharp.argmax(axis=1))
    else:
        np.testing.assert_array_equal(fixed > 0.5, sharp > 0.5)


def test_temperature_heads_keep_predictions_and_save(tmp_path):
    from mtestimator import load

    kw = {"trunk": MLPTrunk((16,)), "epochs": 5, "early_stopping": True,
          "validation_fraction": 0.3, "random_state": 0}
    heads = lambda cal: [("group", ClassificationHead(0, calibration=cal)),  # noqa: E731
                         ("sign", ClassificationHead(1, calibration=cal)),
                         ("tags", MultiLabelHead([2, 3], calibration=cal))]
    plain = MultiTaskEstimator(heads=heads(None), **kw).fit(X[:300], Y[:300, 1:5] > 0)
    tempered = MultiTaskEstimator(heads=heads("temperature"), **kw).fit(X[:300],
                                                                       Y[:300, 1:5] > 0)
    test = X[N_FIT:]
    np.testing.assert_array_equal(plain.predict(test), tempered.predict(test))
    fitted = dict(tempered.heads_)
    assert [fitted[n].temperature_.shape for n in ("group", "sign", "tags")] == \
        [(1,), (1,), (2,)]
    assert dict(plain.heads_)["group"].temperature_ is None
    before, after = plain.predict_proba(test), tempered.predict_proba(test)
    for b, a in zip(before[:2], after[:2]):
        np.testing.assert_array_equal(b.argmax(axis=1), a.argmax(axis=1))
        np.testing.assert_allclose(a.sum(axis=1), 1)
    assert not np.allclose(before[2], after[2])
    tempered.save(tmp_path / "tempered.keras")
    loaded = load(tmp_path / "tempered.keras")
    for a, b in zip(loaded.predict_proba(test), after):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_bad_calibration():
    with pytest.raises(InvalidParameterError, match="'calibration' parameter"):
        network([("g", ClassificationHead(calibration="platt"))], epochs=1).fit(
            X[:40], Y[:40, 1])



def test_calibration_without_early_stopping_holds_rows_out_of_training():
    # the temperature is fitted on validation_fraction of the rows, held out of
    # training: the network trains on the others (no early stopping, no val loss)
    from mtestimator._targets import validation_split

    heads = [("g", MultiLabelHead([0, 1], calibration="temperature"))]
    labels = Y[:40, 2:4] > 0
    est = network(heads, epochs=1, validation_fraction=0.5).fit(X[:40], labels)
    assert dict(est.heads_)["g"].temperature_.shape == (2,)
    assert not any(k.startswith("val_") for k in est.history_)  # no early stopping
    parts = X[:40], {"g": labels}, {"g": np.ones(40)}, {"g": labels}
    (Xt, _, _, natural), _, _ = validation_split(*parts, est.heads_, 0.5, est._fit_seed)
    on_part = network([("g", MultiLabelHead([0, 1]))], epochs=1).fit(Xt, natural["g"])
    np.testing.assert_array_equal(est.model_.get_weights()[0], on_part.model_.get_weights()[0])
    why = "Head 'g' with calibration='temperature'"
    with pytest.raises(ValueError, match=f"{why} needs a validation set.*or calibration=None"):
        validation_split(*(p[:1] if isinstance(p, np.ndarray) else {"g": p["g"][:1]}
                           for p in parts), est.heads_, 0.5, 0, why)


def test_temperature_prior_keeps_separated_rows_near_one():
    from mtestimator.heads._calibration import fit_temperature

    proba = np.array([0.9, 0.2, 0.95, 0.1] * 10)  # all on the right side of 0.5
    y = (proba > 0.5).astype(int)
    assert 0.4 < fit_temperature(proba, y, softmax=False) < 1.0
