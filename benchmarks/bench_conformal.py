"""Conformal intervals and sets per head, and temperature calibration, on abalone and emotions.

Per data set, 5 shuffled folds (KFold, seed 0); on each fold's training part:

- ``ConformalMultiTask`` (split, 20% calibration; and CV+, 5 folds), whose
  empirical coverage and mean width (regression) or mean set size
  (classification, per label for multi-label) are measured on the fold's
  test part at confidence levels 0.9 and 0.8 (one fit serves both levels:
  the calibration scores do not depend on the level);
- the same network with ``calibration="temperature"`` and
  ``early_stopping=True`` (the temperature is fitted on its 20% validation
  split): the log loss, Brier score and accuracy of its probabilities with
  and without the temperature, on the test part.

Abalone: rings as a number (RegressionHead) and as a class (ClassificationHead,
28 classes), 7 numeric measurements, MLP (20, 10) (JointRegressorClassifier's
network). Emotions: six labels (MultiLabelHead), MLP (64,) with dropout 0.3.
The data files must be in the data home (``MTESTIMATOR_DATA_HOME``).
"""

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mtestimator import MultiTaskEstimator
from mtestimator.conformal import ConformalMultiTask
from mtestimator.datasets import load_abalone, load_emotions
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import MLPTrunk

LEVELS = (0.9, 0.8)


def abalone(calibration=None, epochs=50, seed=0):
    data = load_abalone()
    heads = [("rings", RegressionHead(0)),
             ("ring_class", ClassificationHead(1, calibration=calibration))]
    est = MultiTaskEstimator(heads=heads, trunk=MLPTrunk((20, 10), kernel_initializer="he_normal"),
                             epochs=epochs, random_state=seed,
                             early_stopping=calibration is not None, n_iter_no_change=epochs,
                             validation_fraction=0.2)
    return data.data, np.column_stack([data.target, data.target]).astype(float), est


def emotions(calibration=None, epochs=50, seed=0):
    data = load_emotions()
    est = MultiTaskEstimator(heads=[("emotions", MultiLabelHead(calibration=calibration))],
                             trunk=MLPTrunk((64,), dropout=0.3), epochs=epochs,
                             random_state=seed, early_stopping=calibration is not None,
                             n_iter_no_change=epochs, validation_fraction=0.2)
    return data.data, np.asarray(data.target, float), est


def coverage_rows(conformal, X, y, method, fold):
    """One row per head (per label) and level: coverage and width or set size."""
    rows = []
    for level in LEVELS:
        conformal.confidence_levels_ = dict.fromkeys(conformal.confidence_levels_, level)
        if "regressor" in conformal.head_kinds_.values():
            for name, b in conformal.predict_interval(X).items():
                rows.append(dict(head=name, level=level, method=method, fold=fold,
                                 coverage=np.mean((b[:, 0] <= y[:, 0]) & (y[:, 0] <= b[:, 1])),
                                 size=np.mean(b[:, 1] - b[:, 0])))
        for name, s in conformal.predict_set(X).items():
            head = dict(conformal.estimator_[-1].heads_)[name]
            if s.ndim == 2:  # a class per row: its column in classes_
                col = np.searchsorted(head.classes_, y[:, 1])
                known = head.classes_[np.minimum(col, len(head.classes_) - 1)] == y[:, 1]
                hit = np.where(known, s[np.arange(len(y)), np.minimum(col, s.shape[1] - 1)], False)
                rows.append(dict(head=name, level=level, method=method, fold=fold,
                                 coverage=hit.mean(), size=s.sum(axis=1).mean()))
                continue
            for j in range(s.shape[1]):
                rows.append(dict(head=f"{name}[{j}]", level=level, method=method, fold=fold,
                                 coverage=s[np.arange(len(y)), j, y[:, j].astype(int)].mean(),
                                 size=s[:, j].sum(axis=1).mean()))
    return rows


def brier(y_onehot, proba):
    return float(np.mean(np.sum((proba - y_onehot) ** 2, axis=1)))


def _probabilities(est, X):
    proba = est.predict_proba(X)
    return proba if isinstance(proba, list) else [proba]


def calibration_rows(make, X, y, train, test, fold):
    """The same fitted network's probabilities with and without its temperatures."""
    est = make_pipeline(StandardScaler(), make("temperature")[2]).fit(X[train], y[train])
    heads = [(name, head) for name, head in est[-1].heads_ if head.kind != "regressor"]
    fitted = {name: head.temperature_ for name, head in heads}
    after = _probabilities(est, X[test])
    for _, head in heads:
        head.temperature_ = None
    before = _probabilities(est, X[test])
    for name, head in heads:
        head.temperature_ = fitted[name]
    pred = est.predict(X[test])
    rows = []
    for (name, head), p_before, p_after in zip(heads, before, after):
        for calibration, p in (("none", p_before), ("temperature", p_after)):
            if head.kind == "classifier":
                seen = np.isin(y[test, 1], head.classes_)  # rare rings: not in every fold
                truth, q = y[test, 1][seen], p[seen]
                onehot = (truth[:, None] == head.classes_[None, :]).astype(float)
                rows.append(dict(head=name, calibration=calibration, fold=fold,
                                 log_loss=log_loss(truth, q, labels=head.classes_),
                                 brier=brier(onehot, q),
                                 accuracy=np.mean(head.classes_[q.argmax(1)] == truth),
                                 temperature=float(fitted[name][0])))
                continue
            for j in range(p.shape[1]):
                t, pj = y[test, j], np.column_stack([1 - p[:, j], p[:, j]])
                rows.append(dict(head=f"{name}[{j}]", calibration=calibration, fold=fold,
                                 log_loss=log_loss(t, pj, labels=[0, 1]),
                                 brier=brier(np.column_stack([1 - t, t]), pj),
                                 accuracy=np.mean(pred[:, j] == t),
                                 temperature=float(fitted[name][j])))
    return rows


def benchmark(n_splits=5, epochs=50, which=("abalone", "emotions"), out=None):
    texts = []
    for name in which:
        make = {"abalone": abalone, "emotions": emotions}[name]
        X, y, _ = make()
        cov, cal = [], []
        start = time.perf_counter()
        for fold, (train, test) in enumerate(
                KFold(n_splits, shuffle=True, random_state=0).split(X)):
            for method in ("split", "cv+"):
                est = make_pipeline(StandardScaler(), make(epochs=epochs)[2])
                conformal = ConformalMultiTask(est, method=method, random_state=fold)
                conformal.fit(X[train], y[train])
                cov += coverage_rows(conformal, X[test], y[test], method, fold)
            cal += calibration_rows(lambda c: make(c, epochs=epochs), X, y, train, test, fold)
        cov, cal = pd.DataFrame(cov), pd.DataFrame(cal)
        table = cov.groupby(["head", "level", "method"])[["coverage", "size"]].mean().unstack()
        cal_wide = cal.pivot_table(index=["head", "fold"], columns="calibration",
                                   values=["log_loss", "brier", "accuracy"])
        cal_wide[("temperature", "")] = cal[cal.calibration == "none"].set_index(
            ["head", "fold"])["temperature"]
        texts.append(f"\n## {name}: {n_splits} folds, {epochs} epochs "
                     f"({time.perf_counter() - start:.0f} s)\n\nmean coverage and width "
                     f"(regression) / set size (classification):\n{table.round(3).to_string()}"
                     f"\n\ntemperature calibration, per fold:\n{cal_wide.round(4).to_string()}")
        if out:
            cov.to_csv(f"{out}/conformal_{name}_coverage.csv", index=False)
            cal.to_csv(f"{out}/conformal_{name}_calibration.csv", index=False)
    return "\n".join(texts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--only", nargs="*", default=["abalone", "emotions"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    print(benchmark(args.splits, args.epochs, args.only, args.out))
