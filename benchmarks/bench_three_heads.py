"""Three heads: one joint network vs one network per head (SeparateNetworks).

A generated problem whose three tasks share latent factors, so a shared trunk
can help: ``make_three_heads`` (2,000 rows, 30 features) draws latent factors
``z``, shows them only through a noisy random linear mixture (20 features)
next to 10 pure-noise features, and derives every target from the same
hidden nonlinear features ``h = tanh(z B)``:

- ``size``: two numbers, linear in ``h`` plus noise (a two-output regression
  head; metrics R² averaged over the two outputs, and MAE);
- ``species``: one of three classes, the argmax of ``h C`` plus Gumbel noise
  (a classification head; accuracy);
- ``tags``: three labels, ``h D`` plus logistic noise above 0 (a multi-label
  head; Hamming loss, macro F1).

Protocol: RepeatedKFold(5, 2, random_state=0), identical splits for every
contender, each a Pipeline with StandardScaler first. ``score`` is the
estimators' own score, the mean of the heads' default metrics (R², accuracy,
subset accuracy).

Contenders:
- joint: MultiTaskEstimator, the three heads on one MLPTrunk((64, 32));
- separate: SeparateNetworks, the same heads and trunk, the same epochs,
  batch size, learning rate and seed: one network per head;
- HGB per task: HistGradientBoosting, one model per target column, on one
  OpenMP thread (a reference for what the features allow; on a shared
  2-core machine, OpenMP's threads stall for minutes when other processes
  take the cores);
- dummy: mean, most frequent class and label frequencies (the floor).

Fit seconds are measured the same way for all; both networks train with
mtestimator's compiled trainer, so the ratio is the cost of three networks
against one.
"""

import argparse

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, mean_absolute_error, \
    r2_score
from sklearn.model_selection import RepeatedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from mtestimator import MultiTaskEstimator, SeparateNetworks
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import MLPTrunk

from ._harness import count_params, paired_wins, predict_ms, run_comparison, save_outputs, \
    summarize

NAME = "three_heads"
SIZE, SPECIES, TAGS = ["size_0", "size_1"], "species", ["tag_0", "tag_1", "tag_2"]
HIGHER_IS_BETTER = {"score": True, "r2": True, "mae": False, "accuracy": True,
                    "hamming_loss": False, "f1_macro": True, "fit_s": False,
                    "predict_1000_ms": False, "params": False}


def make_three_heads(n_samples=2000, n_latent=5, n_hidden=8, n_mixed=20, n_noise=10,
                     noise=1.0, random_state=0):
    """Features and a three-head target (DataFrame) driven by shared latent factors.

    Returns
    -------
    X : ndarray of shape (n_samples, n_mixed + n_noise)
    y : DataFrame with columns size_0, size_1 (float), species ("a", "b", "c"),
        tag_0, tag_1, tag_2 (0/1)
    """
    rng = check_random_state(random_state)
    z = rng.normal(size=(n_samples, n_latent))
    mixing = rng.normal(size=(n_latent, n_mixed))
    X = np.hstack([z @ mixing + noise * rng.normal(size=(n_samples, n_mixed)),
                   rng.normal(size=(n_samples, n_noise))])
    h = np.tanh(z @ rng.normal(size=(n_latent, n_hidden)))  # the shared features

    def linear(k):
        return h @ rng.normal(size=(n_hidden, k))

    size = linear(2) + 0.5 * rng.normal(size=(n_samples, 2))
    species = np.array(["a", "b", "c"])[np.argmax(linear(3) + rng.gumbel(size=(n_samples, 3)),
                                                  axis=1)]
    tags = (linear(3) + rng.logistic(size=(n_samples, 3)) > 0).astype(int)
    y = pd.DataFrame({SIZE[0]: size[:, 0], SIZE[1]: size[:, 1], SPECIES: species,
                      **{t: tags[:, i] for i, t in enumerate(TAGS)}})
    return X, y


def heads():
    return [("size", RegressionHead(columns=SIZE)),
            ("species", ClassificationHead(columns=SPECIES)),
            ("tags", MultiLabelHead(columns=TAGS))]


class _PerTask:
    """One scikit-learn model per target column, answering in y's layout."""

    def __init__(self, regressor, classifier):
        self.regressor, self.classifier = regressor, classifier

    def fit(self, X, y):
        with threadpool_limits(1, user_api="openmp"):
            self.models_ = {c: make_pipeline(StandardScaler(), clone(
                self.regressor if c in SIZE else self.classifier)).fit(X, y[c])
                for c in y.columns}
        self.columns_ = list(y.columns)
        return self

    def predict(self, X):
        with threadpool_limits(1, user_api="openmp"):
            return pd.DataFrame({c: self.models_[c].predict(X) for c in self.columns_})

    def score(self, X, y):
        pred = self.predict(X)
        return float(np.mean([r2_score(y[SIZE], pred[SIZE]),
                              accuracy_score(y[SPECIES], pred[SPECIES]),
                              accuracy_score(y[TAGS], pred[TAGS])]))


def contenders(epochs=100, seed=0, hidden=(64, 32)):
    common = {"trunk": MLPTrunk(hidden_layer_sizes=hidden), "epochs": epochs,
              "random_state": seed}

    def per_task(regressor, classifier):
        return lambda X, y: _PerTask(regressor, classifier).fit(X, y)

    return {
        "joint": make_pipeline(StandardScaler(), MultiTaskEstimator(heads(), **common)),
        "separate": make_pipeline(StandardScaler(), SeparateNetworks(heads(), **common)),
        "HGB per task": per_task(HistGradientBoostingRegressor(random_state=seed),
                                 HistGradientBoostingClassifier(random_state=seed)),
        "dummy": per_task(DummyRegressor(), DummyClassifier(strategy="prior")),
    }


def evaluate(predictor, X, y):
    pred = predictor.predict(X)
    tags_true, tags_pred = y[TAGS].to_numpy(), pred[TAGS].to_numpy().astype(int)
    return {
        "score": predictor.score(X, y),
        "r2": r2_score(y[SIZE], pred[SIZE]),
        "mae": mean_absolute_error(y[SIZE], pred[SIZE]),
        "accuracy": accuracy_score(y[SPECIES], pred[SPECIES]),
        "hamming_loss": hamming_loss(tags_true, tags_pred),
        "f1_macro": f1_score(tags_true, tags_pred, average="macro", zero_division=0),
        "predict_1000_ms": predict_ms(predictor.predict, X, 1000, repeats=5),
        "params": count_params(predictor) if hasattr(predictor, "steps") else np.nan,
    }


def benchmark(n_splits=5, n_repeats=2, epochs=100, n_samples=2000, out="benchmarks/results",
              progress=True, n_jobs=None):
    X, y = make_three_heads(n_samples=n_samples, random_state=0)
    cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
    df = run_comparison(NAME, contenders(epochs), X, y, cv, evaluate, progress=progress,
                        n_jobs=n_jobs)
    table = summarize(df, HIGHER_IS_BETTER)
    save_outputs(df, table, out, NAME, ["score", "r2", "accuracy", "f1_macro"])
    joint, separate = (df[df.contender == c] for c in ("joint", "separate"))
    lines = [f"\n## {NAME} ({df.fold.nunique()} folds, {epochs} epochs; {X.shape[0]} rows, "
             f"{X.shape[1]} features; heads: size (2 numbers), species (3 classes), "
             f"tags (3 labels))\n", table.to_markdown()]
    for metric, hib in (("score", True), ("r2", True), ("mae", False), ("accuracy", True),
                        ("hamming_loss", False), ("f1_macro", True)):
        wins, n, mean = paired_wins(df, "joint", "separate", metric, hib)
        lines.append(f"\njoint beats separate on {metric}: {wins}/{n} folds "
                     f"(mean advantage {mean:+.4f})")
    lines.append(f"\nfit time: joint {joint.fit_s.mean():.2f} s, separate "
                 f"{separate.fit_s.mean():.2f} s per fold (separate/joint "
                 f"{separate.fit_s.sum() / joint.fit_s.sum():.2f}x)")
    return df, "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    print(benchmark(args.splits, args.repeats, args.epochs, out=args.out)[1])


if __name__ == "__main__":
    main()
