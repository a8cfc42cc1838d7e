"""paired_comparison and the corrected resampled t-test."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import make_regression
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import KFold, RepeatedKFold

from mtestimator import MultiTaskEstimator, SeparateNetworks
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.metrics import make_head_scorer
from mtestimator.model_selection import corrected_ttest, paired_comparison
from mtestimator.trunks import MLPTrunk

X, y = make_regression(n_samples=60, n_features=3, noise=5.0, random_state=0)
SK = {"mean": DummyRegressor(), "ridge": Ridge(), "ridge again": Ridge()}


def test_corrected_ttest_matches_nadeau_bengio():
    d = np.array([0.03, -0.01, 0.02, 0.04, 0.00, 0.01])
    t = d.mean() / np.sqrt((1 / 6 + 20 / 80) * d.var(ddof=1))
    assert corrected_ttest(d, 80, 20) == pytest.approx(2 * stats.t.sf(t, 5))
    # the correction makes it more cautious than the plain paired t-test
    assert corrected_ttest(d, 80, 20) > stats.ttest_1samp(d, 0).pvalue
    assert corrected_ttest([0.0, 0.0], 8, 2) == 1.0 and corrected_ttest([0.1, 0.1], 8, 2) == 0.0
    assert np.isnan(corrected_ttest([0.1], 8, 2))


def test_identical_folds_paired_statistics_and_the_baseline():
    cv = RepeatedKFold(n_splits=3, n_repeats=2, random_state=0)
    table = paired_comparison(SK, X, y, cv=cv, scoring=["r2", "neg_mean_absolute_error"])
    assert list(table.index.get_level_values("estimator").unique()) == list(SK)
    r2 = table.xs("r2", level="metric")
    assert r2.loc[(slice(None), "mean"), "difference"].isna().all()  # the baseline's rows
    ridge = r2.xs("ridge", level="estimator").iloc[0]
    assert ridge.wins == 6 and ridge.losses == 0 and ridge.folds == 6 and ridge.p_value < 0.05
    # the same estimator twice: the same folds give the same scores
    again = r2.xs("ridge again", level="estimator").iloc[0]
    assert again["mean"] == ridge["mean"] and again.p_value == ridge.p_value
    folds = table.attrs["folds"]
    assert len(folds) == 3 * 6 * 2 and set(folds.fold) == set(range(6))


def test_head_scorers_name_their_head_and_default_scoring_covers_every_head():
    rng = np.random.default_rng(0)
    Xh = rng.normal(size=(48, 4))
    Y = pd.DataFrame({"v": Xh[:, 0], "c": np.where(Xh[:, 1] > 0, "a", "b"),
                      "t1": Xh[:, 2] > 0, "t2": Xh[:, 3] > 0}).astype({"t1": int, "t2": int})
    heads = [("v", RegressionHead("v")), ("c", ClassificationHead("c")),
             ("t", MultiLabelHead(["t1", "t2"]))]
    kw = {"trunk": MLPTrunk((4,)), "epochs": 2, "random_state": 0}
    estimators = {"joint": MultiTaskEstimator(heads, **kw), "separate": SeparateNetworks(heads,
                                                                                        **kw)}
    table = paired_comparison(estimators, Xh, Y, cv=KFold(2))
    assert list(table.index.droplevel("estimator").unique()) == [
        ("v", "r2"), ("c", "accuracy"), ("t", "neg_hamming_loss")]
    assert (table.xs("t", level="head")["mean"] <= 0).all()  # negated: greater is better
    mae = make_head_scorer(mean_absolute_error, head="v", greater_is_better=False)
    table = paired_comparison(estimators, Xh, Y, cv=KFold(2), scoring={"mae": mae})
    assert list(table.index) == [("v", "mae", "joint"), ("v", "mae", "separate")]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"estimators": {"ridge": Ridge()}}, ValueError, "at least two named estimators"),
    ({"estimators": [Ridge(), Ridge()]}, ValueError, "must be a dict"),
    ({"scoring": None}, ValueError, "needs 'scoring' when none of the estimators"),
    ({"scoring": {}}, ValueError, "'scoring' is an empty dict"),
    ({"scoring": 3}, TypeError, "'scoring' must be None, a scorer name"),
    ({"n_jobs": "2"}, TypeError, "'n_jobs' must be an int"),
])
def test_bad_arguments_say_what_to_pass(kwargs, error, match):
    with pytest.raises(error, match=match):
        paired_comparison(**{"estimators": SK, "X": X, "y": y, "cv": 2, "scoring": "r2",
                             **kwargs})
