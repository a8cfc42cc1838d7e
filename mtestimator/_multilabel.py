"""MultiLabelMLPClassifier: one sigmoid unit per label on a shared MLP."""

import numbers

import numpy as np
import scipy.sparse as sp

from ._compat import Interval, StrOptions
from ._presets import BasePreset
from .heads import MultiLabelHead, _is_label_collections

from .persistence.estimator_state import HeadCopy
from .persistence.spec import register

__all__ = ["MultiLabelMLPClassifier"]


@register
class MultiLabelMLPClassifier(BasePreset):
    """Multi-label classifier: a Keras MLP with one sigmoid unit per label.

    Each sample may have zero, one or several labels. The network is a Dense
    trunk and one sigmoid output per label trained with binary cross-entropy
    (never softmax: the labels do not compete). A preset of
    :class:`MultiTaskEstimator` with one
    :class:`~mtestimator.heads.MultiLabelHead`. The defaults are the
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
        Keras callbacks, deep-copied for each fit. Callbacks with epoch hooks
        only (``EarlyStopping``, ``ReduceLROnPlateau``, ``LearningRateScheduler``,
        ``History``, ``CSVLogger``, ``TerminateOnNaN``, ``ModelCheckpoint`` saving
        each epoch, your own ``on_epoch_*``/``on_train_*`` callbacks) run on the
        compiled fast path, after every epoch; one with a per-batch or
        evaluation hook (``on_*_batch_*``, ``on_test_*``: e.g. ``TensorBoard``,
        ``ProgbarLogger``) sends training through Keras's own ``model.fit`` (the
        same batches in the same order, slower).
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, dropout, shuffling and the validation split, so a
        fit is reproducible. No global random state is read or changed.
    verbose : int, default=0
        0: silent; 1: a progress bar over epochs with the losses of each head
        (tqdm, on stderr); 2: one line per epoch (stdout). Ctrl-C stops a fit
        within about a second, leaving the estimator as it was.

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
        Per-epoch ``loss``, ``labels_loss`` and ``labels_binary_accuracy``
        (the share of labels right), and ``val_*`` with early stopping.
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

    _fitted_state = {"threshold_": HeadCopy("threshold_", "f"),
                     "pos_weight_": HeadCopy("pos_weight_", "f")}

    _parameter_constraints = {
        **BasePreset._parameter_constraints,
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

    # -- the head ---------------------------------------------------------------

    def _make_heads(self):
        return [("labels", MultiLabelHead(threshold=self.threshold,
                                          class_weight=self.class_weight))]

    def _check_y(self, y, reset):
        if reset and not _is_label_collections(y):
            shape = y.shape if sp.issparse(y) or hasattr(y, "shape") else np.shape(y)
            if len(shape) == 2 and shape[1] < 2:
                raise ValueError(
                    f"y has {shape[1]} label column; MultiLabelMLPClassifier needs at "
                    "least 2 labels. For one binary label use a binary classifier such "
                    "as sklearn.neural_network.MLPClassifier."
                )
        return y

    def _after_fit(self):
        head = self.heads_[0][1]
        self.threshold_, self.pos_weight_ = head.threshold_, head.pos_weight_

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
        return self._proba_all(X)[0]

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
        return super().predict(X)

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
        return super().score(X, y, sample_weight=sample_weight)
