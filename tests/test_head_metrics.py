"""A binary head's decision threshold (threshold_), and each head's metric in
history_ and the progress output, as a new user meets them."""

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from mtestimator import MultiTaskEstimator, SeparateNetworks
from mtestimator._targets import validation_split
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.heads._base import _THRESHOLD_GRID
from mtestimator.trunks import MLPTrunk

rng = np.random.RandomState(0)
N = 160
X = rng.normal(size=(N, 4))
Y = pd.DataFrame({
    "had": np.where(X[:, 0] + rng.normal(size=N) > 1.0, "yes", "no"),  # a rare class
    "amount": 3 * X[:, 1] + 5,
    "kind": np.array(["x", "y", "z"])[rng.randint(0, 3, N)],
    "a": (X[:, 2] > 0).astype(float), "b": (X[:, 3] > 0).astype(float),
})
FAST = {"trunk": MLPTrunk((8,)), "epochs": 2, "learning_rate": 0.01, "random_state": 0}


def two_heads(threshold=None, cls=MultiTaskEstimator, **kw):
    return cls([("had", ClassificationHead("had", threshold=threshold)),
                ("amount", RegressionHead("amount"))], **{**FAST, **kw})


def test_binary_threshold_default_fixed_and_auto():
    """The same seeded fit with each threshold: the same network, other decisions."""
    fits = {t: two_heads(t).fit(X, Y) for t in (None, 0.3, "auto")}
    proba = fits[None].predict_proba(X)[0]
    default = fits[None].named_heads_["had"]
    np.testing.assert_array_equal(default.threshold_, [0.5])  # the most probable class
    np.testing.assert_array_equal(fits[None].predict(X)["had"],
                                  default.classes_[proba.argmax(axis=1)])
    for threshold, est in fits.items():
        np.testing.assert_array_equal(est.predict_proba(X)[0], proba)  # unchanged
    # a fixed threshold decides predict and predict_head
    expected = np.where(proba[:, 1] > 0.3, "yes", "no")
    np.testing.assert_array_equal(fits[0.3].predict_head(X, "had"), expected)
    np.testing.assert_array_equal(fits[0.3].predict(X)["had"], expected)
    # "auto": the grid's F1-maximising threshold, here on the training data
    (tuned,) = fits["auto"].named_heads_["had"].threshold_
    assert tuned in _THRESHOLD_GRID
    f1 = [f1_score(Y["had"] == "yes", proba[:, 1] > t) for t in _THRESHOLD_GRID]
    assert f1_score(Y["had"] == "yes", proba[:, 1] > tuned) == max(f1) > f1[9]  # f1[9]: 0.5
    np.testing.assert_array_equal(fits["auto"].predict(X)["had"],
                                  np.where(proba[:, 1] > tuned, "yes", "no"))


def test_fit_predicts_for_tuning_only_the_heads_that_tune():
    class Counting(RegressionHead):
        def tune(self, y_natural, raw):
            self.tuned_rows_ = len(raw)  # a head overriding tune gets the outputs
            return self

    assert not RegressionHead().tunes() and not ClassificationHead().tunes()
    assert ClassificationHead(threshold="auto").tunes()
    assert MultiLabelHead(calibration="temperature").tunes()
    est = MultiTaskEstimator([("had", ClassificationHead("had")),
                              ("amount", Counting("amount"))], **{**FAST, "epochs": 1}).fit(X, Y)
    assert est.heads_[1][1].tuned_rows_ == N


def test_threshold_on_a_multiclass_head_is_a_clear_error():
    est = MultiTaskEstimator([("kind", ClassificationHead("kind", threshold="auto"))], **FAST)
    with pytest.raises(ValueError, match=r"ClassificationHead 'kind' \(column 'kind' of y\): "
                       r"threshold='auto' applies to a binary head, but this head has 3 "
                       r"classes \['x', 'y', 'z'\]\. Leave threshold=None"):
        est.fit(X, Y)
    assert not hasattr(est, "model_")


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5, "best"])
def test_bad_threshold_names_the_parameter(threshold):
    with pytest.raises(ValueError, match=r"The 'threshold' parameter of ClassificationHead "
                       r"must be a float in the range \(0\.0, 1\.0\)"):
        two_heads(threshold).fit(X, Y)


def test_separate_networks_tune_on_the_inner_split_and_keep_metrics():
    est = two_heads("auto", SeparateNetworks, early_stopping=True, validation_fraction=0.3)
    est.fit(X, Y)
    (threshold,) = dict(est.heads_)["had"].threshold_
    assert threshold in _THRESHOLD_GRID
    p = est.predict_proba(X)[0][:, 1]
    np.testing.assert_array_equal(est.predict(X)["had"], np.where(p > threshold, "yes", "no"))
    assert sorted(est.history_) == ["amount_loss", "amount_r2", "had_accuracy", "had_loss",
                                    "val_amount_loss", "val_amount_r2", "val_had_accuracy",
                                    "val_had_loss"]


# -- metrics in history_ and the progress output -------------------------------------


class BatchHook(keras.callbacks.Callback):
    """Sends training through Keras's own fit."""

    def on_train_batch_end(self, batch, logs=None):
        pass


@pytest.mark.backend
@pytest.mark.parametrize("callbacks, fraction", [(None, 0.25), ([BatchHook()], None)],
                         ids=["compiled", "keras-fit"])
def test_history_and_progress_show_each_heads_metric_weighted_and_masked(callbacks, fraction,
                                                                        capsys):
    """With a learning rate too small to move the weights, an epoch's metrics are
    the heads' scores of the fitted network on the training (and validation)
    rows: sample weights count, missing labels do not, on both training paths."""
    y = Y.copy()
    y.loc[::5, "amount"] = np.nan
    y.loc[1::6, "had"] = None
    y.loc[::7, "a"] = np.nan
    w = np.random.RandomState(1).uniform(0.5, 2.0, N)
    est = MultiTaskEstimator([("had", ClassificationHead("had")),
                              ("kind", ClassificationHead("kind")),
                              ("amount", RegressionHead("amount")),
                              ("tags", MultiLabelHead(["a", "b"]))],
                             **{**FAST, "epochs": 1, "learning_rate": 1e-12},
                             early_stopping=fraction is not None,
                             validation_fraction=fraction or 0.1, verbose=2,
                             callbacks=callbacks).fit(X, y, sample_weight=w)
    out = capsys.readouterr().out
    truth = est._natural_targets(y, est.heads_)
    rows = [(np.arange(N),)] if fraction is None else \
        validation_split(np.arange(N), {}, {}, truth, est.heads_, fraction, est._fit_seed)
    for (idx, *_), prefix in zip(rows, ["", "val_"]):
        for name, head in est.heads_:
            pred, t = np.asarray(est.predict_head(X[idx], name)), truth[name][idx]
            if name == "tags":  # each present label: 1 - the weighted Hamming loss
                t = np.asarray(t, float)
                present = ~np.isnan(t)
                expected = ((w[idx, None] * (present & (t == pred))).sum()
                            / (w[idx, None] * present).sum())
            else:
                expected = head.score_targets(t, pred, sample_weight=w[idx])
            key = f"{prefix}{name}_{head.history_metric}"
            assert est.history_[key][0] == pytest.approx(expected, rel=1e-5, abs=1e-6), key
            assert f"{key}: " in out, key
