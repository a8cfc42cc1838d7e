"""Multi-label reference protocol: MultiLabelMLPClassifier vs MLPClassifier.

Measures subset accuracy and fit seconds over RepeatedKFold(10, 3,
random_state=1) on make_multilabel_classification(1000, 10 features, 3
labels, random_state=1), identical splits for both.
"""

import argparse
import time

import numpy as np
from sklearn.datasets import make_multilabel_classification
from sklearn.model_selection import RepeatedKFold, cross_validate
from sklearn.neural_network import MLPClassifier

from mtestimator import MultiLabelMLPClassifier


def benchmark(n_repeats=3):
    X, y = make_multilabel_classification(n_samples=1000, n_features=10, n_classes=3,
                                          n_labels=2, random_state=1)
    cv = RepeatedKFold(n_splits=10, n_repeats=n_repeats, random_state=1)
    contenders = {
        "MultiLabelMLPClassifier": MultiLabelMLPClassifier(),
        "MLPClassifier(20,)": MLPClassifier((20,), max_iter=100, batch_size=32),
    }
    rows = []
    for name, est in contenders.items():
        start = time.perf_counter()
        res = cross_validate(est, X, y, cv=cv)
        rows.append((name, res["test_score"].mean(), res["test_score"].std(),
                     res["fit_time"].mean(), time.perf_counter() - start))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'contender':28s} {'subset acc':>16s} {'fit s':>7s} {'total s':>8s}")
    for name, mean, std, fit, total in benchmark(args.repeats):
        print(f"{name:28s} {mean:8.3f} +- {std:.3f} {fit:7.2f} {total:8.1f}")


if __name__ == "__main__":
    main()
