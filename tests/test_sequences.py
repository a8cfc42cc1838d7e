"""Sequence trunks (lstm, gru, conv1d) on 3-D input, the 3-D scaler and the
series generator."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import accuracy_score, mean_absolute_error
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_validate
from sklearn.pipeline import make_pipeline

from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier
from mtestimator.datasets import make_multitask_series
from mtestimator.metrics import make_head_scorer
from mtestimator.preprocessing import SequenceStandardScaler

X, Y = make_multitask_series(n_series=300, n_timesteps=12, n_channels=2, random_state=0)
FAST = {"epochs": 5, "random_state": 0}


@pytest.mark.parametrize("trunk", ["lstm", "gru", "conv1d"])
def test_shapes_and_one_sigmoid_unit_for_binary_label(trunk):
    est = JointRegressorClassifier((6,), trunk=trunk, **FAST).fit(X, Y)
    assert est.input_shape_ == (12, 2)
    assert est.predict(X).shape == (300, 2) and est.predict_proba(X).shape == (300, 2)
    assert est.model_.get_layer("classification").units == 1
    assert any(layer.name.startswith(f"trunk_{trunk}") for layer in est.model_.layers)
    assert est._dense_layers == {"model": False}  # Keras predicts; nothing re-inspected


def test_two_d_x_is_one_channel():
    est = JointRegressorClassifier((6,), trunk="gru", **FAST).fit(X[:, :, 0], Y)
    assert est.input_shape_ == (12, 1)
    assert est.predict(X[:5, :, 0]).shape == (5, 2)


@pytest.mark.slow
@pytest.mark.backend
def test_learnable_signal_lstm_well_above_chance():
    X_, y = make_multitask_series(n_series=600, n_timesteps=20, random_state=1)
    train, test = slice(0, 450), slice(450, 600)
    est = JointRegressorClassifier((32,), trunk="lstm", epochs=60, learning_rate=0.005,
                                   random_state=0).fit(X_[train], y[train])
    pred = est.predict(X_[test])
    mean_baseline = mean_absolute_error(y[test, 0], np.full(150, y[train, 0].mean()))
    assert accuracy_score(y[test, 1], pred[:, 1]) > 0.85  # chance: about 0.5
    assert mean_absolute_error(y[test, 0], pred[:, 0]) < 0.3 * mean_baseline


def test_errors_name_the_shape_problem():
    with pytest.raises(ValueError, match="trunk='mlp' expects 2-D X.*trunk='lstm'"):
        JointRegressorClassifier(**FAST).fit(X, Y)
    est = JointRegressorClassifier((4,), trunk="lstm", **FAST).fit(X, Y)
    with pytest.raises(ValueError, match=r"samples of shape \(12, 1\).*fitted on samples "
                                         r"of shape \(12, 2\)"):
        est.predict(X[:, :, :1])
    with pytest.raises(ValueError, match="X has 10 timesteps.*12 timesteps.*Pad or cut"):
        est.predict(X[:, :10])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D"):
        JointRegressorClassifier(trunk="conv1d", **FAST).fit(X[:, 0, 0], Y)
    with pytest.raises(ValueError, match="'trunk' parameter"):
        JointRegressorClassifier(trunk="transformer", **FAST).fit(X, Y)


@pytest.mark.backend
def test_reproducible_with_random_state():
    a = JointRegressorClassifier((4,), trunk="lstm", dropout=0.1, **FAST).fit(X, Y)
    b = JointRegressorClassifier((4,), trunk="lstm", dropout=0.1, **FAST).fit(X, Y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_pipeline_scaler_grid_search_time_series_split_clone_pickle():
    pipe = make_pipeline(SequenceStandardScaler(),
                         JointRegressorClassifier((4,), trunk="gru", **FAST))
    grid = GridSearchCV(pipe, {"jointregressorclassifier__hidden_layer_sizes": [(4,), (8,)],
                               "jointregressorclassifier__trunk": ["gru", "conv1d"]},
                        cv=TimeSeriesSplit(n_splits=2),
                        scoring=make_head_scorer(accuracy_score, head="classification"))
    grid.fit(X, Y)
    assert len(grid.cv_results_["params"]) == 4
    res = cross_validate(clone(pipe), X, Y, cv=TimeSeriesSplit(n_splits=3))
    assert np.all(np.isfinite(res["test_score"]))
    fitted = clone(pipe).fit(X, Y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))


def test_multilabel_with_sequence_trunk():
    labels = np.column_stack([Y[:, 1], (Y[:, 0] > np.median(Y[:, 0])).astype(int)])
    clf = MultiLabelMLPClassifier((6,), trunk="conv1d", **FAST).fit(X, labels)
    assert clf.predict_proba(X).shape == (300, 2)


def test_scaler_uses_fit_data_only_and_round_trips():
    scaler = SequenceStandardScaler().fit(X[:100])
    Xt = scaler.transform(X[:100])
    np.testing.assert_allclose(Xt.reshape(-1, 2).mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(Xt.reshape(-1, 2).std(axis=0), 1, atol=1e-9)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X)
    assert not np.allclose(scaler.transform(X[100:]).reshape(-1, 2).mean(axis=0), 0,
                           atol=1e-3)
    with pytest.raises(ValueError, match="3 channels"):
        scaler.transform(np.zeros((2, 12, 3)))


def test_generator_is_seeded_and_shaped():
    a = make_multitask_series(20, 7, 3, random_state=4)
    b = make_multitask_series(20, 7, 3, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (20, 7, 3) and a[1].shape == (20, 2)
