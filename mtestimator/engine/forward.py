"""Inference for the Dense networks of mtestimator in plain NumPy.

A fitted network's weights are read once into arrays; prediction is then a
few matrix products: no tracing, no per-call framework overhead, the same
cost on every backend, and nothing retained between calls.
"""

import itertools

import numpy as np
from scipy.special import erf, expit, softmax

__all__ = ["NUMPY_ACTIVATIONS", "dense_forward", "extract_dense_layers", "tabular_forward"]

NUMPY_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "sigmoid": expit,
    "softmax": lambda x: softmax(x, axis=-1),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    "silu": lambda x: x * expit(x),
    "swish": lambda x: x * expit(x),
    "softplus": lambda x: np.logaddexp(0, x),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
}


def _activation_name(layer):
    return getattr(layer.activation, "__name__", str(layer.activation))


def extract_dense_layers(model):
    """``(trunk, heads)`` as NumPy arrays, or None if ``model`` is not a
    Dense trunk (``trunk_dense_*``) with one Dense layer per output. A
    TabularTrunk network's trunk is a NumPy function instead (see
    :func:`tabular_forward`)."""
    trunk, i = [], 0
    names = {layer.name for layer in model.layers}
    if "tabular_features" in names:
        trunk = tabular_forward(model)
        if trunk is None:
            return None
    while f"trunk_dense_{i}" in names:
        layer = model.get_layer(f"trunk_dense_{i}")
        trunk.append((np.asarray(layer.kernel, np.float64), np.asarray(layer.bias, np.float64),
                      _activation_name(layer)))
        i += 1
    heads = {}  # each head: its tower's layers (``<head>_tower_<i>``), then its output
    for name in model.output_names:
        chain = list(itertools.takewhile(names.__contains__,
                                         (f"{name}_tower_{i}" for i in itertools.count())))
        chain.append(name)
        layers = [model.get_layer(n) if n in names else None for n in chain]
        if any(layer is None or not hasattr(layer, "kernel") for layer in layers):
            return None
        heads[name] = [(np.asarray(layer.kernel, np.float64), np.asarray(layer.bias, np.float64),
                        _activation_name(layer)) for layer in layers]
    acts = {a for chain in heads.values() for *_, a in chain}
    if callable(trunk):
        return (trunk, heads) if acts <= set(NUMPY_ACTIVATIONS) else None
    acts |= {a for *_, a in trunk}
    if not trunk or not acts <= set(NUMPY_ACTIVATIONS):
        return None
    return trunk, heads


def dense_forward(layers, X, names=None):
    """Outputs of the network described by ``layers`` on ``X``, in float64.

    float64 makes a row's output independent of the batch it is computed in
    (float32 matrix products round differently with the batch's size).
    ``names``: only these heads (all when None).
    """
    trunk, heads = layers
    if names is not None:
        heads = {name: heads[name] for name in names}
    h = np.asarray(X, np.float64)
    if callable(trunk):  # a TabularTrunk network
        h, trunk = trunk(h), ()
    for kernel, bias, act in trunk:
        h = NUMPY_ACTIVATIONS[act](h @ kernel + bias)
    return {name: _chain(h, chain) for name, chain in heads.items()}


def _chain(h, layers):
    for kernel, bias, act in layers:
        h = NUMPY_ACTIVATIONS[act](h @ kernel + bias)
    return h


def _np(variable):
    from keras import ops

    return ops.convert_to_numpy(variable).astype(np.float64)


def tabular_forward(model):
    """A NumPy function computing the trunk of a TabularTrunk network (``X ->
    features``, float64), or None if ``model`` has no such trunk."""
    names = {layer.name for layer in model.layers}
    if "tabular_features" not in names:
        return None
    feat = model.get_layer("tabular_features")
    periodic = None
    if feat.n_frequencies and feat.n_numeric:
        periodic = (_np(feat.frequencies), _np(feat.periodic_kernel), _np(feat.periodic_bias))
    table = _np(feat.embeddings) if feat.cardinalities else None
    offsets = np.asarray(getattr(feat, "_offsets", np.zeros(0)), np.int64)
    adapters = (_np(model.get_layer("tabular_adapter").adapters)
                if "tabular_adapter" in names else None)
    dense, i = [], 0
    while f"tabular_dense_{i}" in names:
        layer = model.get_layer(f"tabular_dense_{i}")
        act = getattr(layer.activation, "__name__", str(layer.activation))
        if act not in NUMPY_ACTIVATIONS:
            return None
        dense.append((_np(layer.kernel), _np(layer.bias), act))
        i += 1
    m, n_dense, width = feat.n_numeric, feat.n_dense, feat.embedding_dim

    def forward(X):
        X = np.asarray(X, np.float64)
        parts = []
        if periodic is not None:
            freq, kernel, bias = periodic
            angle = 2 * np.pi * X[:, :m, None] * freq[None]
            emb = np.maximum(np.einsum("bmf,mfd->bmd", np.concatenate(
                [np.sin(angle), np.cos(angle)], axis=-1), kernel) + bias[None], 0)
            parts += [emb.reshape(len(X), m * width), X[:, m:n_dense]]
        else:
            parts.append(X[:, :n_dense])
        if table is not None:
            codes = X[:, n_dense:].astype(np.int64) + offsets[None]
            parts.append(table[codes].reshape(len(X), -1))
        h = np.concatenate(parts, axis=1)
        if adapters is not None:
            h = h[:, None, :] * adapters[None]
        for kernel, bias, act in dense:
            h = NUMPY_ACTIVATIONS[act](h @ kernel + bias)
        return h.mean(axis=1) if adapters is not None else h

    return forward
