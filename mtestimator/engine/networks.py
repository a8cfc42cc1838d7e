"""Pure Keras builders: trunks, output layers and losses.

Nothing here knows about scikit-learn. A network is a trunk shared by every
head and one named output per head; the estimators decide which heads.
"""

import contextvars
from contextlib import contextmanager

import keras
from keras import ops

from .experts import experts_trunk
from .initializers import initializer, unwrap
from .spec import OutputSpec, seed_stream
from .tabular import EnsembleAdapter, MemberMean, TabularFeatures

__all__ = [
    "OutputSpec",
    "VariableRateDropout",
    "transferable_variables",
    "variable_dropout_rates",
    "WeightedBinaryCrossentropy",
    "build",
    "build_network",
    "experts",
    "losses",
    "conv1d_trunk",
    "mlp_trunk",
    "recurrent_trunk",
    "set_dropout_rates",
    "tabular_trunk",
]

def _apply(layer, x):
    """``layer(x)``: builds the layer (its initializers run now), then puts
    Keras's own initializers back on it for its config."""
    y = layer(x)
    unwrap(layer)
    return y


_VARIABLE_RATES = contextvars.ContextVar("mtestimator_variable_rates", default=False)


@contextmanager
def variable_dropout_rates():
    """Networks built inside this context get :class:`VariableRateDropout` layers.

    A cached trainer's network is built so: a new dropout rate is then a value
    assigned before a fit, not a new network and a new compilation.
    """
    token = _VARIABLE_RATES.set(True)
    try:
        yield
    finally:
        _VARIABLE_RATES.reset(token)


@keras.saving.register_keras_serializable(package="mtestimator")
class VariableRateDropout(keras.layers.Dropout):
    """Dropout whose rate is a non-trainable variable (assign it; nothing retraces).

    Draws the same masks as :class:`keras.layers.Dropout` with the same rate
    and seed generator state.
    """

    def build(self, input_shape):
        self.rate_variable = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.rate),
            trainable=False, name="rate")
        self.built = True

    def call(self, inputs, training=False):
        if training:
            return _dropout_at_rate(inputs, self.rate_variable.value, self.noise_shape,
                                    self.seed_generator)
        return inputs


def _dropout_at_rate(inputs, rate, noise_shape, seed_generator):
    """``keras.random.dropout`` with a tensor rate: the backend's own code less
    its Python tests of the rate (which a traced value cannot answer)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        from ._compat import tf_cast_seed, tf_noise_shape

        return tf.nn.experimental.stateless_dropout(
            inputs, rate=rate, noise_shape=tf_noise_shape(inputs, noise_shape),
            seed=tf_cast_seed(seed_generator.next()))
    import jax

    from ._compat import jax_noise_shape

    keep_prob = 1.0 - rate
    mask = jax.random.bernoulli(seed_generator.next(), p=keep_prob,
                                shape=jax_noise_shape(inputs, noise_shape))
    mask = jax.numpy.broadcast_to(mask, inputs.shape)
    return jax.lax.select(mask, inputs / keep_prob, jax.numpy.zeros_like(inputs))


def _dropout(rate, seed, name):
    layer = VariableRateDropout if _VARIABLE_RATES.get() else keras.layers.Dropout
    return layer(rate, seed=seed, name=name)


def transferable_variables(model):
    """The variables a network shares with a copy of its architecture built
    with or without :func:`variable_dropout_rates`: all but the rates."""
    rates = {id(layer.rate_variable) for layer in model.layers
             if isinstance(layer, VariableRateDropout)}
    return [v for v in model.variables if id(v) not in rates]


def set_dropout_rates(model, source):
    """Give ``model``'s :class:`VariableRateDropout` layers the rates of the
    same-named dropout layers of ``source``."""
    for layer in model.layers:
        if isinstance(layer, VariableRateDropout):
            layer.rate_variable.assign(float(source.get_layer(layer.name).rate))


def mlp_trunk(inputs, hidden_layer_sizes, *, activation="relu",
              kernel_initializer="glorot_uniform", dropout=0.0, seeds=None):
    """Stack of Dense layers (each optionally followed by Dropout).

    Parameters
    ----------
    inputs : keras tensor of shape (batch, n_features)
    hidden_layer_sizes : sequence of int
    activation, kernel_initializer : str
    dropout : float in [0, 1)
    seeds : iterator of int or None, default=None
        One seed per initializer and dropout layer.

    Returns
    -------
    keras tensor of shape (batch, hidden_layer_sizes[-1])
    """
    return _stack(inputs, hidden_layer_sizes, dropout, seeds, lambda i, units, seeds: (
        keras.layers.Dense(int(units), activation=activation,
                           kernel_initializer=initializer(kernel_initializer, next(seeds)),
                           bias_initializer=initializer("zeros", None),
                           name=f"trunk_dense_{i}")))


def _stack(inputs, sizes, dropout, seeds, make_layer):
    """``make_layer(i, size, seeds)`` for each size, each followed by dropout:
    seeds drawn in that order (the layer's first, then its dropout's)."""
    seeds = seeds if seeds is not None else seed_stream(None)
    x = inputs
    for i, size in enumerate(sizes):
        x = _apply(make_layer(i, size, seeds), x)
        if dropout:
            x = _dropout(dropout, next(seeds), f"trunk_dropout_{i}")(x)
    return x


def recurrent_trunk(inputs, hidden_layer_sizes, *, cell="lstm",
                    kernel_initializer="glorot_uniform", dropout=0.0, seeds=None):
    """Stacked LSTM or GRU layers (Keras's tanh); the last returns its final state."""
    layer_class = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    last = len(hidden_layer_sizes) - 1
    return _stack(inputs, hidden_layer_sizes, dropout, seeds, lambda i, units, seeds: (
        layer_class(int(units), return_sequences=i < last,
                    kernel_initializer=initializer(kernel_initializer, next(seeds)),
                    recurrent_initializer=initializer("orthogonal", next(seeds)),
                    seed=next(seeds), name=f"trunk_{cell}_{i}")))


def conv1d_trunk(inputs, hidden_layer_sizes, *, activation="relu",
                 kernel_initializer="glorot_uniform", dropout=0.0, seeds=None,
                 kernel_size=3):
    """Causal Conv1D layers (one per entry, ``filters`` units), then global
    average pooling over time."""
    x = _stack(inputs, hidden_layer_sizes, dropout, seeds, lambda i, filters, seeds: (
        keras.layers.Conv1D(int(filters), kernel_size, padding="causal", activation=activation,
                            kernel_initializer=initializer(kernel_initializer, next(seeds)),
                            bias_initializer=initializer("zeros", None),
                            name=f"trunk_conv1d_{i}")))
    return keras.layers.GlobalAveragePooling1D(name="trunk_pool")(x)


def tabular_trunk(inputs, *, n_numeric, n_dense, cardinalities, hidden_layer_sizes,
                  activation="relu", kernel_initializer="he_uniform", dropout=0.0, alpha=0.0,
                  n_ensemble=1, embedding_dim=8, n_frequencies=0, frequency_scale=0.1,
                  seeds):
    """TabularTrunk's layers (see :mod:`.tabular`): the tabular matrix of
    ``n_dense`` plain columns (the first ``n_numeric`` numeric) and one code per
    embedded column, to a 2-D feature tensor; members averaged with ``n_ensemble``."""
    x = _apply(TabularFeatures(n_numeric, n_dense, list(cardinalities), embedding_dim,
                               n_frequencies, frequency_scale, seed=next(seeds),
                               name="tabular_features"), inputs)
    if n_ensemble > 1:
        x = EnsembleAdapter(n_ensemble, seed=next(seeds), name="tabular_adapter")(x)
    for i, units in enumerate(hidden_layer_sizes):
        x = _apply(keras.layers.Dense(
            int(units), activation=activation,
            kernel_initializer=initializer(kernel_initializer, next(seeds)),
            bias_initializer=initializer("zeros", None),
            kernel_regularizer=keras.regularizers.L2(alpha) if alpha else None,
            name=f"tabular_dense_{i}"), x)
        if dropout:
            x = _dropout(dropout, next(seeds), f"tabular_dropout_{i}")(x)
    if n_ensemble > 1:
        x = MemberMean(name="tabular_mean")(x)
    return x


def experts(inputs, heads, *, seeds, **settings):
    """A mixture-of-experts trunk (see :mod:`.experts`): each head's features."""
    return experts_trunk(inputs, heads, seeds=seeds, apply=_apply, make_dropout=_dropout,
                         **settings)


def build_network(input_shape, outputs, trunk, *, seed=None, input_dtype="float32",
                  per_head=False):
    """A multi-head network: one shared trunk, one named Dense output per head.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample.
    outputs : sequence of OutputSpec
    trunk : callable
        ``trunk(inputs, seeds)`` returns the shared 2-D feature tensor (see
        :func:`mlp_trunk`); ``seeds`` yields one seed per initializer and
        dropout layer. With ``per_head``, ``trunk(inputs, seeds, names)``
        returns each head's features, a dict by head name.
    seed : int or None
        Seeds every initializer and dropout layer; no global RNG is touched.
    input_dtype : str, default="float32"

    Returns
    -------
    keras.Model
        Outputs are a dict keyed by head name.

    Examples
    --------
    >>> model = build_network((4,), [OutputSpec("y", 3, "sigmoid")],
    ...                       lambda x, seeds: mlp_trunk(x, [8], seeds=seeds), seed=0)
    >>> sorted(model.output_names)
    ['y']
    """
    seeds = seed_stream(seed)
    inputs = keras.Input(tuple(input_shape), name="features", dtype=input_dtype)
    x = trunk(inputs, seeds, [o.name for o in outputs]) if per_head else trunk(inputs, seeds)
    heads = {}
    for spec in outputs:
        h = _tower(x[spec.name] if per_head else x, spec, seeds)
        heads[spec.name] = _apply(keras.layers.Dense(
            spec.units,
            activation=spec.activation,
            kernel_initializer=initializer("glorot_uniform", next(seeds)),
            bias_initializer=initializer("zeros", None),
            name=spec.name,
        ), h)
    return keras.Model(inputs, heads, name="multitask_network")


def _tower(x, spec, seeds):
    """The head's own Dense layers (``spec.hidden``, named ``<head>_tower_<i>``),
    each followed by dropout when the tower has it; seeds drawn before the
    head's output layer's."""
    settings = dict(spec.tower)
    dropout, alpha = settings.get("dropout", 0.0), settings.get("alpha", 0.0)
    for i, units in enumerate(spec.hidden):
        x = _apply(keras.layers.Dense(
            int(units), activation=settings["activation"],
            kernel_initializer=initializer(settings["kernel_initializer"], next(seeds)),
            bias_initializer=initializer("zeros", None),
            kernel_regularizer=keras.regularizers.L2(alpha) if alpha else None,
            name=f"{spec.name}_tower_{i}"), x)
        if dropout:
            x = _dropout(dropout, next(seeds), f"{spec.name}_tower_dropout_{i}")(x)
    return x


def build(spec, *, variable_rates=False):
    """A fresh network from a :class:`~mtestimator.engine.spec.NetworkSpec`:
    its trunk and one named Dense output per head, each through its learned
    loss weight with ``spec.uncertainty``; dropout rates as variables with
    ``variable_rates`` (a trainer's network: see :func:`variable_dropout_rates`)."""
    if variable_rates:
        with variable_dropout_rates():
            return build(spec)
    model = build_network(spec.input_shape, spec.outputs, spec.trunk, seed=spec.seed,
                          input_dtype=spec.input_dtype, per_head=spec.per_head)
    if spec.uncertainty:
        model = add_uncertainty_weights(model)[0]
    model.name = spec.name
    return model


def losses(spec, model):
    """The losses of ``model``'s outputs (a dict by name), each through its
    learned weight with ``spec.uncertainty``."""
    if not spec.uncertainty:
        return {o.name: o.loss for o in spec.outputs}
    return {o.name: UncertaintyWeightedLoss(o.loss, model.get_layer(f"{o.name}_uncertainty"),
                                            name=f"{o.name}_loss")
            for o in spec.outputs}


@keras.saving.register_keras_serializable(package="mtestimator")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy per label with a weight on each positive term.

    ``loss = -mean_j(w_j * y_j * log(p_j) + (1 - y_j) * log(1 - p_j))``, the
    ``pos_weight`` convention of PyTorch's ``BCEWithLogitsLoss``.

    Parameters
    ----------
    pos_weight : sequence of float
        One weight per label.
    """

    def __init__(self, pos_weight, name="weighted_binary_crossentropy",
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.pos_weight = [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        eps = keras.config.epsilon()
        y_pred = ops.clip(y_pred, eps, 1.0 - eps)
        y_true = ops.cast(y_true, y_pred.dtype)
        weight = ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
        loss = weight * y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred)
        return -ops.mean(loss, axis=-1)

    def get_config(self):
        return {"pos_weight": self.pos_weight, "name": self.name,
                "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="mtestimator")
class MaskedLoss(keras.losses.Loss):
    """A per-element loss averaged over each row's present targets.

    Missing targets are NaN in ``y_true``: they add nothing to the loss and
    nothing to its gradient. Each row's loss is the mean over its present
    elements (a row with none present gives 0; give it weight 0).

    Parameters
    ----------
    kind : {"mse", "bce"}
        Squared error (regression outputs) or binary cross-entropy (labels).
    pos_weight : sequence of float or None
        With ``"bce"``: one weight per label on the positive term.
    """

    def __init__(self, kind="mse", pos_weight=None, name=None,
                 reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name or f"masked_{kind}", reduction=reduction, dtype=dtype)
        self.kind = kind
        self.pos_weight = None if pos_weight is None else [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        present = ops.logical_not(ops.isnan(y_true))
        y = ops.where(present, y_true, ops.zeros_like(y_true))
        if self.kind == "mse":
            loss = ops.square(y - y_pred)
        else:
            eps = keras.config.epsilon()
            p = ops.clip(y_pred, eps, 1.0 - eps)
            weight = 1.0 if self.pos_weight is None else ops.convert_to_tensor(
                self.pos_weight, dtype=y_pred.dtype)
            loss = -(weight * y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p))
        mask = ops.cast(present, y_pred.dtype)
        return ops.sum(loss * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)

    def get_config(self):
        return {"kind": self.kind, "pos_weight": self.pos_weight, "name": self.name,
                "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="mtestimator")
class UncertaintyWeight(keras.layers.Layer):
    """Identity on a head's output, holding that head's learned log-variance.

    With :class:`UncertaintyWeightedLoss`, implements the homoscedastic
    uncertainty weighting of Kendall, Gal and Cipolla (CVPR 2018): the total
    loss is ``sum_i exp(-s_i) * L_i + s_i`` with ``s_i = log(sigma_i^2)``
    learned with the network, so no head's loss drowns the other's.
    """

    def build(self, input_shape):
        self.log_var = self.add_weight(shape=(), initializer="zeros", name="log_var")

    def call(self, inputs):
        return inputs


class UncertaintyWeightedLoss(keras.losses.Loss):
    """``exp(-s) * loss(y_true, y_pred) + s`` per row, ``s`` read from an
    UncertaintyWeight; ``base`` is the head's own loss (a Keras ``Loss``,
    whose ``call`` gives the per-row values the history reports)."""

    def __init__(self, loss, weight_layer, name=None):
        from ._compat import LossFunctionWrapper

        base = keras.losses.get(loss) if isinstance(loss, str) else loss
        self.base = base if isinstance(base, keras.losses.Loss) else LossFunctionWrapper(base)
        super().__init__(name=name or getattr(self.base, "name", str(loss)))
        self.weight_layer = weight_layer

    def call(self, y_true, y_pred):
        s = ops.cast(self.weight_layer.log_var, y_pred.dtype)
        return ops.exp(-s) * self.base.call(y_true, y_pred) + s


def add_uncertainty_weights(model):
    """A copy of a multi-head ``model`` whose outputs pass through UncertaintyWeight.

    Returns the new model and the uncertainty layers keyed by output name.
    """
    layers = {name: UncertaintyWeight(name=f"{name}_uncertainty") for name in model.output_names}
    outputs = {name: layers[name](out) for name, out in zip(model.output_names, model.outputs)}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs, name=model.name), layers
