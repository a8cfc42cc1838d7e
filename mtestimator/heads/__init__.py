"""Heads: one output of a multi-task network each.

A head is a scikit-learn estimator (``get_params``, ``set_params``,
``clone``) that owns one task: which columns of ``y`` it takes, how those
targets are validated and encoded for Keras, its output layer and loss, how
the network's output is decoded back into predictions, its default metric,
any tuning after training (thresholds) and its weight in the total loss.

:class:`~mtestimator.MultiTaskEstimator` clones its heads at ``fit``; the
fitted clones live in its ``heads_`` attribute. Nothing here imports Keras:
losses are named by string, or built when the network is built.

The protocol a head implements (used by the estimator, in this order):

``fit(y, sample_weight)``
    learn what the targets define (classes, scaling, label weights).
``transform_targets(y)``
    validate targets against what ``fit`` learned, in their natural form.
``encode(y_natural)``
    ``(array for Keras, per-row loss weights)``.
``output_units_``, ``output_activation_``, ``build_loss()``
    the head's Dense output layer and its loss.
``decode(raw)``, ``predict_proba(raw)``
    network output back to predictions.
``tune(y_natural, raw)``, ``tunes()``
    after training (e.g. ``threshold="auto"``); the fit predicts on the
    tuning rows only for the heads whose ``tunes()`` is True.
``score_targets(y_natural, y_pred, sample_weight)``
    the head's default metric (greater is better).
``history_metric``
    the metric the network reports as it trains (``"accuracy"``,
    ``"binary_accuracy"``, ``"r2"``; None: none), ``<name>_<history_metric>``
    in ``history_`` and the progress output.
"""


from ._base import BaseHead
from ._classification import ClassificationHead
from ._multilabel import MultiLabelHead
from ._regression import RegressionHead

# private helpers that other modules (and tests) import from mtestimator.heads
from ._base import _COLUMNS, _FLOAT32_MAX, _THRESHOLD_GRID  # noqa: F401
from ._base import _as_numpy, _is_missing, _is_number, _missing_mask, _natural  # noqa: F401
from ._multilabel import _is_label_collections, f1_thresholds  # noqa: F401

__all__ = ["BaseHead", "ClassificationHead", "MultiLabelHead", "RegressionHead"]
