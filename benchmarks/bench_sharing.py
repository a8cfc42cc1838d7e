"""Sharing that never hurts: shared trunks, towers, gated experts and task balancing against separate networks.

``python -m benchmarks.bench_sharing [--splits 5] [--repeats 1] [--only PROBLEM ...]
[--contenders NAME ...] [--epochs N] [--smoke] [--rebuild] [--out DIR]``.

Every benchmark problem of the suite, each as its own bench module defines
it (the data, the heads, the trunk, the epochs, the preprocessing: the
module's ``SeparateNetworks`` contender is taken as it is):

- ``abalone_without_sex``, ``abalone_with_sex`` (bench_abalone): rings as a
  number (MAE) and as one of 28 classes; (20, 10), 150 epochs;
- ``sequences`` (bench_sequences): LSTM(32), next value (MAE) and falling
  (accuracy), 60 epochs;
- ``three_heads`` (bench_three_heads) and ``partial_labels``
  (bench_partial_labels: the same problem with 30/60/45% of the labels
  hidden in training, scored on the full test targets); (64, 32), 100 epochs;
- ``multilabel_reference`` (bench_multilabel) and ``emotions``
  (bench_emotions): one head per label, as the benches' per-label networks
  (``SeparateNetworks``) have them; (20,) 100 epochs, and (64,) dropout 0.3
  50 epochs;
- ``meats``, ``attrition``, ``ames``, ``lending_club`` (bench_tables' real
  tables, lending_club capped at its rows there): ``TabularTrunk()`` on the
  raw DataFrame, 100 epochs.

On each, :func:`mtestimator.model_selection.paired_comparison` (identical
``RepeatedKFold`` folds, the corrected resampled t-test) compares every
contender of CONTENDERS with the baseline, ``SeparateNetworks``. A contender
is the joint network built from the baseline's own heads, trunk and settings
(``MultiTaskEstimator``, the same epochs and seed), changed as its CONTENDERS
entry says: towers (``hidden_layer_sizes=(16,)`` on every head), loss
balancing (``loss_weights``), early stopping, trunk dropout 0.2, gated
experts (MMoE, PLE); "separate + ..." entries are the baseline with the same
change (is a gain the sharing's, or the setting's?). Gated experts need 2-D X: on the real tables they sit behind
bench_tables' ``preprocessor()`` (one-hot, impute, scale), on sequences they
do not run. Each head is scored by one metric (greater is better, losses
negated): MAE on abalone and sequences' numbers, R² on the others', accuracy,
Hamming loss; on the test rows' full targets.

Verdict per contender (issue 22): no worse than separate networks on any head
(mean paired difference at least minus one standard error) and better (mean
difference above zero) on at least half of all heads.

Problems run in separate processes (``--only``) write their per-fold CSVs to
``--out``; a later run with ``--contenders`` adds its contenders' rows to the
CSV (the baseline's seeded scores are the same in every run), and
``--rebuild`` writes ``sharing.md`` from every CSV there.
"""

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, hamming_loss, mean_absolute_error, r2_score
from sklearn.model_selection import RepeatedKFold
from sklearn.pipeline import make_pipeline

from mtestimator import MultiTaskEstimator, SeparateNetworks
from mtestimator.datasets import load_emotions
from mtestimator.model_selection import paired_comparison
from mtestimator.model_selection._paired import _summarize
from mtestimator.trunks import MixtureOfExpertsTrunk, MLPTrunk

from . import (bench_abalone, bench_emotions, bench_multilabel, bench_partial_labels,
               bench_sequences, bench_tables, bench_three_heads)

NAME = "sharing"
BASELINE = "separate"
TABLES = ("meats", "attrition", "ames", "lending_club")
PROBLEMS = ("abalone_without_sex", "abalone_with_sex", "sequences", "three_heads",
            "partial_labels", "multilabel_reference", "emotions", *TABLES)
#: Each contender: how it differs from the joint network on the baseline's heads, trunk and
#: settings. Keys: MultiTaskEstimator parameters; "heads": parameters set on every head;
#: "trunk": parameters set on the trunk (its dropout also applies to the towers);
#: "experts": MixtureOfExpertsTrunk parameters (experts shaped as the trunk) for the trunk;
#: "separate": SeparateNetworks instead (a reference: the baseline with other settings).
#: A new option is one line, e.g. ``"joint + gradnorm": {"loss_weights": "gradnorm"}``.
CONTENDERS = {
    "joint": {},
    "joint + towers": {"heads": {"hidden_layer_sizes": (16,)}},
    "joint + auto": {"loss_weights": "auto"},
    "joint + dwa": {"loss_weights": "dwa"},
    "joint + towers + auto": {"heads": {"hidden_layer_sizes": (16,)}, "loss_weights": "auto"},
    "joint + towers + dwa": {"heads": {"hidden_layer_sizes": (16,)}, "loss_weights": "dwa"},
    "joint + early stopping": {"early_stopping": True},
    "joint + towers + early stopping": {"heads": {"hidden_layer_sizes": (16,)},
                                        "early_stopping": True},
    "joint + dropout": {"trunk": {"dropout": 0.2}},
    "joint + towers + dropout": {"heads": {"hidden_layer_sizes": (16,)}, "trunk": {"dropout": 0.2}},
    "joint + gradnorm": {"loss_weights": "gradnorm"},
    "joint + pcgrad": {"gradient_method": "pcgrad"},
    "joint + towers + pcgrad": {"heads": {"hidden_layer_sizes": (16,)},
                                "gradient_method": "pcgrad"},
    "MMoE": {"experts": {"n_experts": 4}},
    "PLE": {"experts": {"n_experts": 4, "n_task_experts": 1}},
    # not a joint network: what early stopping alone gives the baseline
    "separate + early stopping": {"separate": True, "early_stopping": True},
    "separate + dropout": {"separate": True, "trunk": {"dropout": 0.2}},
}
#: metric -> (function, sign: scores are greater-is-better, dtype both sides are cast to).
METRICS = {"neg_mae": (mean_absolute_error, -1, float), "r2": (r2_score, 1, float),
           "accuracy": (accuracy_score, 1, None), "neg_hamming_loss": (hamming_loss, -1, int)}
#: ``--smoke``: every code path at the smallest sizes (its numbers mean nothing).
SMOKE = {"n_splits": 2, "epochs": 2, "rows": 120}


@dataclass
class Problem:
    """A benchmark problem: X, y, the bench's SeparateNetworks contender (the
    baseline, maybe in a Pipeline or the partial-labels wrapper), the metric
    of its regression heads, and the step that makes X dense for gated
    experts where the trunk takes raw tables (None: X is dense already)."""

    name: str
    X: object
    y: object
    baseline: object
    regression_metric: str = "r2"
    densify: object = None


def load(name, epochs=None, rows=None):
    """The problem ``name`` (one of PROBLEMS); ``epochs`` replaces the bench's own,
    ``rows`` keeps the first rows (``--smoke``)."""
    n = {} if rows is None else {"n_samples": max(rows, 200)}
    if name.startswith("abalone"):
        X, y = bench_abalone.data()
        separate = bench_abalone.separate_networks(epochs or 150, seed=0)
        problem = Problem(name, X, y, make_pipeline(bench_abalone._pre(name.endswith("_with_sex")),
                                                    separate), "neg_mae")
    elif name == "sequences":
        X, y = bench_sequences.data()
        problem = Problem(name, X, y, bench_sequences.contenders(epochs or 60)["separate LSTMs"],
                          "neg_mae")
    elif name == "three_heads":
        X, y = bench_three_heads.make_three_heads(**n)
        problem = Problem(name, X, y, bench_three_heads.contenders(epochs or 100)["separate"])
    elif name == "partial_labels":
        X, y = bench_partial_labels.data(**n)
        problem = Problem(name, X, y, bench_partial_labels.contenders(epochs or 100)[
            "separate, labelled rows"])
    elif name == "multilabel_reference":
        X, y = bench_multilabel.reference_data()
        problem = Problem(name, X, y, bench_multilabel.per_label_networks(
            y.shape[1], epochs=epochs or 100))
    elif name == "emotions":
        data = load_emotions()
        problem = Problem(name, data.data, data.target,
                          bench_emotions.contenders(epochs or 50)["SeparateNetworks"])
    elif name in TABLES:
        table = bench_tables._table(name)
        problem = Problem(name, table.X, table.y, bench_tables.separate_networks(table, epochs),
                          densify=bench_tables.preprocessor())
    else:
        raise ValueError(f"Unknown problem {name!r}; the problems are {PROBLEMS}.")
    if rows is not None:
        problem.X, problem.y = _take(problem.X, rows), _take(problem.y, rows)
    return problem


def _take(a, rows):
    return a.iloc[:rows] if hasattr(a, "iloc") else a[:rows]


# -- contenders ------------------------------------------------------------------------

def _parts(baseline):
    """(wrapper or None, the steps before the network, SeparateNetworks) of a baseline."""
    if isinstance(baseline, bench_partial_labels._Partial):
        return baseline, *_parts(baseline.estimator)[1:]
    if hasattr(baseline, "steps"):
        return None, [step for _, step in baseline.steps[:-1]], baseline.steps[-1][1]
    return None, [], baseline


def _joint(problem, variant):
    """The joint network of ``variant`` (a CONTENDERS entry) on the problem's
    baseline, in the baseline's Pipeline and wrapper; None where it cannot run
    (gated experts on a trunk that is neither an MLP nor made dense)."""
    wrapper, steps, separate = _parts(problem.baseline)
    params = separate.get_params(deep=False)
    heads = [(name, clone(head).set_params(**variant.get("heads", {})))
             for name, head in params.pop("heads")]
    trunk = clone(params.pop("trunk")).set_params(**variant.get("trunk", {}))
    settings = {k: v for k, v in variant.items()
                if k not in ("heads", "trunk", "experts", "separate")}
    steps = [clone(step) for step in steps]
    if "experts" in variant:
        if not isinstance(trunk, MLPTrunk) and problem.densify is None:
            return None
        if not isinstance(trunk, MLPTrunk):
            steps.append(clone(problem.densify))
        trunk = MixtureOfExpertsTrunk(
            expert_layer_sizes=trunk.hidden_layer_sizes, dropout=trunk.dropout,
            kernel_initializer=getattr(trunk, "kernel_initializer", "he_uniform"),
            **variant["experts"])
    kind = SeparateNetworks if variant.get("separate") else MultiTaskEstimator
    network = kind(heads, trunk=trunk, **{**params, **settings})
    network = make_pipeline(*steps, network) if steps else network
    return clone(wrapper).set_params(estimator=network) if wrapper is not None else network


def contenders(problem, names=None):
    """Name -> unfitted estimator: the baseline first, then each of ``names``
    (default: every CONTENDERS entry) that can run on the problem."""
    chosen = {name: CONTENDERS[name] for name in (names or CONTENDERS)}
    joint = {name: _joint(problem, variant) for name, variant in chosen.items()}
    return {BASELINE: clone(problem.baseline),
            **{name: est for name, est in joint.items() if est is not None}}


# -- scores ----------------------------------------------------------------------------

class _HeadScore:
    """A ``scoring=`` callable of one head: its metric on ``predict``'s columns
    against y's (any estimator or wrapper; greater is better)."""

    def __init__(self, head, columns, metric):
        self.head, self.columns, self.metric = head, columns, metric

    def __call__(self, estimator, X, y):
        func, sign, dtype = METRICS[self.metric]
        truth, pred = _columns(y, self.columns), _columns(estimator.predict(X), self.columns)
        if dtype is None and truth.dtype.kind in "biuf" and pred.dtype.kind in "biuf":
            dtype = float  # classes given as numbers: compare them as numbers
        if dtype is not None:
            truth, pred = truth.astype(dtype), pred.astype(dtype)
        return sign * float(func(truth, pred))


def _columns(a, columns):
    return a[columns].to_numpy() if hasattr(a, "iloc") else np.asarray(a)[:, columns]


def scoring(problem):
    """``{"<head>|<metric>": scorer}``: one metric per head of the baseline."""
    metric = {"regressor": problem.regression_metric, "classifier": "accuracy",
              "multilabel": "neg_hamming_loss"}
    return {f"{name}|{metric[head.kind]}": _HeadScore(name, head.columns, metric[head.kind])
            for name, head in _parts(problem.baseline)[2].heads}


def run(problem, names=None, n_splits=5, n_repeats=1, out=None):
    """The per-fold scores of every contender on the problem, written to
    ``<out>/sharing_<problem>_folds.csv`` with the rows there of the contenders
    not run now (the baseline's are seeded: the same in every run)."""
    cv = RepeatedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=0)
    table = paired_comparison(contenders(problem, names), problem.X, problem.y, cv=cv,
                              scoring=scoring(problem))
    n_test = len(problem.X) / n_splits
    folds = table.attrs["folds"].assign(
        problem=problem.name, metric=lambda f: f.metric.str.split("|").str[-1],
        n_train=len(problem.X) - n_test, n_test=n_test)
    if out:
        path = f"{out}/{NAME}_{problem.name}_folds.csv"
        if os.path.exists(path):
            kept = pd.read_csv(path)
            folds = pd.concat([kept[~kept.estimator.isin(folds.estimator)], folds],
                              ignore_index=True)
        folds.to_csv(path, index=False)
    return folds


# -- the report ------------------------------------------------------------------------

def paired(folds):
    """paired_comparison's table (head, metric, estimator) of one problem's folds."""
    present = set(folds.estimator)
    names = [BASELINE, *(n for n in CONTENDERS if n in present),
             *(n for n in dict.fromkeys(folds.estimator) if n not in CONTENDERS and n != BASELINE)]
    return _summarize(folds, names, folds.n_train.iloc[0], folds.n_test.iloc[0])


def wide(table):
    """One row per contender, one column per head (and its metric): the baseline's
    mean score, each contender's "difference ± SE (wins/folds)", ✗ where it is
    worse by more than one SE; and the mean fit seconds per fold."""
    cells, fit = {}, {}
    for (head, metric, name), r in table.iterrows():
        cells.setdefault(name, {})[f"{head} ({metric})"] = (
            f"{r['mean']:.4f}" if name == BASELINE else
            f"{r.difference:+.4f} ± {r.difference_se:.4f} ({r.wins}/{r.folds})"
            + (" ✗" if r.difference < -r.difference_se else ""))
        fit[name] = round(r.fit_time, 1)
    return pd.DataFrame.from_dict(cells, orient="index").assign(
        **{"fit s": pd.Series(fit)}).rename_axis("contender")


def every_head(tables, names=None):
    """One row per problem and head, one column per contender (default: all):
    "difference ± SE (wins/folds)", ✗ where worse by more than one SE."""
    rows = {}
    for problem, table in tables.items():
        for (head, metric, name), r in table.drop(index=BASELINE, level="estimator").iterrows():
            if names is None or name in names:
                rows.setdefault((problem, f"{head} ({metric})"), {})[name] = (
                    f"{r.difference:+.4f} ± {r.difference_se:.4f} ({r.wins}/{r.folds})"
                    + (" ✗" if r.difference < -r.difference_se else ""))
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(["problem", "head"])


def verdicts(tables):
    """Per contender over every head of every problem (``tables``: problem -> its
    paired table): heads no worse (difference at least minus one SE), better
    (difference above 0), and the ones that lose."""
    rows = []
    every = pd.concat(tables, names=["problem"])
    for name in dict.fromkeys(every.index.get_level_values("estimator")):
        if name == BASELINE:
            continue
        mine = every.xs(name, level="estimator")
        worse = mine[mine.difference < -mine.difference_se]
        n, missing = len(mine), sum(len(t.xs(BASELINE, level="estimator"))
                                    for t in tables.values())
        better = int((mine.difference > 0).sum())
        rows.append({
            "contender": name, "heads": f"{n}/{missing}",
            "no worse": f"{n - len(worse)}/{n}", "better": f"{better}/{n}",
            "better by > 1 SE": int((mine.difference > mine.difference_se).sum()),
            "meets the bar": len(worse) == 0 and 2 * better >= n and n == missing,
            "fit s (sum of means)": round(float(mine.groupby(level="problem").fit_time
                                                .first().sum()), 1),
            "worse on (difference ± SE)": "; ".join(
                f"{p} {h} {r.difference:+.4f} ± {r.difference_se:.4f}"
                for (p, h, _), r in worse.iterrows()) or "none"})
    return pd.DataFrame(rows)


def report(frames, settings):
    """sharing.md's text from the per-fold rows of each problem."""
    tables = {folds.problem.iloc[0]: paired(folds) for folds in frames}
    base = {p: t.xs(BASELINE, level="estimator").fit_time.iloc[0] for p, t in tables.items()}
    lines = [f"# Sharing: every contender against separate networks ({settings})\n",
             "Verdict over all heads (no worse: mean paired difference at least minus one "
             "standard error; better: mean difference above 0; the bar: no worse on every "
             "head and better on at least half of them)\n",
             verdicts(tables).to_markdown(index=False),
             f"\nseparate networks' fit seconds, sum over the problems of the mean per "
             f"fold: {sum(base.values()):.1f}",
             "\n## Every head\n",
             "the contender's score minus the baseline's, mean over folds ± standard error "
             "(folds won); ✗: worse by more than one standard error\n",
             every_head(tables).reset_index().to_markdown(index=False)]
    for problem, table in tables.items():
        lines += [f"\n## {problem} ({table.folds.iloc[0]} folds)\n",
                  f"`{BASELINE}`: its mean score; the others: their score minus `{BASELINE}`'s, "
                  f"mean over folds ± standard error (folds won); ✗: worse by more than one "
                  f"standard error; fit s: mean seconds per fold\n",
                  wide(table).to_markdown()]
    return "\n".join(lines)


def benchmark(problems=PROBLEMS, names=None, n_splits=5, n_repeats=1, epochs=None, rows=None,
              out=None):
    """Run ``problems`` and return the report's text (also ``<out>/sharing.md``)."""
    frames = []
    for name in problems:
        start = time.perf_counter()
        frames.append(run(load(name, epochs, rows), names, n_splits, n_repeats, out))
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    own = "each bench's own"
    return _write(report(frames, f"{n_splits} x {n_repeats} folds, epochs: {epochs or own}"),
                  out)


def rebuild(out, settings="rebuilt from the per-fold CSVs"):
    """The report again from ``<out>/sharing_<problem>_folds.csv`` (problems run in
    separate processes)."""
    frames = [pd.read_csv(f"{out}/{NAME}_{p}_folds.csv") for p in PROBLEMS
              if os.path.exists(f"{out}/{NAME}_{p}_folds.csv")]
    return _write(report(frames, settings), out)


def _write(text, out):
    if out:
        with open(f"{out}/{NAME}.md", "w") as f:
            f.write(text + "\n")
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=None, help="default: each bench's own")
    parser.add_argument("--only", nargs="*", default=list(PROBLEMS), choices=PROBLEMS)
    parser.add_argument("--contenders", nargs="*", default=None, choices=list(CONTENDERS))
    parser.add_argument("--smoke", action="store_true",
                        help=f"the smallest sizes ({SMOKE}): its numbers mean nothing")
    parser.add_argument("--rebuild", action="store_true",
                        help="no fits: sharing.md again from the per-fold CSVs in --out")
    parser.add_argument("--settings", default="rebuilt from the per-fold CSVs",
                        help="with --rebuild: the protocol, for the title")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.rebuild:
        print(rebuild(args.out, args.settings))
        return
    size = ({"n_splits": SMOKE["n_splits"], "epochs": SMOKE["epochs"], "rows": SMOKE["rows"]}
            if args.smoke else {"n_splits": args.splits, "epochs": args.epochs})
    print(benchmark(args.only, args.contenders, n_repeats=args.repeats, out=args.out, **size))


if __name__ == "__main__":
    main()
