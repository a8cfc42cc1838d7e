"""Sequences: an LSTM joint network vs an MLP joint network on flattened
windows vs separate single-task LSTM networks, on generated series.

"separate LSTMs" is SeparateNetworks with the joint LSTM's heads and trunk
(LSTM(32), he_normal, learning rate 0.005, the same epochs and seed): one
network per head, each trained on its own loss.

make_multitask_series(1000 series, 20 steps, 1 channel, random_state=0):
predict the next value (MAE) and whether the series is falling (accuracy).
KFold(5, shuffle, random_state=0), identical splits; each contender is a
Pipeline with SequenceStandardScaler. "last value" is the naive forecast
(next value = last observed value), for scale.
"""

import numpy as np
from sklearn.metrics import accuracy_score, mean_absolute_error
from sklearn.model_selection import KFold
from sklearn.pipeline import FunctionTransformer, make_pipeline

from mtestimator import JointRegressorClassifier, SeparateNetworks
from mtestimator.datasets import make_multitask_series
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.preprocessing import SequenceStandardScaler
from mtestimator.trunks import RecurrentTrunk

from ._harness import paired_wins, run_comparison, save_outputs, summarize

HIGHER_IS_BETTER = {"mae": False, "accuracy": True, "fit_s": False}


class _LastValue:
    def predict(self, X):
        return np.column_stack([X[:, -1, 0], np.zeros(len(X))])


def contenders(epochs):
    kw = {"epochs": epochs, "learning_rate": 0.005, "random_state": 0}

    lstm = make_pipeline(SequenceStandardScaler(), JointRegressorClassifier(
        (32,), trunk="lstm", **kw))
    separate = make_pipeline(SequenceStandardScaler(), SeparateNetworks(
        heads=[("regression", RegressionHead(0)), ("classification", ClassificationHead(1))],
        trunk=RecurrentTrunk((32,), cell="lstm", kernel_initializer="he_normal"), **kw))

    flat = make_pipeline(SequenceStandardScaler(), FunctionTransformer(
        lambda X: X.reshape(len(X), -1)), JointRegressorClassifier((20, 10), **kw))
    return {"joint LSTM": lstm, "joint MLP (flattened)": flat,
            "separate LSTMs": separate, "last value": lambda X, y: _LastValue()}


def evaluate(predictor, X, y):
    pred = predictor.predict(X)
    return {"mae": mean_absolute_error(y[:, 0], pred[:, 0].astype(float)),
            "accuracy": accuracy_score(y[:, 1], pred[:, 1].astype(float))}


def data():
    """The generated series: X (1000, 20, 1), y (next value, falling)."""
    return make_multitask_series(n_series=1000, n_timesteps=20, random_state=0)


def benchmark(n_splits=5, epochs=60, out="benchmarks/results", progress=True, n_jobs=None):
    X, y = data()
    cv = KFold(n_splits=n_splits, shuffle=True, random_state=0)
    df = run_comparison("sequences", contenders(epochs), X, y, cv, evaluate, progress=progress,
                        n_jobs=n_jobs)
    table = summarize(df, HIGHER_IS_BETTER)
    save_outputs(df, table, out, "sequences", ["mae", "accuracy"])
    lines = [f"\n## sequences ({df.fold.nunique()} folds, {epochs} epochs)\n", table.to_markdown()]
    for a, b in (("joint LSTM", "separate LSTMs"), ("joint LSTM", "joint MLP (flattened)")):
        for metric, hib in (("mae", False), ("accuracy", True)):
            wins, n, mean = paired_wins(df, a, b, metric, hib)
            lines.append(f"\n{a} beats {b} on {metric}: {wins}/{n} folds "
                         f"(mean advantage {mean:+.4f})")
    return df, "\n".join(lines)
