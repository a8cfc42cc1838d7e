"""MultiLabelMLPClassifier: one sigmoid unit per label on a shared MLP."""

import numbers
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import MultiTaskWrapper
from ._heads import MultiLabelHead
from ._training import predict_network

__all__ = ["MultiLabelMLPClassifier"]

_THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def _is_label_collections(y):
    """True for a list of label collections (as MultiLabelBinarizer takes)."""
    if isinstance(y, (np.ndarray, pd.DataFrame, pd.Series)) or sp.issparse(y):
        return False
    try:
        items = list(y)
    except TypeError:
        return False
    if not items or not all(isinstance(i, (set, frozenset, list, tuple)) for i in items):
        return False
    if any(isinstance(i, (set, frozenset)) for i in items):
        return True
    return len({len(i) for i in items}) > 1


def _f1_thresholds(y_true, proba):
    """Per label, the threshold of the grid that maximises F1 (ties: nearest 0.5)."""
    y_true = np.asarray(y_true, dtype=bool)
    order = np.argsort(np.abs(_THRESHOLD_GRID - 0.5), kind="stable")
    grid = _THRESHOLD_GRID[order]
    pred = proba[:, :, None] > grid[None, None, :]
    tp = np.sum(pred & y_true[:, :, None], axis=0)
    fp = np.sum(pred & ~y_true[:, :, None], axis=0)
    fn = np.sum(~pred & y_true[:, :, None], axis=0)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return grid[np.argmax(f1, axis=1)]


class MultiLabelMLPClassifier(ClassifierMixin, MultiTaskWrapper):
    """Multi-label classifier: a Keras MLP with one sigmoid unit per label.

    Each sample may have zero, one or several labels. The network is a Dense
    trunk and one sigmoid output per label trained with binary cross-entropy
    (never softmax: the labels do not compete). The defaults are the
    reference network: ``Dense(20, relu, he_uniform) -> Dense(n_labels,
    sigmoid)``, Adam, 100 epochs, batches of 32.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(20,)
        Units of each hidden Dense layer of the trunk.
    trunk : {"mlp", "lstm", "gru", "conv1d"}, default="mlp"
        The shared trunk. ``"mlp"``: Dense layers on 2-D X. The others take
        sequences, 3-D X ``(n_samples, timesteps, channels)`` (2-D X is read
        as one channel): stacked LSTM or GRU layers (``hidden_layer_sizes``
        units each, tanh as in Keras), or causal Conv1D layers
        (``hidden_layer_sizes`` filters each, kernel 3) followed by global
        average pooling.
    activation : str, default="relu"
        Activation of the hidden layers.
    kernel_initializer : str, default="he_uniform"
        Keras initializer of the hidden layers' weights.
    dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden layer.
    optimizer : {"adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad"}, default="adam"
    learning_rate : float, default=0.001
    epochs : int, default=100
        Passes over the training data (the most, with ``early_stopping``).
    batch_size : int, default=32
    threshold : float, array-like of shape (n_labels,) or "auto", default=0.5
        A label is predicted when its probability is above its threshold.
        ``"auto"`` tunes one threshold per label, on a grid from 0.05 to
        0.95, to maximise that label's F1: on the early-stopping validation
        set when ``early_stopping=True``, else on the training data.
    class_weight : None, "balanced" or array-like of shape (n_labels,), default=None
        Weight of the positive term of each label's loss. ``"balanced"`` uses
        ``n_negative / n_positive`` per label, so rare labels count as much as
        common ones.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        loss has not improved for ``n_iter_no_change`` epochs, and keep the
        best weights. The split comes from the data passed to ``fit`` only.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int, default=10
    callbacks : list of keras.callbacks.Callback, default=None
        Extra Keras callbacks for training.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, dropout, shuffling and the validation split, so a
        fit is reproducible. No global random state is read or changed.
    verbose : int, default=0
        Keras's training verbosity.

    Attributes
    ----------
    classes_ : ndarray of shape (n_labels,)
        Label names: the DataFrame's columns, the labels of a list of label
        collections, or ``0 .. n_labels - 1``.
    threshold_ : ndarray of shape (n_labels,)
        The threshold used by ``predict`` for each label.
    pos_weight_ : ndarray of shape (n_labels,) or None
        Weight of each label's positive term, from ``class_weight``.
    model_ : keras.Model
        The trained network.
    history_ : dict of list of float
        Per-epoch ``loss`` (and ``val_loss`` with early stopping).
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
        Columns of X (timesteps for sequence trunks).
    input_shape_ : tuple of int
        Shape of one sample: ``(n_features,)`` or ``(timesteps, channels)``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has string column names.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : scikit-learn's MLP, also multi-label.
    JointRegressorClassifier : a regression and a classification head.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from mtestimator import MultiLabelMLPClassifier
    >>> X, y = make_multilabel_classification(n_samples=200, n_features=10,
    ...                                       n_classes=3, random_state=0)
    >>> clf = MultiLabelMLPClassifier(epochs=30, learning_rate=0.01, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.predict(X[:2]).shape, clf.predict_proba(X[:2]).shape
    ((2, 3), (2, 3))
    >>> bool(clf.score(X, y) > 0.3)
    True
    """

    _parameter_constraints = {
        **MultiTaskWrapper._parameter_constraints,
        "threshold": [Interval(numbers.Real, 0, 1, closed="both"), StrOptions({"auto"}),
                      "array-like"],
        "class_weight": [StrOptions({"balanced"}), "array-like", None],
    }

    def __init__(self, hidden_layer_sizes=(20,), *, trunk="mlp", activation="relu",
                 kernel_initializer="he_uniform", dropout=0.0, optimizer="adam",
                 learning_rate=0.001, epochs=100, batch_size=32, threshold=0.5,
                 class_weight=None, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, callbacks=None, random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.trunk = trunk
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.threshold = threshold
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    # -- targets -------------------------------------------------------------

    def _check_targets(self, y, reset):
        name = type(self).__name__
        columns = None
        if _is_label_collections(y):
            binarizer = MultiLabelBinarizer(classes=None if reset else self.classes_)
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                try:
                    y = binarizer.fit_transform(y)
                except UserWarning as exc:
                    raise ValueError(f"y has labels not seen in fit: {exc}") from None
            columns = binarizer.classes_
        elif isinstance(y, pd.DataFrame):
            columns = np.asarray(y.columns)
            y = y.to_numpy()
        elif sp.issparse(y):
            y = y.toarray()
        y = np.asarray(y)
        if y.ndim != 2:
            raise ValueError(
                f"y must be a 2-D binary indicator matrix of shape (n_samples, "
                f"n_labels) or a list of label collections; got an array of shape "
                f"{y.shape}. For a single target use a single-output classifier; "
                "to turn lists of labels into an indicator matrix use "
                "sklearn.preprocessing.MultiLabelBinarizer."
            )
        if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
            bad = np.unique(y[~np.isin(y, (0, 1))] if y.dtype.kind in "biuf" else y)[:5]
            raise ValueError(
                f"y must hold only 0 and 1 (one column per label); got values "
                f"{bad.tolist()!r}. Pass a binary indicator matrix, or a list of "
                "label sets such as [{'a'}, {'a', 'b'}, set()]."
            )
        y = y.astype(np.int64)
        if reset:
            if y.shape[1] < 2:
                raise ValueError(
                    f"y has {y.shape[1]} label column; {name} needs at least 2 "
                    "labels. For one binary label use a binary classifier such "
                    "as sklearn.neural_network.MLPClassifier."
                )
            counts = y.sum(axis=0)
            constant = np.flatnonzero((counts == 0) | (counts == len(y)))
            if len(constant):
                warnings.warn(
                    f"Label columns {constant.tolist()} are all 0 or all 1 in y; "
                    "the network can only learn to predict them constant.",
                    UserWarning,
                )
            self.classes_ = columns if columns is not None else np.arange(y.shape[1])
        elif y.shape[1] != len(self.classes_):
            raise ValueError(
                f"y has {y.shape[1]} label columns, but {name} was fitted with "
                f"{len(self.classes_)} labels {self.classes_.tolist()!r}."
            )
        elif columns is not None and not np.array_equal(columns, self.classes_):
            raise ValueError(
                f"y has columns {columns.tolist()!r}, but {name} was fitted with "
                f"labels {self.classes_.tolist()!r}."
            )
        return y

    def _make_heads(self):
        head = MultiLabelHead("labels", classes=self.classes_, class_weight=self.class_weight)
        return [head], [None]

    def _after_targets(self):
        self.pos_weight_ = self.target_encoder_.heads[0].pos_weight_
        self._fixed_threshold()  # fail before training, not after

    # -- thresholds ----------------------------------------------------------

    def _fixed_threshold(self):
        if isinstance(self.threshold, str):  # "auto", tuned after training
            return None
        threshold = np.asarray(self.threshold, dtype=np.float64).reshape(-1)
        n_labels = len(self.classes_)
        if threshold.size == 1:
            threshold = np.repeat(threshold, n_labels)
        if threshold.shape != (n_labels,) or not np.all((threshold >= 0) & (threshold <= 1)):
            raise ValueError(
                f"The 'threshold' parameter of {type(self).__name__} must be a "
                f"float in [0, 1], {n_labels} such floats (one per label) or "
                f"'auto'. Got {self.threshold!r} instead."
            )
        return threshold

    def _after_fit(self, X, y, validation):
        threshold = self._fixed_threshold()
        if threshold is None:
            X_t, y_t = (X, y) if validation is None else validation[:2]
            proba = self.target_encoder_.heads[0].predict_proba(
                predict_network(self.model_, X_t, self._dense_layers)["labels"])
            threshold = _f1_thresholds(y_t["labels"], proba)
        self.threshold_ = threshold

    # -- prediction ----------------------------------------------------------

    def predict_proba(self, X):
        """Probability of each label, independently of the others.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_labels)
            Rows need not sum to one.
        """
        raw = self._predict_raw(X)
        return self.target_encoder_.heads[0].predict_proba(raw["labels"])

    def predict(self, X):
        """Predicted labels as a binary indicator matrix.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples, n_labels)
            1 where the label's probability is above ``threshold_``.
        """
        raw = self._predict_raw(X)
        return self.target_encoder_.heads[0].decode(raw["labels"], self.threshold_)

    def score(self, X, y, sample_weight=None):
        """Subset accuracy: the fraction of samples with every label right.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : binary indicator matrix or list of label collections
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "model_")
        y = self._check_targets(y, reset=False)
        head = self.target_encoder_.heads[0]
        return float(head.metric(y, self.predict(X), sample_weight=sample_weight))
