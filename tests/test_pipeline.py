"""Per-head access through a Pipeline (mtestimator/_pipeline.py): predict_heads,
predict_proba_heads, summary, plot_network and HistoryDisplay take a Pipeline."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import mtestimator
from mtestimator import MultiTaskEstimator, predict_heads, predict_proba_heads
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import MLPTrunk

rng = np.random.RandomState(0)
X = pd.DataFrame(rng.normal(size=(40, 3)) * [1, 10, 100], columns=["a", "b", "c"])
Y = pd.DataFrame({"mass": X["a"] * 2, "sex": np.where(X["b"] > 0, "f", "m"),
                  "x": (X["c"] > 0).astype(int), "z": (X["a"] > 0).astype(int)})


def _estimator():
    return MultiTaskEstimator([("mass", RegressionHead("mass")),
                               ("sex", ClassificationHead("sex")),
                               ("tags", MultiLabelHead(["x", "z"]))],
                              trunk=MLPTrunk((4,)), epochs=2, random_state=0)


@pytest.fixture(scope="module")
def pipe():
    return make_pipeline(StandardScaler(), _estimator()).fit(X, Y)


def test_predict_heads_through_a_pipeline_is_the_hand_transformed_one(pipe):
    Xt = pipe[:-1].transform(X)
    got = predict_heads(pipe, X)
    assert list(got) == ["mass", "sex", "tags"]
    for name, pred in got.items():
        np.testing.assert_array_equal(pred, pipe[-1].predict_head(Xt, name))
    assert list(predict_heads(pipe, X, heads="sex")) == ["sex"]
    nested = make_pipeline(FunctionTransformer().fit(X), pipe)  # a Pipeline in a Pipeline
    np.testing.assert_array_equal(predict_heads(nested, X, ["mass"])["mass"], got["mass"])
    np.testing.assert_array_equal(predict_heads(pipe[-1], Xt, ["sex"])["sex"], got["sex"])
    # the scaler gives the estimator an array: predict_heads still keeps X's index
    shifted = X.set_axis(X.index + 100)
    assert predict_heads(pipe, shifted)["mass"].index.equals(shifted.index)
    assert predict_heads(pipe, shifted)["tags"].index.equals(shifted.index)


def test_predict_proba_heads_gives_every_head_with_probabilities(pipe):
    Xt = pipe[:-1].transform(X)
    got = predict_proba_heads(pipe, X)
    assert list(got) == ["sex", "tags"]
    assert got["sex"].shape == (40, 2) and got["tags"].shape == (40, 2)
    np.testing.assert_array_equal(got["sex"], pipe[-1].predict_proba(Xt)[0])
    with pytest.raises(ValueError, match="Head 'mass' .* has no probabilities"):
        predict_proba_heads(pipe, X, heads=["mass"])


@pytest.mark.parametrize("call, exc, match", [
    (lambda p: predict_heads(p, X, heads="age"), ValueError,
     r"has no head 'age'; its heads are \['mass', 'sex', 'tags'\]"),
    (lambda p: predict_heads(p, X, heads=[]), TypeError,
     r"predict_heads: heads must be a head name, a non-empty list .*got \[\]"),
    (lambda p: predict_proba_heads(make_pipeline(StandardScaler(), Ridge()).fit(X, X["a"]),
                                   X), TypeError,
     "predict_proba_heads needs one of mtestimator's estimators, or a Pipeline ending "
     "with one; got Pipeline ending with Ridge"),
    (lambda p: mtestimator.summary(GridSearchCV(p, {})), TypeError,
     "summary needs .* got GridSearchCV. For a search, pass its best_estimator_"),
    (lambda p: mtestimator.plot_network(make_pipeline(StandardScaler(), "passthrough")),
     TypeError, "got Pipeline ending with 'passthrough'"),
    (lambda p: predict_heads(make_pipeline(_estimator()), X), NotFittedError,
     "MultiTaskEstimator instance is not fitted yet"),
], ids=["unknown-head", "no-head", "not-ours", "search", "passthrough", "unfitted"])
def test_errors_name_what_was_passed(pipe, call, exc, match):
    with pytest.raises(exc, match=match):
        call(pipe)


def test_summary_plot_network_and_history_display_take_the_pipeline(pipe, tmp_path,
                                                                   monkeypatch):
    assert mtestimator.summary(pipe, print_fn=None) == pipe[-1].summary(print_fn=None)
    drawn = {}
    monkeypatch.setattr("mtestimator._diagram._check_plotting", lambda: None)
    monkeypatch.setattr("keras.utils.plot_model", lambda model, to_file, **kw: (
        drawn.update(model=model), open(to_file, "w").close()))
    assert mtestimator.plot_network(pipe, tmp_path / "n.png") == str(tmp_path / "n.png")
    assert drawn["model"] is pipe[-1].model_
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    from mtestimator.display import HistoryDisplay

    disp = HistoryDisplay.from_estimator(pipe)
    assert "sex_loss" in disp.lines_
    matplotlib.pyplot.close(disp.figure_)
