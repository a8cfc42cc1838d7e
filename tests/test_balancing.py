"""GradNorm and PCGrad (engine/balancing.py): the arithmetic, and fits on both backends."""

import keras
import numpy as np
import pandas as pd
import pytest

from mtestimator import MultiTaskEstimator
from mtestimator.engine.balancing import gradnorm_update, project_conflicting
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.trunks import MixtureOfExpertsTrunk, MLPTrunk

rng = np.random.RandomState(0)
X = rng.normal(size=(48, 3))
Y = pd.DataFrame({"v": X[:, 0] * 10, "u": X[:, 2] - X[:, 1],
                  "c": np.where(X[:, 1] > 0, "a", "b")})
HEADS = [("v", RegressionHead("v", scale=False)), ("u", RegressionHead("u")),
         ("c", ClassificationHead("c"))]


def _estimator(**kw):
    return MultiTaskEstimator(HEADS, **{"trunk": MLPTrunk((4,)), "epochs": 2, "batch_size": 16,
                                        "random_state": 0, **kw})


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_project_conflicting_projects_only_conflicting_pairs():
    g = np.array([[1.0, 0.0], [-1.0, 1.0]], np.float32)  # g1 . g2 = -1: a conflict
    # g1 - (-1 / 2) g2 = (0.5, 0.5); g2 - (-1 / 1) g1 = (0, 1); summed
    for order in ([0, 1], [1, 0]):
        np.testing.assert_allclose(_numpy(project_conflicting(g, np.array(order))), [0.5, 1.5])
    agree = np.array([[1.0, 0.0], [1.0, 1.0]], np.float32)  # no conflict: the plain sum
    np.testing.assert_allclose(_numpy(project_conflicting(agree, np.array([1, 0]))), [2, 1])
    # three heads: each projection off the original gradients, in the order given
    g3 = np.array([[1.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]], np.float32)
    first = _numpy(project_conflicting(g3, np.array([1, 2, 0])))
    g0 = np.array([1.0, 0.0]) + 0.5 * g3[1]  # off g2 first: (0.5, 0.5), then g3 . it = -1
    g0 = g0 + 0.5 * g3[2]
    expected = g0 + np.array([0.0, 1.0]) + np.array([0.0, -1.0])  # g2 and g3 off g1 only
    np.testing.assert_allclose(first, expected, atol=1e-6)


def test_gradnorm_update_moves_weight_to_the_slower_head_and_keeps_the_sum():
    weights = np.ones(2, np.float32)
    norms = np.ones(2, np.float32)  # equal gradient norms
    # head 1's loss fell less (ratio 0.9 vs 0.5): its target norm is larger
    new = _numpy(gradnorm_update(weights, norms, np.array([0.5, 0.9], np.float32),
                                 np.ones(2, np.float32), 0.1))
    assert new.sum() == pytest.approx(2) and new[1] > new[0]
    same = _numpy(gradnorm_update(weights, norms, np.ones(2, np.float32),
                                  np.ones(2, np.float32), 0.1))
    assert same.sum() == pytest.approx(2)


@pytest.mark.backend
def test_gradnorm_and_pcgrad_train_compiled_seeded_and_continue():
    # one compiled function for both (a new one per option costs seconds)
    both = {"loss_weights": "gradnorm", "gradient_method": "pcgrad"}
    h = _estimator(**both).fit(X, Y).history_
    weights = np.array([h[f"{n}_loss_weight"] for n, _ in HEADS])  # (heads, epochs)
    np.testing.assert_allclose(weights.sum(axis=0), 3, rtol=1e-5)
    np.testing.assert_array_equal(weights[:, 0], 1)  # the first epoch sets L(0)
    assert not np.allclose(weights[:, -1], 1)
    assert _estimator(**both).fit(X, Y).history_ == h  # seeded
    # partial_fit carries the weights on (from history_, which a saved file holds)
    first = _estimator(**both).partial_fit(X, Y).partial_fit(X, Y).partial_fit(X, Y)
    moved = first.history_["v_loss_weight"]
    assert moved[0] == 1 and len(set(moved)) == 3


@pytest.mark.parametrize("kw, match", [
    ({"loss_weights": "gradnorn"}, "'loss_weights' parameter of MultiTaskEstimator"),
    ({"gradient_method": "pc"}, "'gradient_method' parameter of MultiTaskEstimator"),
    ({"loss_weights": "gradnorm", "trunk": MixtureOfExpertsTrunk(n_experts=2,
                                                                   expert_layer_sizes=(4,))},
     "loss_weights='gradnorm'.*MixtureOfExpertsTrunk gives each head its own"),
    ({"gradient_method": "pcgrad", "callbacks": [keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: None)]},
     "gradient_method='pcgrad'.*per-batch hooks"),
])
@pytest.mark.filterwarnings("ignore:Callback .* per-batch:UserWarning")
def test_bad_balancing_settings_name_the_parameter(kw, match):
    est = _estimator(**kw)
    with pytest.raises(ValueError, match=match):
        est.fit(X, Y)
