"""JointRegressorClassifier: targets, heads, loss weights, CV tools, bad input."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    RepeatedKFold,
    cross_validate,
    train_test_split,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mtestimator import JointRegressorClassifier
from mtestimator.datasets import load_abalone
from mtestimator.metrics import make_head_scorer

rng = np.random.RandomState(0)
X = rng.normal(size=(160, 5))
VALUE = 2.0 * X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=160)
LABEL = np.where(X[:, 0] + X[:, 2] > 0, "high", "low")
Y = np.empty((160, 2), dtype=object)
Y[:, 0], Y[:, 1] = VALUE, LABEL
FAST = {"hidden_layer_sizes": (16,), "epochs": 20, "random_state": 0, "learning_rate": 0.01}


def fast(**kw):
    return JointRegressorClassifier(**{**FAST, **kw})


def _abalone_split():
    data = load_abalone()
    y = np.column_stack([data.target.astype(float), data.target])
    return train_test_split(data.data, y, test_size=0.33, random_state=1)


@pytest.mark.slow
@pytest.mark.backend
def test_reference_protocol_and_agreement():
    """REFERENCE.md section 1: defaults, 150 epochs, 3 seeds.

    The reference reports MAE 1.495 and accuracy 0.256 for the joint model.
    Separate single-task networks of the same trunk are the same estimator
    with one head's loss weight at zero.

    Agreement (rounded regression == class label) is what holds, measured:
    sharing the trunk does not make the heads agree more (joint 0.286,
    separate 0.301 over these 3 seeds); the claim in REFERENCE.md that the
    joint model's predictions agree does not survive measurement, so this
    test pins that the difference is small, either way.
    """
    X_train, X_test, y_train, y_test = _abalone_split()
    maes, accs, agree_joint, agree_separate = [], [], [], []
    for seed in range(3):
        joint = JointRegressorClassifier(random_state=seed).fit(X_train, y_train)
        pred = joint.predict(X_test)
        maes.append(mean_absolute_error(y_test[:, 0], pred[:, 0]))
        accs.append(accuracy_score(y_test[:, 1], pred[:, 1]))
        agree_joint.append(np.mean(np.round(pred[:, 0]) == pred[:, 1]))
        reg = JointRegressorClassifier(loss_weights=(1, 0), random_state=seed)
        clf = JointRegressorClassifier(loss_weights=(0, 1), random_state=seed)
        value = reg.fit(X_train, y_train).predict_regression(X_test)
        label = clf.fit(X_train, y_train).predict_classification(X_test)
        agree_separate.append(np.mean(np.round(value) == label))
    print(f"joint: MAE {np.mean(maes):.3f} accuracy {np.mean(accs):.3f}; agreement "
          f"joint {np.mean(agree_joint):.3f} vs separate {np.mean(agree_separate):.3f}")
    assert np.mean(maes) <= 1.55
    assert np.mean(accs) >= 0.25
    assert abs(np.mean(agree_joint) - np.mean(agree_separate)) < 0.05


def test_outputs_layout_and_types():
    est = fast().fit(X, Y)
    pred = est.predict(X)
    assert pred.shape == (160, 2) and pred.dtype == object
    np.testing.assert_allclose(pred[:, 0].astype(float), est.predict_regression(X))
    np.testing.assert_array_equal(pred[:, 1], est.predict_classification(X))
    proba = est.predict_proba(X)
    assert proba.shape == (160, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(est.classes_, ["high", "low"])
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], pred[:, 1])
    # binary: one sigmoid unit
    assert est.model_.get_layer("classification").units == 1
    assert set(est.history_) >= {"loss", "regression_loss", "classification_loss"}
    assert est.score(X, Y) > 0.6


def test_numeric_labels_multiclass_and_list_of_pairs():
    labels = np.digitize(VALUE, [-1, 1]) + 1  # 1, 2, 3
    y = [(v, int(c)) for v, c in zip(VALUE, labels)]
    est = fast().fit(X, y)
    np.testing.assert_array_equal(est.classes_, [1, 2, 3])
    assert est.model_.get_layer("classification").units == 3
    pred = est.predict(X)
    assert pred.dtype == np.float64 and set(np.unique(pred[:, 1])) <= {1.0, 2.0, 3.0}
    assert est.predict_proba(X).shape == (160, 3)


def test_dataframe_targets_and_features():
    Xf = pd.DataFrame(X, columns=list("abcde"))
    yf = pd.DataFrame({"rings": VALUE, "age_class": LABEL})
    est = fast().fit(Xf, yf)
    np.testing.assert_array_equal(est.target_names_, ["rings", "age_class"])
    np.testing.assert_array_equal(est.feature_names_in_, list("abcde"))
    assert est.score(Xf, yf) == pytest.approx(est.score(X, Y))


def test_scaled_target_predicts_in_original_units():
    y = Y.copy()
    y[:, 0] = VALUE * 1000 + 5000
    scaled = fast(epochs=60).fit(X, y)
    assert scaled.heads_[0][1].std_ > 100
    assert abs(np.mean(scaled.predict_regression(X)) - 5000) < 300
    unscaled = fast(scale_regression_target=False, epochs=5).fit(X, Y)
    assert unscaled.heads_[0][1].std_ == 1.0


def test_loss_weights():
    only_reg = fast(loss_weights=(1.0, 0.0)).fit(X, Y)
    only_clf = fast(loss_weights=(0.0, 1.0)).fit(X, Y)
    # a head with zero weight does not learn: chance-level accuracy or poor R2
    assert accuracy_score(LABEL, only_reg.predict_classification(X)) < \
        accuracy_score(LABEL, only_clf.predict_classification(X))
    np.testing.assert_array_equal(only_reg.loss_weights_, [1.0, 0.0])
    auto = fast(loss_weights="auto").fit(X, Y)
    weights = auto.loss_weights_
    assert weights.shape == (2,) and np.all(weights > 0) and not np.allclose(weights, 1.0)
    again = pickle.loads(pickle.dumps(auto))
    np.testing.assert_array_equal(again.predict_proba(X), auto.predict_proba(X))


@pytest.mark.parametrize("weights", [(1.0, -1.0), (0.0, 0.0), (1.0,), ("a", 1)])
def test_bad_loss_weights(weights):
    with pytest.raises(ValueError, match="'loss_weights' parameter"):
        fast(loss_weights=weights).fit(X, Y)


@pytest.mark.backend
def test_early_stopping_history_names():
    est = fast(epochs=300, early_stopping=True, n_iter_no_change=5).fit(X, Y)
    assert est.n_iter_ < 300
    assert {"val_loss", "val_regression_loss", "val_classification_loss"} <= set(est.history_)


def test_make_head_scorer_in_cross_validate_and_grid_search():
    scoring = {
        "mae": make_head_scorer(mean_absolute_error, head="regression",
                                greater_is_better=False),
        "accuracy": make_head_scorer(accuracy_score, head="classification"),
        "roc_auc": make_head_scorer(roc_auc_score, head="classification",
                                    response_method="predict_proba"),
    }
    res = cross_validate(fast(), X, Y, cv=RepeatedKFold(n_splits=2, n_repeats=1,
                                                        random_state=0), scoring=scoring)
    assert np.all(res["test_mae"] < 0) and np.all(res["test_accuracy"] > 0.5)
    assert np.all(res["test_roc_auc"] > 0.5)
    grid = GridSearchCV(fast(epochs=5), {"hidden_layer_sizes": [(4,), (8, 4)],
                                         "loss_weights": [(1, 1), (1, 0.5), "auto"],
                                         "learning_rate": [0.01]},
                        scoring=scoring, refit="accuracy", cv=2).fit(X, Y)
    assert len(grid.cv_results_["params"]) == 6
    assert grid.best_estimator_.predict(X).shape == (160, 2)
    default = GridSearchCV(fast(epochs=5), {"learning_rate": [0.01, 0.05]}, cv=2).fit(X, Y)
    assert np.isfinite(default.best_score_)
    # any head name is accepted at creation; scoring an estimator without
    # that head names its heads
    with pytest.raises(ValueError, match=r"has no head 'both'.*\['regression', 'classification'\]"):
        make_head_scorer(accuracy_score, head="both")(grid.best_estimator_, X, Y)
    with pytest.raises(ValueError, match="head must be"):
        make_head_scorer(accuracy_score, head=1)


def test_abalone_pipeline_with_sex_one_hot_encoded():
    data = load_abalone(as_frame=True)
    X_ab = data.data.iloc[:600]
    y_ab = pd.DataFrame({"rings": data.target.iloc[:600].astype(float),
                         "ring_class": data.target.iloc[:600]})
    pipe = make_pipeline(
        ColumnTransformer([("sex", OneHotEncoder(handle_unknown="ignore"), ["sex"])],
                          remainder="passthrough"),
        JointRegressorClassifier(epochs=5, random_state=0),
    )
    res = cross_validate(pipe, X_ab, y_ab, cv=KFold(3, shuffle=True, random_state=0))
    assert np.all(np.isfinite(res["test_score"]))
    fitted = clone(pipe).fit(X_ab, y_ab)
    assert fitted[-1].n_features_in_ == 10
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict(X_ab), fitted.predict(X_ab))


def test_unseen_labels_at_scoring_count_as_errors_like_sklearn():
    # as scikit-learn classifiers do: a label never seen in fit is simply a
    # wrong prediction, so a rare class missing from a training fold does not
    # break cross-validation
    from sklearn.neural_network import MLPClassifier

    labels = np.where(np.arange(160) < 150, LABEL, "rare")
    y = np.column_stack([VALUE, labels])
    est = fast(epochs=20).fit(X[:150], y[:150])
    acc = make_head_scorer(accuracy_score, head="classification")
    assert acc(est, X[140:], y[140:]) == pytest.approx(
        accuracy_score(labels[140:], est.predict_classification(X[140:])))
    assert acc(est, X[150:], y[150:]) == 0.0
    mlp = MLPClassifier((4,), max_iter=5).fit(X[:150], labels[:150])
    assert mlp.score(X[150:], labels[150:]) == 0.0
    res = cross_validate(fast(epochs=2), X, y, cv=KFold(2), scoring=acc, error_score="raise")
    assert np.all(np.isfinite(res["test_score"]))


@pytest.mark.parametrize(
    "y_bad, match",
    [
        (np.column_stack([LABEL, LABEL]), r"regression target \(column 0 of y\) must be numeric"),
        (np.column_stack([VALUE, np.zeros(160)]), "single class"),
        (VALUE, r"y must have 2 columns.*shape \(160,\)"),
        (np.column_stack([VALUE, VALUE, VALUE]), "got 3 columns"),
        (np.column_stack([np.where(np.arange(160) == 3, np.inf, VALUE), LABEL]),
         r"column 0 of y\) contains infinity"),
        # a missing value and a missing label are fine on their own (see
        # test_missing_labels.py), but a row needs at least one of them
        (np.column_stack([np.where(np.arange(160) == 3, np.nan, VALUE),
                          np.where(np.arange(160) == 3, None, LABEL)]),
         r"1 row\(s\) of y have no target for any head.*rows \[3\]"),
    ],
)
def test_bad_targets(y_bad, match):
    with pytest.raises(ValueError, match=match):
        fast(epochs=1).fit(X, y_bad)


def test_bad_x_and_unfitted():
    with pytest.raises(NotFittedError):
        fast().predict(X)
    with pytest.raises(ValueError, match="Found array with dim 3"):
        fast(epochs=1).fit(X.reshape(160, 5, 1), Y)
    est = fast(epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="X has 4 features"):
        est.predict(X[:, :4])


@pytest.mark.backend
def test_inputs_not_modified_and_reproducible():
    Yc = Y.copy()
    a = fast(epochs=5).fit(X, Y).predict_proba(X)
    b = fast(epochs=5).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert (Y == Yc).all()
