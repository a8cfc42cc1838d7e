"""Sharing that never hurts: one trunk, towers, gated experts, against separate networks.

``python -m benchmarks.bench_sharing [--splits 5] [--repeats 2] [--only NAME ...] [--out DIR]``.

On each data set, with :func:`mtestimator.model_selection.paired_comparison`
(identical folds, ``RepeatedKFold``, the corrected resampled t-test), every
contender against ``SeparateNetworks`` (the baseline: one network per head,
the same trunk, epochs and seed):

- ``joint``: ``MultiTaskEstimator``, one shared trunk;
- ``joint + towers``: the same, each head with a tower of its own
  (``hidden_layer_sizes=(16,)`` on every head);
- ``MMoE``: ``MixtureOfExpertsTrunk(n_experts=4)``, experts as wide as the
  trunk, one gate per head;
- ``PLE``: the same with one expert of each head's own (``n_task_experts=1``).

Data: abalone (rings as a number and as one of 28 classes: the two tasks of
``JointRegressorClassifier``; the trunk (20, 10), 150 epochs), the
generated three-head problem of the "three heads" section (shared latent
factors; (32,), 100 epochs) and modeldata meats (water, fat and protein from
100 absorbances, 215 rows; (64,), 200 epochs). Every input is
standardised on the training fold (a Pipeline). Scores: each head's default
metric (R², accuracy, negated Hamming loss), greater is better.
"""

import argparse
import time

import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import RepeatedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mtestimator import MultiTaskEstimator, SeparateNetworks
from mtestimator.datasets import load_abalone
from mtestimator.heads import ClassificationHead, RegressionHead
from mtestimator.model_selection import paired_comparison
from mtestimator.trunks import MixtureOfExpertsTrunk, MLPTrunk

from .bench_tables import load_table
from .bench_three_heads import heads as three_heads, make_three_heads

DATASETS = ("abalone", "three_heads", "meats")
BASELINE = "separate"


def _abalone():
    data = load_abalone()
    y = pd.DataFrame({"rings": data.target.astype(float), "ring_class": data.target})
    return data.data, y, [("rings", RegressionHead("rings")),
                          ("ring_class", ClassificationHead("ring_class"))], (20, 10), 150


def _meats():
    table = load_table("meats")
    return table.X.to_numpy(float), table.y, [(c, RegressionHead(c)) for c in table.y.columns], \
        (64,), 200


def load(name, n_samples=None):
    """``(X, y, heads, trunk sizes, epochs)`` of a data set."""
    if name == "abalone":
        return _abalone()
    if name == "meats":
        return _meats()
    X, y = make_three_heads(**({} if n_samples is None else {"n_samples": n_samples}))
    return X, y, three_heads(), (32,), 100


def contenders(heads, sizes, epochs, seed=0):
    """Name -> a Pipeline (StandardScaler, then the network); the baseline first."""
    settings = {"epochs": epochs, "random_state": seed}
    trunk = MLPTrunk(sizes, kernel_initializer="he_normal")
    towered = [(n, clone(h).set_params(hidden_layer_sizes=(16,))) for n, h in heads]
    moe = {"n_experts": 4, "expert_layer_sizes": sizes, "kernel_initializer": "he_normal"}
    networks = {
        BASELINE: SeparateNetworks(heads, trunk=trunk, **settings),
        "joint": MultiTaskEstimator(heads, trunk=trunk, **settings),
        "joint + towers": MultiTaskEstimator(towered, trunk=trunk, **settings),
        "MMoE": MultiTaskEstimator(heads, trunk=MixtureOfExpertsTrunk(**moe), **settings),
        "PLE": MultiTaskEstimator(heads, trunk=MixtureOfExpertsTrunk(n_task_experts=1, **moe),
                                  **settings),
    }
    return {name: make_pipeline(StandardScaler(), est) for name, est in networks.items()}


def benchmark(n_splits=5, n_repeats=2, datasets=DATASETS, epochs=None, n_samples=None,
              out=None):
    """The paired tables of every data set, as Markdown text."""
    texts = []
    for name in datasets:
        X, y, heads, sizes, default_epochs = load(name, n_samples)
        cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
        start = time.perf_counter()
        table = paired_comparison(contenders(heads, sizes, epochs or default_epochs), X, y,
                                  cv=cv)
        shown = table[["mean", "std", "difference", "difference_se", "wins", "folds",
                       "p_value", "fit_time"]]
        texts.append(f"\n## {name}: {len(X)} rows, {n_splits} x {n_repeats} folds, "
                     f"{epochs or default_epochs} epochs ({time.perf_counter() - start:.0f} s)"
                     f"\n\nagainst `{BASELINE}` (difference: the contender's score minus "
                     f"the baseline's, greater is better; p: corrected resampled t-test)\n\n"
                     f"{shown.round(4).to_markdown()}\n\n{_verdicts(table)}")
        if out:
            table.attrs["folds"].to_csv(f"{out}/sharing_{name}_folds.csv", index=False)
    return "\n".join(texts)


def _verdicts(table):
    """Per contender: the heads it beats the baseline on and loses on (by one SE)."""
    lines = []
    for contender in dict.fromkeys(table.index.get_level_values("estimator")):
        if contender == BASELINE:
            continue
        rows = table.xs(contender, level="estimator")
        better = [h for (h, _), r in rows.iterrows() if r.difference > r.difference_se]
        worse = [h for (h, _), r in rows.iterrows() if r.difference < -r.difference_se]
        lines.append(f"- {contender}: better on {better or 'no head'}, worse on "
                     f"{worse or 'no head'} (by more than one standard error)")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    print(benchmark(args.splits, args.repeats, args.only, out=args.out))
