"""Multi-label: one network for all labels vs one network per label vs others.

Reference protocol (REFERENCE.md section 2): make_multilabel_classification
(1000 rows, 10 features, 3 labels, random_state=1), RepeatedKFold(10, 3,
random_state=1), identical splits for every contender. Metrics: subset
accuracy, Hamming loss, micro and macro F1, fit seconds. "per-label
networks" is SeparateNetworks with one MultiLabelMLPClassifier-shaped network
(Dense(20), one sigmoid output) per label: the "separate single-task models"
side. The hand-written reference loop (plain Keras ``model.fit`` per fold)
runs beside ours on the first repeat, so the speed ratio is measured in one
run.

A harder set follows: 20 imbalanced labels, where per-label thresholds and
class weights should matter.
"""

import argparse
import functools

import numpy as np
import pandas as pd
from sklearn.datasets import make_multilabel_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, hamming_loss
from sklearn.model_selection import RepeatedKFold
from sklearn.multioutput import ClassifierChain, MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mtestimator import MultiLabelMLPClassifier, SeparateNetworks
from mtestimator.heads import MultiLabelHead
from mtestimator.trunks import MLPTrunk

from ._harness import paired_wins, run_comparison, save_outputs, summarize

HIGHER_IS_BETTER = {"subset_accuracy": True, "hamming_loss": False, "f1_micro": True,
                    "f1_macro": True, "fit_s": False}


def per_label_networks(n_labels, hidden=(20,), epochs=100, random_state=0):
    """The 'separate single-task models' contender: SeparateNetworks with one
    network per label, each MultiLabelMLPClassifier's network (the same trunk,
    epochs and batches) with one sigmoid output and threshold 0.5."""
    return SeparateNetworks(
        heads=[(f"label{j}", MultiLabelHead(columns=[j])) for j in range(n_labels)],
        trunk=MLPTrunk(hidden), epochs=epochs, random_state=random_state)


def reference_data():
    """The reference protocol's data: 1000 rows, 10 features, 3 labels."""
    return make_multilabel_classification(n_samples=1000, n_features=10, n_classes=3,
                                          n_labels=2, random_state=1)


def reference_loop(X, y, epochs=100):
    """REFERENCE.md's hand-written model: plain Keras, model.fit, unseeded."""
    import keras  # here: importing the benchmarks imports no backend

    model = keras.Sequential([keras.Input((X.shape[1],)),
                              keras.layers.Dense(20, activation="relu",
                                                 kernel_initializer="he_uniform"),
                              keras.layers.Dense(y.shape[1], activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(X, y, verbose=0, epochs=epochs)

    class Fitted:
        def predict(self, X):
            return model.predict(X, verbose=0).round()

    return Fitted()


def evaluate(predictor, X, y):
    pred = np.asarray(predictor.predict(X)).astype(int)
    return {"subset_accuracy": accuracy_score(y, pred), "hamming_loss": hamming_loss(y, pred),
            "f1_micro": f1_score(y, pred, average="micro", zero_division=0),
            "f1_macro": f1_score(y, pred, average="macro", zero_division=0)}


def _report(df, name, out, lines, ours, other):
    table = summarize(df, HIGHER_IS_BETTER)
    save_outputs(df, table, out, name, ["subset_accuracy", "f1_macro"])
    lines.append(f"\n## {name} ({df.fold.nunique()} folds)\n")
    lines.append(table.to_markdown())
    for metric in ("subset_accuracy", "f1_macro"):
        wins, n, mean = paired_wins(df, ours, other, metric)
        lines.append(f"\n{ours} beats {other} on {metric}: {wins}/{n} folds "
                     f"(mean advantage {mean:+.4f})")


def benchmark(n_repeats=3, n_splits=10, out="benchmarks/results", progress=True, n_jobs=None,
              reference=True, epochs=100):
    """``epochs``: of every network contender (and sklearn's ``max_iter``); 100 is
    the reference protocol's."""
    lines = []
    X, y = reference_data()
    contenders = {
        "MultiLabelMLPClassifier": MultiLabelMLPClassifier(epochs=epochs),
        "per-label networks": per_label_networks(y.shape[1], epochs=epochs),
        "sklearn MLPClassifier": MLPClassifier((20,), batch_size=32, max_iter=epochs,
                                               random_state=0),
        "MultiOutput(LogReg)": make_pipeline(StandardScaler(), MultiOutputClassifier(
            LogisticRegression(max_iter=1000))),
        "ClassifierChain(LogReg)": make_pipeline(StandardScaler(), ClassifierChain(
            LogisticRegression(max_iter=1000), random_state=0)),
    }
    cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=1)
    df = run_comparison("multilabel_reference", contenders, X, y, cv, evaluate,
                        progress=progress, n_jobs=n_jobs)
    frames = [df]
    if reference:
        first = RepeatedKFold(n_splits=n_splits, n_repeats=1, random_state=1)
        plain = {"plain Keras loop": functools.partial(reference_loop, epochs=epochs)}
        ref = run_comparison("multilabel_reference", plain, X, y, first, evaluate,
                             progress=progress, n_jobs=n_jobs)
        ours_first = df[(df.contender == "MultiLabelMLPClassifier") & (df.fold < n_splits)]
        ratio = ref.fit_s.sum() / ours_first.fit_s.sum()
        lines.append(f"\nspeed: plain Keras loop {ref.fit_s.mean():.2f} s/fit vs "
                     f"MultiLabelMLPClassifier {ours_first.fit_s.mean():.2f} s/fit on the same "
                     f"{n_splits} folds: {ratio:.1f}x faster; subset accuracy "
                     f"{ref.subset_accuracy.mean():.3f} vs {ours_first.subset_accuracy.mean():.3f}")
        df = pd.concat([df, ref])
    _report(df, "multilabel_reference", out, lines, "MultiLabelMLPClassifier",
            "per-label networks")

    X, y = make_multilabel_classification(n_samples=2000, n_features=20, n_classes=20,
                                          n_labels=2, random_state=0)
    hard = {
        "MultiLabelMLP": MultiLabelMLPClassifier((64,), epochs=epochs, random_state=0),
        "MultiLabelMLP auto+balanced": MultiLabelMLPClassifier(
            (64,), threshold="auto", class_weight="balanced", epochs=epochs, random_state=0),
        "sklearn MLPClassifier": MLPClassifier((64,), batch_size=32, max_iter=epochs,
                                               random_state=0),
        "MultiOutput(LogReg)": make_pipeline(StandardScaler(), MultiOutputClassifier(
            LogisticRegression(max_iter=1000))),
    }
    cv = RepeatedKFold(n_splits=min(n_splits, 5), n_repeats=1, random_state=1)
    df2 = run_comparison("multilabel_20_imbalanced", hard, X, y, cv, evaluate,
                         progress=progress, n_jobs=n_jobs)
    pos = y.mean(axis=0)
    lines.append(f"\n20-label set: label frequencies from {pos.min():.3f} to {pos.max():.3f}")
    _report(df2, "multilabel_20_imbalanced", out, lines, "MultiLabelMLP auto+balanced",
            "MultiLabelMLP")
    return pd.concat(frames + [df2]), "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    print(benchmark(args.repeats, out=args.out)[1])


if __name__ == "__main__":
    main()
