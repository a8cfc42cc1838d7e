"""Per-step task balancing in the compiled trainers, for both backends: GradNorm and PCGrad.

The backends (``backend_tensorflow``, ``backend_jax``) compute each head's
gradient in their own way; the arithmetic on those gradients is here, in
``keras.ops`` (the backend's own operations, traced into the compiled step):

- :func:`gradnorm_update` (GradNorm, Chen et al., ICML 2018): the heads'
  learned loss weights ``w`` after one step, from the norms ``g_i`` of each
  head's unweighted gradient at the last shared layer's weight matrices
  (:func:`shared_variables`), the batch's losses ``L_i`` and each head's
  ``L_i(0)``;
- :func:`project_conflicting` (PCGrad, Yu et al., NeurIPS 2020): the heads'
  gradients of the shared variables, each projected off every other head's
  gradient it conflicts with, in an order each step draws from the fit's seed
  (the backend's ``epoch_order`` of the heads, salted with
  :data:`HEAD_ORDER_SALT`), summed.

:func:`shared_variables` says which trainable variables of a network the
heads share (what PCGrad projects, where GradNorm measures).
"""

import keras
from keras import ops

__all__ = ["GRADNORM_ALPHA", "HEAD_ORDER_SALT", "gradnorm_update", "project_conflicting",
           "shared_variables"]

#: GradNorm's asymmetry ``alpha``: how strongly a head whose loss falls more
#: slowly (relative to its start, over the heads' mean) gets a larger
#: gradient norm target, ``mean(G) * r_i ** alpha`` (1.5, the paper's choice
#: for its multi-task regression benchmarks).
GRADNORM_ALPHA = 1.5

#: Mixed into the fit's seed for PCGrad's head order (other bits than the batches').
HEAD_ORDER_SALT = 0x5F3759DF

_TINY = 1e-12


def gradnorm_update(weights, norms, losses, initial, learning_rate, alpha=GRADNORM_ALPHA):
    """The heads' loss weights after one GradNorm step.

    ``G_i = w_i g_i`` is head ``i``'s weighted gradient norm at the last
    shared layer (``norms``: the ``g_i``, of the unweighted losses); its
    target is ``mean(G) r_i ** alpha``, ``r_i`` the head's loss ratio
    ``L_i / L_i(0)`` over the heads' mean ratio (``losses``, ``initial``).
    One gradient step on ``sum_i |G_i - target_i| / mean(G)`` (the target
    held constant; divided by ``mean(G)`` so the step does not depend on the
    losses' scale), at ``learning_rate``: ``w_i -= lr sign(G_i - target_i)
    g_i / mean(G)``; then the weights are clipped at 0 and renormalised to
    sum to the number of heads.
    """
    k = ops.cast(ops.shape(weights)[0], weights.dtype)
    G = weights * norms
    mean_G = ops.maximum(ops.mean(G), _TINY)
    ratio = losses / ops.maximum(initial, _TINY)
    ratio = ratio / ops.maximum(ops.mean(ratio), _TINY)
    target = ops.mean(G) * ops.power(ratio, alpha)
    step = ops.sign(G - target) * norms / mean_G
    new = ops.maximum(weights - learning_rate * step, 0.0)
    total = ops.sum(new)
    # all clipped (no head left): keep the weights as they were
    return ops.where(total > _TINY, k * new / ops.maximum(total, _TINY), weights)


def project_conflicting(grads, order):
    """PCGrad's combined gradient: ``grads`` is ``(heads, parameters)``, one
    row per head (flattened shared gradients), ``order`` a permutation of
    the heads. Each head's gradient ``g_i`` is projected, for ``j`` in
    ``order`` (``j != i``), off ``g_j`` (the original one) when
    ``g_i . g_j < 0``: ``g_i -= (g_i . g_j / |g_j|^2) g_j``; the projected
    gradients are summed."""
    k = grads.shape[0]
    total = None
    for i in range(k):
        g = grads[i]
        for position in range(k):
            j = order[position]
            other = ops.take(grads, j, axis=0)
            dot = ops.sum(g * other)
            conflict = ops.logical_and(dot < 0, ops.not_equal(j, i))
            coef = ops.where(conflict, dot / ops.maximum(ops.sum(other * other), _TINY), 0.0)
            g = g - coef * other
        total = g if total is None else total + g
    return total


def shared_variables(model):
    """``(shared, matrices)``: the positions in ``model.trainable_variables``
    of the variables two or more heads' outputs depend on (the trunk's), and
    of the weight matrices (2-D or more) of the last layer holding such
    variables (where GradNorm measures the heads' gradient norms; empty when
    no head shares a weight matrix)."""
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    outputs = model.outputs if isinstance(model.outputs, (list, tuple)) else [model.outputs]
    users = {}
    for output in outputs:  # the variables each output is a function of
        for v in keras.Model(model.inputs, output).trainable_variables:
            users[id(v)] = users.get(id(v), 0) + 1
    shared = sorted(position[i] for i, count in users.items() if count > 1 and i in position)
    is_shared = set(shared)
    matrices = []
    for layer in model.layers:  # topological order: the last one with a shared matrix
        mine = [position[id(v)] for v in layer.trainable_variables
                if id(v) in position and position[id(v)] in is_shared and len(v.shape) >= 2]
        if mine:
            matrices = mine
    return shared, matrices
