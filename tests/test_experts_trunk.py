"""MixtureOfExpertsTrunk: experts mixed per head, in every estimator path."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV

import mtestimator
from mtestimator import MultiTaskEstimator, SeparateNetworks
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.trunks import MixtureOfExpertsTrunk

rng = np.random.RandomState(0)
X = rng.normal(size=(120, 5))
Y = pd.DataFrame({"v": X[:, 0] - X[:, 1], "c": np.where(X[:, 2] > 0, "a", "b")})
HEADS = [("v", RegressionHead("v", hidden_layer_sizes=(4,))), ("c", ClassificationHead("c"))]


def moe(**kw):
    return MixtureOfExpertsTrunk(**{"n_experts": 3, "expert_layer_sizes": (8,), **kw})


@pytest.mark.backend
def test_each_head_mixes_the_experts_through_its_gate(tmp_path):
    est = MultiTaskEstimator(HEADS, trunk=moe(n_task_experts=1, dropout=0.1), epochs=2,
                             random_state=0).fit(X, Y)
    layers = {layer.name: layer for layer in est.model_.layers}
    assert {"expert_0_dense_0", "expert_2_dropout_0", "v_expert_0_dense_0", "c_gate",
            "v_experts", "v_tower_0"} <= set(layers)
    assert layers["v_gate"].units == 4 and layers["c_gate"].units == 4  # 3 shared + 1 own
    gates = [layers[f"{h}_gate"](X.astype("float32")) for h in ("v", "c")]
    for gate in gates:  # a softmax over the experts, and the heads' gates differ
        np.testing.assert_allclose(np.asarray(gate).sum(axis=1), 1, rtol=1e-5)
    assert not np.allclose(np.asarray(gates[0]), np.asarray(gates[1]))
    assert est._dense_layers["model"] is False  # predicted through Keras
    again = MultiTaskEstimator(HEADS, trunk=moe(n_task_experts=1, dropout=0.1), epochs=2,
                               random_state=0).fit(X, Y)
    pd.testing.assert_frame_equal(est.predict(X), again.predict(X))  # seeded
    est.save(tmp_path / "moe.mtest")
    pd.testing.assert_frame_equal(mtestimator.load(tmp_path / "moe.mtest").predict(X),
                                  est.predict(X))


def test_separate_networks_and_grid_search_reach_the_trunk():
    sep = SeparateNetworks(HEADS, trunk=moe(), epochs=1, random_state=0).fit(X, Y)
    assert "v_gate" in [layer.name for layer in dict(sep.estimators_)["v"].model_.layers]
    search = GridSearchCV(MultiTaskEstimator(HEADS, trunk=moe(), epochs=1, random_state=0),
                          {"trunk__n_experts": [2, 3]}, cv=2).fit(X, Y)
    assert sorted(search.cv_results_["param_trunk__n_experts"]) == [2, 3]


@pytest.mark.parametrize("params, match", [
    ({"n_experts": 0}, "'n_experts' parameter of MixtureOfExpertsTrunk"),
    ({"expert_layer_sizes": (4, 0)}, "'expert_layer_sizes' parameter of MultiTaskEstimator"),
    ({"n_task_experts": -1}, "'n_task_experts' parameter"),
])
def test_bad_parameters_name_themselves(params, match):
    with pytest.raises(ValueError, match=match):
        MultiTaskEstimator(HEADS, trunk=moe(**params), epochs=1).fit(X, Y)
