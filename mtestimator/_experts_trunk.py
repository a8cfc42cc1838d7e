"""MixtureOfExpertsTrunk: shared experts mixed by one gate per head (MMoE), optionally with per-head experts (PLE)."""

import numbers

from ._compat import Interval, StrOptions
from .persistence.spec import register
from ._trunk_base import ACTIVATIONS, BaseTrunk, check_initializer, check_layer_sizes

__all__ = ["MixtureOfExpertsTrunk"]


@register
class MixtureOfExpertsTrunk(BaseTrunk):
    """Experts shared by the heads, each head mixing them through its own gate.

    Multi-gate Mixture-of-Experts (Ma et al., KDD 2018): ``n_experts`` MLPs
    on 2-D X, and for each head a softmax gate (a Dense layer on X) whose
    weights mix the experts' outputs into that head's features. Where one
    shared trunk makes every head use the same features (and tasks that
    disagree pull them apart), each head here weighs the experts its own
    way. With ``n_task_experts > 0`` each head also has experts of its own
    that only its gate sees: the customized gate control of Progressive
    Layered Extraction (Tang et al., RecSys 2020), one level.

    Parameters
    ----------
    n_experts : int, default=4
        Shared experts.
    expert_layer_sizes : int or sequence of int, default=(64,)
        Units of each Dense layer of an expert; every head's features have
        ``expert_layer_sizes[-1]`` columns.
    n_task_experts : int, default=0
        Each head's own experts (0: MMoE).
    activation : str, default="relu"
    kernel_initializer : str, default="he_uniform"
        A Keras initializer name.
    dropout : float in [0, 1), default=0.0
        Dropout rate after each expert layer.

    Notes
    -----
    The network is larger than an MLP trunk's (``n_experts`` copies of an
    expert, plus ``n_task_experts`` per head); it predicts through Keras
    rather than the NumPy path of Dense networks. A head's tower
    (``hidden_layer_sizes`` on the head) sits on its mixed features. With
    one head (or in ``SeparateNetworks``) it is a gated ensemble of MLPs.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mtestimator import MultiTaskEstimator
    >>> from mtestimator.heads import ClassificationHead, RegressionHead
    >>> from mtestimator.trunks import MixtureOfExpertsTrunk
    >>> X = np.random.RandomState(0).normal(size=(60, 4))
    >>> y = pd.DataFrame({"v": X[:, 0], "c": np.where(X[:, 1] > 0, "a", "b")})
    >>> est = MultiTaskEstimator([("v", RegressionHead("v")), ("c", ClassificationHead("c"))],
    ...                          trunk=MixtureOfExpertsTrunk(n_experts=3, expert_layer_sizes=(8,)),
    ...                          epochs=2, random_state=0).fit(X, y)
    >>> sorted(layer.name for layer in est.model_.layers if layer.name.endswith("_gate"))
    ['c_gate', 'v_gate']
    """

    _parameter_constraints = {
        "n_experts": [Interval(numbers.Integral, 1, None, closed="left")],
        "expert_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None,
                                                      closed="left")],
        "n_task_experts": [Interval(numbers.Integral, 0, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "kernel_initializer": [str],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
    }
    #: The network gives each head its own features (the engine passes the heads' names).
    per_head = True

    def __init__(self, n_experts=4, *, expert_layer_sizes=(64,), n_task_experts=0,
                 activation="relu", kernel_initializer="he_uniform", dropout=0.0):
        self.n_experts = n_experts
        self.expert_layer_sizes = expert_layer_sizes
        self.n_task_experts = n_task_experts
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.dropout = dropout

    def check(self, owner):
        super().check(owner)
        check_layer_sizes(self.expert_layer_sizes, owner, "expert_layer_sizes")
        check_initializer(self.kernel_initializer, owner)

    def validate_X(self, estimator, X, reset):
        return self._validate_dense(estimator, X, reset, sequence=False)

    def build(self, inputs, seeds, heads):
        from .engine.networks import experts

        return experts(inputs, heads, n_experts=self.n_experts,
                       expert_layer_sizes=check_layer_sizes(self.expert_layer_sizes,
                                                            "MixtureOfExpertsTrunk",
                                                            "expert_layer_sizes"),
                       n_task_experts=self.n_task_experts, activation=self.activation,
                       kernel_initializer=self.kernel_initializer, dropout=self.dropout,
                       seeds=seeds)
