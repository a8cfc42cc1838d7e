"""MultiTaskEstimator: any number of heads on any trunk, one Keras network."""

import numbers

from sklearn.base import clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._base import BaseMultiTask
from ._compat import HasMethods, Interval, StrOptions
from .trunks import MLPTrunk

from .engine.spec import SCHEDULES
from .persistence.spec import register

__all__ = ["MultiTaskEstimator"]

#: The learning-rate schedule and weight decay of the estimators that take them.
SCHEDULE_CONSTRAINTS = {
    "learning_rate_schedule": [StrOptions(set(SCHEDULES)), None],
    "weight_decay": [Interval(numbers.Real, 0, None, closed="left"), None],
}


def _has_probabilities(est):
    return any(hasattr(head, "predict_proba") for _, head in est.heads)


@register
class MultiTaskEstimator(BaseMultiTask):
    """One Keras network, a shared trunk and one output per head.

    Each head takes its columns of ``y`` (a number or several, a class, a set
    of labels); the trunk takes ``X``. The network is trained on the
    weighted sum of the heads' losses, or with ``loss_weights="auto"`` on
    losses weighted by learned homoscedastic uncertainty (Kendall, Gal and
    Cipolla, CVPR 2018). Heads and trunk are scikit-learn estimators: a grid
    search reaches their parameters as ``heads__<name>__<param>`` and
    ``trunk__<param>``, as in a ``Pipeline``.

    The estimator type follows the heads: one
    :class:`~mtestimator.heads.ClassificationHead` makes a classifier
    (``classes_``, stratified cross-validation), one
    :class:`~mtestimator.heads.RegressionHead` a regressor, one
    :class:`~mtestimator.heads.MultiLabelHead` a multi-label classifier.

    Parameters
    ----------
    heads : list of (str, head) tuples
        The heads, named; the name is the Keras output's name and the key of
        ``history_`` (``"<name>_loss"``). A single head may take the whole
        ``y`` (``columns=None``).
    trunk : trunk, default=None
        The shared trunk, from :mod:`mtestimator.trunks`; ``None`` means
        ``MLPTrunk()``.
    loss_weights : None, "auto", "dwa" or "gradnorm", default=None
        ``None``: each head's ``loss_weight``. ``"auto"``: weights learned
        with the network, ``exp(-s_i) L_i + s_i`` per head. ``"dwa"``
        (Dynamic Weight Average, Liu et al. 2019): before each epoch from the
        third, each head's ``loss_weight`` is multiplied by ``K softmax(r /
        2)``, ``r`` the ratio of the head's last two epoch losses: a head
        whose loss falls more slowly weighs more. It trains one epoch per
        compiled call (some Python between epochs) and needs callbacks with
        epoch hooks only. ``"gradnorm"`` (GradNorm, Chen et al. 2018):
        weights ``w_i`` learned at each step, starting at the heads'
        ``loss_weight`` scaled to sum to the number of heads ``K``, so that
        each head's weighted gradient norm at the trunk's last layer,
        ``G_i = |grad_W w_i L_i|``, approaches ``mean(G) r_i ** 1.5``
        (``r_i``: the head's loss over its first epoch's mean loss
        ``L_i(0)``, over the heads' mean such ratio; ``alpha = 1.5``,
        :data:`mtestimator.engine.balancing.GRADNORM_ALPHA`): one step of
        ``learning_rate`` on ``sum |G_i - target_i| / mean(G)``, then the
        weights renormalised to sum to ``K``. The weights stay at their start
        during the first epoch (which sets ``L_i(0)``); ``partial_fit``
        continues from the last ones (``history_``). It runs inside the
        compiled training, at ``K`` extra backward passes per step: 1.4
        (JAX) to 2.7 (TensorFlow) times the seconds per epoch of ``None``
        (3 heads, ``MLPTrunk((64, 32))``, 4,000 rows, batch 64, 2 CPU
        cores), still over 20 times faster than Keras's ``fit`` (see the
        sharing guide). Not with a trunk that gives each head its own
        features (:class:`~mtestimator.trunks.MixtureOfExpertsTrunk`), nor
        with callbacks that have per-batch hooks.
    gradient_method : None or "pcgrad", default=None
        How the heads' gradients of the shared (trunk) variables combine.
        ``None``: summed. ``"pcgrad"`` (Yu et al. 2020): each head's
        (weighted) gradient is projected off every other head's gradient it
        conflicts with (negative dot product), in an order drawn at each
        step from ``random_state``, then summed; each head's own layers keep
        their head's gradient. Composes with every ``loss_weights``
        (GradNorm measures the unprojected gradients). It runs inside the
        compiled training, at ``K`` extra backward passes per step: 1.5
        (JAX) to 2.3 (TensorFlow) times the seconds per epoch of ``None``,
        measured as for ``"gradnorm"``. Not with callbacks that have
        per-batch hooks.
    optimizer : {"adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad"}, default="adam"
    learning_rate : float, default=0.001
    epochs : int, default=100
    batch_size : int, default=32
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified on
        the first classification head's labels when it can be), stop when the
        total validation loss has not improved for ``n_iter_no_change``
        epochs and keep the best weights.
    validation_fraction : float in (0, 1), default=0.1
        The held-out fraction for early stopping; without early stopping,
        what a head with ``calibration`` holds out of training to fit it on.
    n_iter_no_change : int, default=10
    learning_rate_schedule : {None, "cosine", "linear_warmup_cosine"}, default=None
        The learning rate over the steps of one ``fit``: ``"cosine"`` from
        ``learning_rate`` down to 0 (Keras's ``CosineDecay``);
        ``"linear_warmup_cosine"`` up linearly over the first 5% of the steps,
        then the cosine; None: constant. The schedule spans ``epochs`` (early
        stopping may end it sooner); ``partial_fit`` keeps the constant rate.
    weight_decay : float or None, default=None
        Decoupled weight decay of the optimizer (AdamW-style, Keras's
        ``weight_decay``: each step shrinks every weight by
        ``learning_rate * weight_decay`` times itself); None: the
        optimizer's default (none, or 0.004 for ``"adamw"``).
    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks, deep-copied for each fit. Callbacks with epoch hooks
        only (``EarlyStopping``, ``ReduceLROnPlateau``, ``LearningRateScheduler``,
        ``History``, ``CSVLogger``, ``TerminateOnNaN``, ``ModelCheckpoint`` saving
        each epoch, your own ``on_epoch_*``/``on_train_*`` callbacks) run on the
        compiled fast path, after every epoch; one with a per-batch or
        evaluation hook (``on_*_batch_*``, ``on_test_*``: e.g. ``TensorBoard``,
        ``ProgbarLogger``) sends training through Keras's own ``model.fit`` (the
        same batches in the same order, slower).
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, dropout, shuffling and the validation split; no
        global random state is read or changed.
    verbose : int, default=0
        0: silent; 1: a progress bar over epochs with the losses of each head
        (tqdm, on stderr); 2: one line per epoch (stdout). Ctrl-C stops a fit
        within about a second, leaving the estimator as it was.

    Attributes
    ----------
    heads_ : list of (str, head) tuples
        The fitted clones of the heads.
    named_heads_ : dict of str to head
        The same, by name.
    trunk_ : trunk
        The trunk used (a clone).
    classes_ : ndarray
        With a single classification or multi-label head: its classes.
    model_ : keras.Model
        The trained network; one output per head, named as the head.
    history_ : dict of list of float
        Per-epoch ``loss`` (what was minimised), ``<head>_loss`` (each
        head's own loss, unweighted), each head's metric
        (``<head>_accuracy``, ``<head>_binary_accuracy``, ``<head>_r2``: see
        :mod:`mtestimator.engine.metrics`) and ``val_*`` with early stopping;
        with ``loss_weights="auto"`` also ``<head>_log_variance``, the
        learned ``s`` (at each epoch's end) of ``loss = sum(exp(-s) L + s)``;
        with ``loss_weights="gradnorm"`` also ``<head>_loss_weight``, the
        learned weight at each epoch's end.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        Columns of X (for 2-D or sequence X).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names.
    input_shape_ : tuple of int
        Shape of one sample.

    See Also
    --------
    SeparateNetworks : the same heads and trunk, one network per head.
    JointRegressorClassifier, MultiLabelMLPClassifier : presets.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mtestimator import MultiTaskEstimator
    >>> from mtestimator.heads import ClassificationHead, RegressionHead
    >>> from mtestimator.trunks import MLPTrunk
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4))
    >>> Y = pd.DataFrame({"size": X[:, 0] * 3 + 1, "weight": X[:, 1] - X[:, 2],
    ...                   "kind": np.where(X[:, 3] > 0, "a", "b")})
    >>> est = MultiTaskEstimator(
    ...     heads=[("size", RegressionHead(columns=["size", "weight"])),
    ...            ("kind", ClassificationHead(columns="kind"))],
    ...     trunk=MLPTrunk(hidden_layer_sizes=(16,)), epochs=20, random_state=0)
    >>> est.fit(X, Y).predict(X[:2]).columns.tolist()
    ['size', 'weight', 'kind']
    >>> [p.shape for p in est.predict_proba(X[:2])]
    [(2, 2)]
    """

    _parameter_constraints = {
        **BaseMultiTask._parameter_constraints,
        "heads": [list],
        "trunk": [HasMethods(["validate_X", "build"]), None],
        **SCHEDULE_CONSTRAINTS,
        "loss_weights": [StrOptions({"auto", "dwa", "gradnorm"}), None],
        "gradient_method": [StrOptions({"pcgrad"}), None],
    }

    def __init__(self, heads, *, trunk=None, loss_weights=None, gradient_method=None,
                 optimizer="adam",
                 learning_rate=0.001, epochs=100, batch_size=32, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, callbacks=None,
                 random_state=None, verbose=0,
                 learning_rate_schedule=None, weight_decay=None):
        self.heads = heads
        self.trunk = trunk
        self.loss_weights = loss_weights
        self.gradient_method = gradient_method
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        self.learning_rate_schedule = learning_rate_schedule
        self.weight_decay = weight_decay

    # -- composition: heads__<name>__<param> -------------------------------------

    def get_params(self, deep=True):
        """Parameters of the estimator, and with ``deep`` of its heads and trunk.

        Parameters
        ----------
        deep : bool, default=True
            Also return ``heads__<name>`` and ``heads__<name>__<param>``
            (and ``trunk__<param>``).

        Returns
        -------
        params : dict
        """
        params = super().get_params(deep=False)
        if not deep:
            return params
        if isinstance(self.heads, list) and all(
                isinstance(h, tuple) and len(h) == 2 for h in self.heads):
            for name, head in self.heads:
                params[f"heads__{name}"] = head
                if hasattr(head, "get_params"):
                    for key, value in head.get_params(deep=True).items():
                        params[f"heads__{name}__{key}"] = value
        if hasattr(self.trunk, "get_params"):
            for key, value in self.trunk.get_params(deep=True).items():
                params[f"trunk__{key}"] = value
        return params

    def set_params(self, **params):
        """Set parameters, including ``heads__<name>[__<param>]`` and ``trunk__<param>``.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : MultiTaskEstimator
        """
        heads = {k: v for k, v in params.items() if k.startswith("heads__")}
        rest = {k: v for k, v in params.items() if k not in heads}
        nested = sorted(k for k in params if k.startswith("trunk__"))
        if nested and params.get("trunk", self.trunk) is None:
            raise ValueError(
                f"Invalid parameter {nested[0]!r} for estimator {type(self).__name__}: "
                "trunk=None (the default MLPTrunk) has no parameters to set; pass "
                "trunk=MLPTrunk(...) with them instead."
            )
        if "heads" in rest:
            self.heads = rest.pop("heads")
        if heads:
            new = list(self.heads)
            names = [name for name, _ in new]
            for key, value in heads.items():
                name, _, sub = key[len("heads__"):].partition("__")
                if name not in names:
                    raise ValueError(
                        f"Invalid parameter {key!r} for estimator {type(self).__name__}: it "
                        f"has no head {name!r}; its heads are {names!r}."
                    )
                i = names.index(name)
                if sub:
                    new[i] = (name, new[i][1].set_params(**{sub: value}))
                else:
                    new[i] = (name, value)
            self.heads = new
        if rest:
            super().set_params(**rest)
        return self

    # -- the parts ---------------------------------------------------------------

    def _make_heads(self):
        if not isinstance(self.heads, list) or not all(
                isinstance(h, tuple) and len(h) == 2 and hasattr(h[1], "fit")
                and hasattr(h[1], "encode") for h in self.heads):
            raise ValueError(
                f"The 'heads' parameter of {type(self).__name__} must be a list of (name, "
                "head) tuples, heads from mtestimator.heads. Got "
                f"{self.heads!r} instead."
            )
        return [(name, clone(head)) for name, head in self.heads]

    def _make_trunk(self):
        return MLPTrunk() if self.trunk is None else clone(self.trunk)

    def _uncertainty(self):
        # SeparateNetworks has no loss_weights: no loss is shared
        return getattr(self, "loss_weights", None) == "auto"

    def _balancing(self):
        given = getattr(self, "loss_weights", None)
        return given if given in ("dwa", "gradnorm") else None

    def _gradient_method(self):
        return getattr(self, "gradient_method", None)  # SeparateNetworks: none

    def _loss_weights(self, warm=False):
        weights = super()._loss_weights(warm)
        if self._balancing() != "gradnorm":
            return weights
        if getattr(self.trunk_, "per_head", False):
            raise ValueError(
                f"loss_weights='gradnorm' balances the heads' gradient norms at the trunk's "
                f"last shared layer, but {type(self.trunk_).__name__} gives each head its own "
                "features. Use loss_weights='dwa' or 'auto' with it, or a shared trunk such "
                "as MLPTrunk.")
        last = {n: self.history_.get(f"{n}_loss_weight", [None])[-1] for n in weights} \
            if warm else {}
        if all(v is not None for v in last.values()) and last:
            return last  # partial_fit: where the last fit left them
        total = sum(weights.values())  # the heads' loss_weight, summing to the heads' number
        return {n: len(weights) * w / total for n, w in weights.items()}

    def _initial_losses(self, warm):
        if not warm or self._balancing() != "gradnorm":
            return None
        return {n: self.history_[f"{n}_loss"][0] for n, _ in self.heads_}

    @property
    def named_heads_(self):
        """The fitted heads by name."""
        check_is_fitted(self, "model_")
        return dict(self.heads_)

    def _sk_visual_block_(self):
        from ._diagram import visual_block

        return visual_block(self)

    @available_if(_has_probabilities)
    def predict_proba(self, X):
        """Probabilities of the classification and multi-label heads.

        Parameters
        ----------
        X : array-like

        Returns
        -------
        proba : ndarray or list of ndarray
            With one head: its probabilities, ``(n_samples, n_classes)`` or
            ``(n_samples, n_labels)``. With several heads: a list, one array
            per classification or multi-label head, in head order.
        """
        probas = self._proba_all(X)
        return probas[0] if len(self.heads_) == 1 else probas
