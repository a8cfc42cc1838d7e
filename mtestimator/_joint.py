"""JointRegressorClassifier: a regression head and a classification head."""

import numbers

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from ._compat import StrOptions
from ._presets import BasePreset
from .heads import ClassificationHead, RegressionHead, _as_numpy, _is_number, \
    _missing_mask, _natural
from .heads._checks import check_storable

from .persistence.spec import Array, register

__all__ = ["JointRegressorClassifier"]

REGRESSION, CLASSIFICATION = "regression", "classification"


@register
class JointRegressorClassifier(BasePreset):
    """One network, two heads: a number and a class from the same input.

    A Dense trunk shared by a linear regression head (mean squared error)
    and a classification head (softmax with sparse categorical
    cross-entropy; one sigmoid unit with binary cross-entropy for two
    classes), trained together on the sum of the two losses. The defaults are
    the reference network: ``Dense(20) -> Dense(10)``, relu, ``he_normal``,
    Adam, 150 epochs, batches of 32.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(20, 10)
        Units of each hidden Dense layer of the shared trunk.
    trunk : {"mlp", "lstm", "gru", "conv1d"}, default="mlp"
        The shared trunk. ``"mlp"``: Dense layers on 2-D X. The others take
        sequences, 3-D X ``(n_samples, timesteps, channels)`` (2-D X is read
        as one channel): stacked LSTM or GRU layers (``hidden_layer_sizes``
        units each, tanh as in Keras), or causal Conv1D layers
        (``hidden_layer_sizes`` filters each, kernel 3) followed by global
        average pooling.
    activation : str, default="relu"
    kernel_initializer : str, default="he_normal"
    dropout : float in [0, 1), default=0.0
    optimizer : {"adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad"}, default="adam"
    learning_rate : float, default=0.001
    epochs : int, default=150
    batch_size : int, default=32
    loss_weights : (float, float) or "auto", default=(1.0, 1.0)
        Weights of the regression and classification losses in the total
        loss. ``"auto"`` learns them by homoscedastic uncertainty (Kendall,
        Gal and Cipolla, CVPR 2018): ``exp(-s_r) L_r + s_r + exp(-s_c) L_c +
        s_c`` with the log-variances ``s`` trained with the network.
    scale_regression_target : bool, default=True
        Standardise the regression target inside the estimator (mean 0, std
        1) so its loss is on the scale of the classification loss;
        predictions come back in the original units. On abalone it lowers the
        test MAE (see the benchmarks), hence the default.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified on
        the class when every class has two members), stop when the total
        validation loss has not improved for ``n_iter_no_change`` epochs and
        keep the best weights.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int, default=10
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
        Seeds the weights, shuffling and the validation split; no global
        random state is read or changed.
    verbose : int, default=0
        0: silent; 1: a progress bar over epochs with the losses of each head
        (tqdm, on stderr); 2: one line per epoch (stdout). Ctrl-C stops a fit
        within about a second, leaving the estimator as it was.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels of the classification head.
    target_names_ : ndarray of shape (2,)
        Names of y's columns when y was a DataFrame, else
        ``["regression", "classification"]``.
    model_ : keras.Model
        The trained network; outputs ``"regression"`` and ``"classification"``.
    history_ : dict of list of float
        Per-epoch ``loss`` (what was minimised), ``regression_loss``,
        ``classification_loss`` (each head's own loss, unweighted), the heads'
        metrics ``regression_r2`` and ``classification_accuracy``, and
        ``val_*`` with early stopping; with ``loss_weights="auto"`` also
        ``<head>_log_variance``, the learned ``s`` of ``loss = sum(exp(-s) L + s)``.
    n_iter_ : int
    n_features_in_ : int
        Columns of X (timesteps for sequence trunks).
    input_shape_ : tuple of int
        Shape of one sample: ``(n_features,)`` or ``(timesteps, channels)``.
    feature_names_in_ : ndarray of shape (n_features_in_,)

    See Also
    --------
    mtestimator.metrics.make_head_scorer : score one head in a grid search.
    MultiLabelMLPClassifier : several binary labels from one network.

    Notes
    -----
    ``score`` is the mean of the regression head's R² and the classification
    head's accuracy: both are 1 for a perfect model and scale-free, so a
    grid search with the default scoring weighs the heads evenly. Use
    :func:`~mtestimator.metrics.make_head_scorer` for anything else.

    Examples
    --------
    >>> import numpy as np
    >>> from mtestimator import JointRegressorClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = np.column_stack([X[:, 0] * 3 + 1, np.where(X[:, 1] > 0, "up", "down")])
    >>> est = JointRegressorClassifier(epochs=30, random_state=0).fit(X, y)
    >>> est.predict(X[:2]).shape, est.predict_proba(X[:2]).shape
    ((2, 2), (2, 2))
    >>> est.classes_.tolist()
    ['down', 'up']
    """

    _fitted_state = {"target_names_": Array()}

    _parameter_constraints = {
        **BasePreset._parameter_constraints,
        "loss_weights": [StrOptions({"auto"}), tuple, list],
        "scale_regression_target": ["boolean"],
    }

    def __init__(self, hidden_layer_sizes=(20, 10), *, trunk="mlp", activation="relu",
                 kernel_initializer="he_normal", dropout=0.0, optimizer="adam",
                 learning_rate=0.001, epochs=150, batch_size=32, loss_weights=(1.0, 1.0),
                 scale_regression_target=True, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, callbacks=None,
                 random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.trunk = trunk
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.loss_weights = loss_weights
        self.scale_regression_target = scale_regression_target
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    # -- the heads ---------------------------------------------------------------

    def _pair(self):
        if isinstance(self.loss_weights, str):
            return 1.0, 1.0
        weights = self.loss_weights
        if not (len(weights) == 2 and all(
                isinstance(w, numbers.Real) and np.isfinite(w) and w >= 0 for w in weights)
                and sum(weights) > 0):
            raise ValueError(
                "The 'loss_weights' parameter of JointRegressorClassifier must be "
                "'auto' or a pair of non-negative floats (regression, "
                f"classification), not both zero. Got {self.loss_weights!r} instead."
            )
        return float(weights[0]), float(weights[1])

    def _make_heads(self):
        reg, clf = self._pair()
        return [(REGRESSION, RegressionHead(0, scale=self.scale_regression_target,
                                            loss_weight=reg)),
                (CLASSIFICATION, ClassificationHead(1, loss_weight=clf))]

    def _uncertainty(self):
        return self.loss_weights == "auto"

    def _check_y(self, y, reset):
        names = None
        if isinstance(y, pd.DataFrame):
            names = np.asarray(y.columns)
            columns = [_as_numpy(y.iloc[:, i]) for i in range(y.shape[1])]
        else:
            arr = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
            if arr.ndim != 2:
                raise ValueError(
                    "y must have 2 columns (regression target, class label); got an "
                    f"array of shape {arr.shape}. Stack them with "
                    "np.column_stack([y_regression, y_class])."
                )
            columns = [arr[:, i] for i in range(arr.shape[1])]
        if len(columns) != 2:
            raise ValueError(
                f"y must have 2 columns (regression target, class label); got "
                f"{len(columns)} columns."
            )
        check_storable(RegressionHead(0), columns[0])  # no dates: they would be ints
        values = np.asarray(columns[0])
        if values.dtype == object:  # None / pd.NA: a missing value
            values = np.where(_missing_mask(values), np.nan, values)
        try:
            target = values.astype(np.float64)
        except (TypeError, ValueError):
            bad = next(v for v in values if not _is_number(v))
            raise ValueError(
                "The regression target (column 0 of y) must be numeric; got "
                f"{bad!r}. Put the number in column 0 and the class label in column 1."
            ) from None
        if np.isinf(target).any():
            raise ValueError("The regression target (column 0 of y) contains infinity; "
                             "use NaN for a missing value.")
        labels = np.asarray(columns[1])
        kinds = {isinstance(v, str) for v in labels} if labels.dtype == object else set()
        if (labels.dtype != object or not _missing_mask(labels).any()) and len(kinds) < 2:
            labels = _natural(labels)  # mixed strings and numbers: the head says so
        if reset:
            self.target_names_ = names if names is not None else np.array(
                [REGRESSION, CLASSIFICATION])
        out = np.empty((len(target), 2), dtype=object)
        out[:, 0], out[:, 1] = target, labels
        return out

    def _after_fit(self):
        self.classes_ = self.heads_[1][1].classes_

    @property
    def loss_weights_(self):
        """The effective loss weights: fixed, or ``exp(-s)`` learned by ``"auto"``."""
        check_is_fitted(self, "model_")
        if self.loss_weights != "auto":
            return np.asarray(self.loss_weights, dtype=float)
        return np.array([float(np.exp(-np.asarray(
            self.model_.get_layer(f"{n}_uncertainty").log_var)))
            for n in (REGRESSION, CLASSIFICATION)])

    # -- prediction -----------------------------------------------------------

    def predict_regression(self, X):
        """Predictions of the regression head, in the target's units.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self.predict_head(X, REGRESSION)

    def predict_classification(self, X):
        """Class labels predicted by the classification head.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self.predict_head(X, CLASSIFICATION)

    def predict_proba(self, X):
        """Class probabilities of the classification head.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to one.
        """
        return self._predict_head_proba(X, CLASSIFICATION)

    def predict(self, X):
        """Both predictions, in the layout of y.

        Returns
        -------
        y_pred : ndarray of shape (n_samples, 2)
            Column 0 the regression value, column 1 the class label (a
            float array when the labels are numbers, else an object array).
        """
        return super().predict(X)

    def score(self, X, y, sample_weight=None):
        """Mean of the regression R² and the classification accuracy.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples, 2)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            ``(r2 + accuracy) / 2``; 1 for a perfect model.
        """
        return super().score(X, y, sample_weight=sample_weight)
