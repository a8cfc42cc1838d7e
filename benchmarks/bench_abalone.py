"""Abalone: one joint network vs separate single-task models vs alternatives.

Rings as a number (MAE, RMSE) and as a class (accuracy, accuracy within ±1
ring), plus the agreement between a contender's two predictions (rounded
regression value == class), fit seconds, predict milliseconds for 1 and 1,000
rows, and trainable parameters. Every contender is a Pipeline with the same
preprocessing, on identical RepeatedKFold splits; with and without the
``sex`` column (one-hot encoded when used).

Contenders:
- joint: JointRegressorClassifier, defaults (reference network);
- separate keras: SeparateNetworks with the joint network's heads and trunk
  (the same Dense(20) -> Dense(10) trunk, he_normal, Adam, batch 32, the
  same epochs and seed): one network per head, each trained on its own loss
  (the same batches in the same order as the joint network);
- sklearn MLP: MLPRegressor + MLPClassifier of the same shape (20, 10),
  Adam, batch 32, 150 epochs;
- HGB: HistGradientBoostingRegressor + HistGradientBoostingClassifier.
"""

import argparse

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, mean_absolute_error, root_mean_squared_error
from sklearn.model_selection import RepeatedKFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mtestimator import JointRegressorClassifier, SeparateNetworks
from mtestimator.datasets import load_abalone
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.trunks import MLPTrunk

from ._harness import count_params, paired_wins, predict_ms, run_comparison, save_outputs, summarize

HIGHER_IS_BETTER = {"mae": False, "rmse": False, "accuracy": True, "within_1": True,
                    "agreement": True, "fit_s": False, "predict_1_ms": False,
                    "predict_1000_ms": False, "params": False}


def _pre(with_sex):
    if with_sex:
        return ColumnTransformer([("sex", OneHotEncoder(handle_unknown="ignore"), ["sex"])],
                                 remainder="passthrough")
    return ColumnTransformer([("drop", "drop", ["sex"])], remainder="passthrough")


class _Pair:
    """Two fitted single-task pipelines answering like the joint estimator."""

    def __init__(self, regressor, classifier):
        self.regressor, self.classifier = regressor, classifier

    def predict(self, X):
        return np.column_stack([self.regressor.predict(X),
                                self.classifier.predict(X).astype(float)])

    def params(self):
        return count_params(self.regressor) + count_params(self.classifier)


def separate_networks(epochs, seed):
    """SeparateNetworks with JointRegressorClassifier's heads and default trunk."""
    return SeparateNetworks(
        heads=[("regression", RegressionHead(0)), ("classification", ClassificationHead(1))],
        trunk=MLPTrunk(hidden_layer_sizes=(20, 10), kernel_initializer="he_normal"),
        epochs=epochs, random_state=seed)


def contenders(with_sex, epochs, seed):
    keras_kw = {"epochs": epochs, "random_state": seed}

    def joint(X, y):
        return make_pipeline(_pre(with_sex), JointRegressorClassifier(**keras_kw)).fit(X, y)

    def pair(regressor, classifier):
        def fit(X, y):
            reg = make_pipeline(_pre(with_sex), regressor).fit(X, y[:, 0])
            clf = make_pipeline(_pre(with_sex), classifier).fit(X, y[:, 1].astype(int))
            return _Pair(reg, clf)
        return fit

    mlp = {"hidden_layer_sizes": (20, 10), "batch_size": 32, "max_iter": epochs,
           "random_state": seed}
    return {
        "joint keras": joint,
        "separate keras": make_pipeline(_pre(with_sex), separate_networks(epochs, seed)),
        "sklearn MLP pair": pair(MLPRegressor(**mlp), MLPClassifier(**mlp)),
        # boosting iterations: the default 100, fewer only where epochs are (--smoke)
        "HGB pair": pair(HistGradientBoostingRegressor(random_state=seed,
                                                       max_iter=min(100, epochs)),
                         HistGradientBoostingClassifier(random_state=seed,
                                                        max_iter=min(100, epochs))),
    }


def evaluate(predictor, X, y):
    pred = predictor.predict(X)
    value, label = pred[:, 0].astype(float), pred[:, 1].astype(float)
    true_value, true_label = y[:, 0].astype(float), y[:, 1].astype(float)
    return {
        "mae": mean_absolute_error(true_value, value),
        "rmse": root_mean_squared_error(true_value, value),
        "accuracy": accuracy_score(true_label, label),
        "within_1": float(np.mean(np.abs(label - true_label) <= 1)),
        "agreement": float(np.mean(np.round(value) == label)),
        "predict_1_ms": predict_ms(predictor.predict, X, 1),
        "predict_1000_ms": predict_ms(predictor.predict, X, 1000),
        "params": predictor.params() if hasattr(predictor, "params") else count_params(predictor),
    }


def data():
    """X (a DataFrame with ``sex``) and y: rings as a number (column 0) and as a class (1)."""
    frame = load_abalone(as_frame=True)
    return frame.data, np.column_stack([frame.target.to_numpy(float), frame.target.to_numpy()])


def benchmark(n_splits=5, n_repeats=2, epochs=150, out="benchmarks/results", progress=True, n_jobs=None):
    X, y = data()
    cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
    frames, lines = [], []
    for with_sex in (False, True):
        name = f"abalone_{'with' if with_sex else 'without'}_sex"
        df = run_comparison(name, contenders(with_sex, epochs, seed=0), X, y, cv, evaluate,
                            progress=progress, n_jobs=n_jobs)
        table = summarize(df, HIGHER_IS_BETTER)
        save_outputs(df, table, out, name, ["mae", "accuracy", "agreement"])
        frames.append(df)
        lines.append(f"\n## {name} ({len(df.fold.unique())} folds, {epochs} epochs)\n")
        lines.append(table.to_markdown())
        for metric, hib in (("mae", False), ("accuracy", True), ("agreement", True)):
            wins, n, mean = paired_wins(df, "joint keras", "separate keras", metric, hib)
            lines.append(f"\njoint beats separate on {metric}: {wins}/{n} folds "
                         f"(mean advantage {mean:+.4f})")
    return pd.concat(frames), "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    print(benchmark(args.splits, args.repeats, args.epochs, args.out)[1])


if __name__ == "__main__":
    main()
