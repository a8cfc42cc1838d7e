"""SeparateNetworks: the heads and trunk of MultiTaskEstimator, one network per head.

The "separate single-task models" side of every comparison: the same heads
and the same trunk as :class:`~mtestimator.MultiTaskEstimator`, and the
same fit sequence (``_joint = False`` in :mod:`~mtestimator._base`): each
head gets a network of its own (a fresh copy of the trunk and that head's
output layer and loss), trained by the same engine on the rows labelled for
that head, then kept as a scikeras ``KerasRegressor`` (regression heads) or
``KerasClassifier`` (classification and multi-label heads): see
:mod:`~mtestimator._scikeras`.
"""

from ._base import BaseMultiTask
from ._compat import HasMethods
from ._estimator import SCHEDULE_CONSTRAINTS, MultiTaskEstimator
from .persistence.estimator_state import History
from .persistence.spec import Rebuilt, register

__all__ = ["SeparateNetworks"]


@register
class SeparateNetworks(MultiTaskEstimator):
    """The heads and trunk of MultiTaskEstimator, one single-task network per head.

    Each head gets a network of its own: a fresh copy of the trunk's layers
    and that head's output layer, trained on that head's loss alone, for
    the same epochs, batch size and optimizer, and kept as a scikeras
    ``KerasRegressor`` (regression heads) or ``KerasClassifier``
    (classification and multi-label heads). It is the "separate single-task models" side of a
    comparison: give it the heads and trunk of a
    :class:`~mtestimator.MultiTaskEstimator` and ``cross_validate`` both on
    the same splits. Targets, predictions and scores are in the same layout
    as MultiTaskEstimator's, decoded by the same heads.

    It is a :class:`~mtestimator.MultiTaskEstimator` that trains one network
    per head, sharing its whole fit sequence (target splitting, zero-weight rows, head fitting and encoding,
    the early-stopping split, threshold tuning), its predictions and scores,
    and its ``heads__<name>__<param>`` / ``trunk__<param>`` parameters;
    ``loss_weights`` and ``gradient_method`` are left out, since no losses are summed.
    ``isinstance(est, MultiTaskEstimator)`` is therefore True; ``model_`` is
    None (there is no single network) and tells the two apart.

    Parameters
    ----------
    heads : list of (str, head) tuples
        The heads, named, as in MultiTaskEstimator. A head's
        ``loss_weight`` is not used: each network has one loss. Rows where a
        head has no label (missing labels: weight 0 for that head) are left
        out of that head's network's training.
    trunk : trunk, default=None
        The trunk copied into every network, from :mod:`mtestimator.trunks`;
        ``None`` means ``MLPTrunk()``. Text (string X) is not supported:
        scikeras takes numeric X only.
    optimizer : {"adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad"}, default="adam"
    learning_rate : float, default=0.001
    epochs : int, default=100
    batch_size : int, default=32
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (the same
        split as MultiTaskEstimator's, stratified on the first
        classification head's labels when it can be); each network stops
        when its own validation loss has not improved for
        ``n_iter_no_change`` epochs and keeps its best weights.
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
        Keras callbacks, deep-copied for each head's network. Callbacks with epoch hooks
        only (``EarlyStopping``, ``ReduceLROnPlateau``, ``LearningRateScheduler``,
        ``History``, ``CSVLogger``, ``TerminateOnNaN``, ``ModelCheckpoint`` saving
        each epoch, your own ``on_epoch_*``/``on_train_*`` callbacks) run on the
        compiled fast path, after every epoch; one with a per-batch or
        evaluation hook (``on_*_batch_*``, ``on_test_*``: e.g. ``TensorBoard``,
        ``ProgbarLogger``) sends training through Keras's own ``model.fit`` (the
        same batches in the same order, slower).
    random_state : int, RandomState instance or None, default=None
        Seeds each network's weights and dropout (a different seed per
        head, derived from this one), the batch order (the same for every
        head, and the same as MultiTaskEstimator's with this seed) and the
        validation split. No global random state is read or changed.
    verbose : int, default=0
        0: silent; 1: a progress bar over epochs per head's network (tqdm,
        on stderr); 2: one line per epoch (stdout). Ctrl-C stops a fit
        within about a second, leaving the estimator as it was.

    Attributes
    ----------
    estimators_ : list of (str, estimator) tuples
        One fitted scikeras estimator per head, in head order: a
        ``KerasRegressor`` for a regression head, a ``KerasClassifier``
        otherwise. Each one's ``model_`` is that head's network (outputs
        ``{name: raw output}``), its ``history_`` has ``loss`` (and
        ``val_loss``). They are internal: they take head-encoded targets and
        their ``predict`` returns raw network outputs; use this estimator's
        ``predict``, ``predict_head`` and ``predict_proba``.
    heads_ : list of (str, head) tuples
        The fitted clones of the heads.
    named_heads_ : dict of str to head
    trunk_ : trunk
        The trunk (a clone) of which every network has a copy.
    model_ : None
        There is no single network; each head's is
        ``estimators_[i][1].model_``.
    classes_ : ndarray
        With a single classification or multi-label head: its classes.
    history_ : dict of list of float
        Per-epoch ``<head>_loss`` and the head's metric (``<head>_accuracy``,
        ``<head>_binary_accuracy`` or ``<head>_r2``; and ``val_<head>_...`` with
        early stopping) of each head's network. There is no total ``loss``: no
        loss is shared. With early stopping the heads' lists may differ in
        length.
    n_iter_ : int
        Epochs run by the network that ran the most; each head's count is
        ``len(history_[f"{name}_loss"])``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names.
    input_shape_ : tuple of int

    See Also
    --------
    MultiTaskEstimator : the same heads and trunk, one shared network.

    Notes
    -----
    Each network trains with mtestimator's own loop (the compiled trainer
    MultiTaskEstimator uses; Keras's ``model.fit`` with callbacks), not
    scikeras's ``fit``, which shuffles with the global random state: fits
    are reproducible, and the fit times of the two estimators differ by the
    networks trained, not by the loop.

    scikeras is imported on the first fit (or unpickling), not with
    mtestimator; importing it replaces ``keras.Model.__reduce__`` and
    ``__deepcopy__`` for the whole process (its way of pickling models).

    ``save`` writes every head's network to one file that
    :func:`mtestimator.load` reads, as for every estimator.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mtestimator import SeparateNetworks
    >>> from mtestimator.heads import ClassificationHead, RegressionHead
    >>> from mtestimator.trunks import MLPTrunk
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 4))
    >>> Y = pd.DataFrame({"size": X[:, 0] * 3 + 1, "kind": np.where(X[:, 3] > 0, "a", "b")})
    >>> est = SeparateNetworks(
    ...     heads=[("size", RegressionHead(columns="size")),
    ...            ("kind", ClassificationHead(columns="kind"))],
    ...     trunk=MLPTrunk(hidden_layer_sizes=(8,)), epochs=3, random_state=0)
    >>> est.fit(X, Y).predict(X[:2]).columns.tolist()
    ['size', 'kind']
    >>> from scikeras.wrappers import KerasClassifier, KerasRegressor
    >>> [(name, isinstance(trainer, KerasRegressor), isinstance(trainer, KerasClassifier))
    ...  for name, trainer in est.estimators_]
    [('size', True, False), ('kind', False, True)]
    >>> sorted(est.history_), est.n_iter_
    (['kind_accuracy', 'kind_loss', 'size_loss', 'size_r2'], 3)
    """

    _joint = False  # one network per head, by the fit sequence of _base

    _fitted_state = {"estimators_": Rebuilt(),  # one network per head, in the file
                     "history_": History(per_head=True)}

    _parameter_constraints = {
        **BaseMultiTask._parameter_constraints,
        "heads": [list],
        "trunk": [HasMethods(["validate_X", "build"]), None],
        **SCHEDULE_CONSTRAINTS,
    }

    def __init__(self, heads, *, trunk=None, optimizer="adam", learning_rate=0.001,
                 epochs=100, batch_size=32, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, callbacks=None, random_state=None, verbose=0,
                 learning_rate_schedule=None, weight_decay=None):
        self.heads = heads
        self.trunk = trunk
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
