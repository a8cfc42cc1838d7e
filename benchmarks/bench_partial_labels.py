"""Partial labels: one joint network on every row vs one network per task.

The three-head problem of ``bench_three_heads`` (shared latent factors), with
each task missing a different share of its labels, independently per row:
30% of the ``size`` values, 60% of the ``species`` classes, 45% of the
``tags`` rows. This is where a joint network should help most: every row
trains the shared trunk through whichever heads it has labels for.

Contenders (the same heads, trunk, epochs and seed; StandardScaler first):

- joint, all rows: MultiTaskEstimator on every row, missing labels masked;
- separate, labelled rows: SeparateNetworks, each head's network trained on
  the rows that have its labels (missing rows weigh zero in its loss);
- joint, complete rows: MultiTaskEstimator on the rows that have every label
  (what one would do without missing-label support: about 15% of the rows).

Every contender is scored on the test folds' full, unmasked targets.
Protocol: KFold(5, shuffle, random_state=0) on 2,000 rows.
"""

import argparse

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, mean_absolute_error, \
    r2_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mtestimator import MultiTaskEstimator, SeparateNetworks
from mtestimator.trunks import MLPTrunk

from ._harness import paired_wins, run_comparison, save_outputs, summarize
from .bench_three_heads import SIZE, SPECIES, TAGS, heads, make_three_heads

NAME = "partial_labels"
MISSING = {"size": 0.3, "species": 0.6, "tags": 0.45}
COLUMNS = {"size": SIZE, "species": [SPECIES], "tags": TAGS}
HIGHER_IS_BETTER = {"r2": True, "mae": False, "accuracy": True, "hamming_loss": False,
                    "f1_macro": True, "fit_s": False, "train_rows": False}


def make_partial(n_samples=2000, random_state=0):
    """X, the full targets, and a mask of missing labels (True: hidden from training)."""
    X, y = make_three_heads(n_samples=n_samples, random_state=random_state)
    rng = np.random.RandomState(random_state + 1)
    hidden = pd.DataFrame(False, index=y.index, columns=y.columns)
    for task, rate in MISSING.items():
        rows = rng.rand(len(y)) < rate
        hidden.loc[rows, COLUMNS[task]] = True
    both = hidden.all(axis=1)  # a row needs one label: give it its size back
    hidden.loc[both, SIZE] = False
    return X, y, hidden


def _masked(y, hidden):
    masked = y.copy()
    masked[SPECIES] = masked[SPECIES].astype(object)
    for col in y.columns:
        masked.loc[hidden[col].to_numpy(), col] = None if col == SPECIES else np.nan
    return masked


class _Partial(BaseEstimator):
    """Fit on the masked targets (hidden columns travel in y as ``hidden__*``);
    predict as the fitted estimator. An estimator, so that ``paired_comparison``
    (bench_sharing) clones it like any other."""

    def __init__(self, estimator, complete_rows_only=False):
        self.estimator, self.complete_rows_only = estimator, complete_rows_only

    def fit(self, X, y):
        truth = y[[c for c in y.columns if not c.startswith("hidden__")]]
        hidden = y[[f"hidden__{c}" for c in truth.columns]].set_axis(truth.columns, axis=1)
        masked = _masked(truth, hidden)
        if self.complete_rows_only:
            keep = ~hidden.any(axis=1).to_numpy()
            X, masked = X[keep], masked[keep]
        self.estimator_ = clone(self.estimator).fit(X, masked)
        self.train_rows_ = len(X)
        return self

    def predict(self, X):
        return self.estimator_.predict(X)


def contenders(epochs=100, seed=0, hidden=(64, 32)):
    common = {"trunk": MLPTrunk(hidden_layer_sizes=hidden), "epochs": epochs,
              "random_state": seed}
    joint = make_pipeline(StandardScaler(), MultiTaskEstimator(heads(), **common))
    return {
        "joint, all rows": _Partial(joint),
        "separate, labelled rows": _Partial(
            make_pipeline(StandardScaler(), SeparateNetworks(heads(), **common))),
        "joint, complete rows": _Partial(joint, complete_rows_only=True),
    }


def evaluate(predictor, X, y):
    truth = y[[c for c in y.columns if not c.startswith("hidden__")]]
    pred = predictor.predict(X)
    tags_true, tags_pred = truth[TAGS].to_numpy(), pred[TAGS].to_numpy().astype(int)
    return {
        "r2": r2_score(truth[SIZE], pred[SIZE]),
        "mae": mean_absolute_error(truth[SIZE], pred[SIZE]),
        "accuracy": accuracy_score(truth[SPECIES], pred[SPECIES]),
        "hamming_loss": hamming_loss(tags_true, tags_pred),
        "f1_macro": f1_score(tags_true, tags_pred, average="macro", zero_division=0),
        "train_rows": predictor.train_rows_,
    }


def data(n_samples=2000):
    """X, the full targets (scored) and ``hidden__<column>`` (True: hidden in training)."""
    X, y, hidden = make_partial(n_samples=n_samples)
    return X, pd.concat([y, hidden.add_prefix("hidden__")], axis=1)


def benchmark(n_splits=5, epochs=100, n_samples=2000, out="benchmarks/results",
              progress=True, n_jobs=None):
    X, targets = data(n_samples)
    cv = KFold(n_splits=n_splits, shuffle=True, random_state=0)
    df = run_comparison(NAME, contenders(epochs), X, targets, cv, evaluate, progress=progress,
                        n_jobs=n_jobs)
    table = summarize(df, HIGHER_IS_BETTER)
    save_outputs(df, table, out, NAME, ["r2", "accuracy", "f1_macro"])
    shares = ", ".join(f"{task} {rate:.0%}" for task, rate in MISSING.items())
    lines = [f"\n## {NAME} ({df.fold.nunique()} folds, {epochs} epochs; {X.shape[0]} rows; "
             f"missing labels: {shares}; scored on the full test targets)\n",
             table.to_markdown()]
    for other in ("separate, labelled rows", "joint, complete rows"):
        for metric, hib in (("r2", True), ("accuracy", True), ("f1_macro", True),
                            ("hamming_loss", False)):
            wins, n, mean = paired_wins(df, "joint, all rows", other, metric, hib)
            lines.append(f"\njoint on all rows beats {other} on {metric}: {wins}/{n} folds "
                         f"(mean advantage {mean:+.4f})")
    return df, "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    print(benchmark(args.splits, args.epochs, out=args.out)[1])


if __name__ == "__main__":
    main()
