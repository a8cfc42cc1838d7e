"""Shared benchmark harness: identical splits for every contender, per-fold
rows, summary tables with winners, paired comparisons, plots."""

import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm


def count_params(estimator):
    """Trainable parameters of a fitted estimator (Keras or scikit-learn MLP)."""
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    if getattr(final, "model_", None) is not None:
        return int(sum(np.prod(w.shape) for w in final.model_.trainable_weights))
    if hasattr(final, "coefs_"):
        return int(sum(c.size for c in final.coefs_) + sum(b.size for b in final.intercepts_))
    if hasattr(final, "estimators_"):  # one model per target (or per head: (name, model))
        return sum(count_params(e[1] if isinstance(e, tuple) else e)
                   for e in final.estimators_)
    return np.nan


#: predict_ms's default repeats (``python -m benchmarks --smoke`` sets 1).
PREDICT_REPEATS = 20


def predict_ms(predict, X, n, repeats=None):
    """Median milliseconds of ``predict`` on ``n`` rows, after one warm-up call;
    ``repeats`` calls (default PREDICT_REPEATS)."""
    repeats = PREDICT_REPEATS if repeats is None else repeats
    rows = X[:n] if len(X) >= n else (np.repeat(X, -(-n // len(X)), axis=0)[:n]
                                     if isinstance(X, np.ndarray)
                                     else pd.concat([X] * (-(-n // len(X))))[:n])
    predict(rows)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(rows)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def _fit_fold(name, contenders, fold, X_train, X_test, y_train, y_test, evaluate):
    rows = []
    for contender, spec in contenders.items():
        with warnings.catch_warnings(record=True) as caught:  # recorded, not printed
            warnings.simplefilter("always")
            start = time.perf_counter()
            predictor = spec(X_train, y_train) if callable(spec) and not hasattr(
                spec, "fit") else clone(spec).fit(X_train, y_train)
            fit_s = time.perf_counter() - start
            scores = evaluate(predictor, X_test, y_test)
        rows.append({"comparison": name, "contender": contender, "fold": fold,
                     "fit_s": fit_s, **scores, "warnings": describe_warnings(caught)})
    return rows


def describe_warnings(caught):
    """Warnings as one line: each distinct category and message start, with its
    count ("" when none)."""
    counts = Counter(f"{w.category.__name__}: {' '.join(str(w.message).split())[:70]}"
                     for w in caught)
    return "; ".join(f"{text} (x{n})" if n > 1 else text for text, n in sorted(counts.items()))


def warnings_note(df):
    """Markdown listing the warnings recorded during the fits, per comparison and
    contender, with the folds they came on ("" when none)."""
    if "warnings" not in df:
        return ""
    lines = []
    for (comparison, contender), group in df.groupby(["comparison", "contender"], sort=False):
        warned = group.warnings.fillna("")
        warned = warned[warned != ""]
        if len(warned):
            kinds = "; ".join(sorted({w.split(": ", 1)[0] for text in warned
                                      for w in text.split("; ")}))
            lines.append(f"- {comparison}, {contender}: {kinds} on {len(warned)} of "
                         f"{len(group)} folds (messages in the `warnings` column of "
                         f"{comparison}_folds.csv)")
    return ("\n\nWarnings during the fits (expected ones, recorded instead of printed):\n"
            + "\n".join(lines)) if lines else ""


def run_comparison(name, contenders, X, y, cv, evaluate, *, progress=True, n_jobs=None):
    """Fit every contender on every split; return one row per (contender, fold).

    ``contenders`` maps a name to an unfitted estimator, or to a callable
    ``fit(X_train, y_train) -> predictor`` for composites (e.g. two separate
    models). ``evaluate(predictor, X_test, y_test) -> dict`` returns the scores.
    ``n_jobs`` runs folds in parallel processes (joblib): faster, but the
    timing columns then include the contention of parallel fits.
    """
    from joblib import Parallel, delayed

    tasks = (delayed(_fit_fold)(name, contenders, fold, _take(X, train), _take(X, test),
                                _take(y, train), _take(y, test), evaluate)
             for fold, (train, test) in enumerate(cv.split(X, y)))
    n_folds = cv.get_n_splits(X, y)
    rows = []
    with tqdm(total=n_folds, desc=name, disable=not progress) as bar:
        for fold_rows in Parallel(n_jobs=n_jobs, return_as="generator")(tasks):
            rows.extend(fold_rows)
            bar.update()
    return pd.DataFrame(rows)


def _take(a, idx):
    return a.iloc[idx] if hasattr(a, "iloc") else a[idx]


def summarize(df, higher_is_better, spread="std"):
    """Mean ± spread per contender and metric, with the winner of each metric;
    ``spread``: "std" (over folds) or "se" (standard error of the mean)."""
    metrics = [m for m in higher_is_better if m in df.columns]
    groups = df.groupby("contender", sort=False)[metrics]
    means = groups.mean()
    stds = groups.std(ddof=0) if spread == "std" else groups.sem()
    table = pd.DataFrame(index=means.index)
    for m in metrics:
        if means[m].isna().all():
            continue
        best = means[m].idxmax() if higher_is_better[m] else means[m].idxmin()
        table[m] = [("n/a" if np.isnan(means.loc[c, m]) else
                     f"{'**' if c == best else ''}{means.loc[c, m]:.4g} ± {stds.loc[c, m]:.2g}"
                     f"{'**' if c == best else ''}") for c in means.index]
    return table


def paired_wins(df, a, b, metric, higher_is_better=True):
    """On how many folds contender ``a`` beats ``b`` on ``metric``: (wins, folds,
    mean advantage)."""
    return paired_difference(df, a, b, metric, higher_is_better)[:3]


def paired_difference(df, a, b, metric, higher_is_better=True):
    """(wins, folds, mean, standard error) of ``a``'s per-fold advantage over
    ``b`` on ``metric`` (positive: ``a`` better)."""
    pa = df[df.contender == a].set_index("fold")[metric]
    pb = df[df.contender == b].set_index("fold")[metric]
    diff = (pa - pb) if higher_is_better else (pb - pa)
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else np.nan
    return int((diff > 0).sum()), int(len(diff)), float(diff.mean()), se


def save_outputs(df, table, out, name, metrics_to_plot):
    """Write the per-fold CSV, the Markdown table and the PNG plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{name}_folds.csv", index=False)
    (out / f"{name}.md").write_text(table.to_markdown() + warnings_note(df) + "\n")
    contenders = list(dict.fromkeys(df.contender))
    metrics = [m for m in metrics_to_plot if m in df.columns]
    fig, axes = plt.subplots(1, len(metrics) + 1, figsize=(4 * (len(metrics) + 1), 4))
    for ax, m in zip(axes, [*metrics, "fit_s"]):
        ax.boxplot([df[df.contender == c][m].dropna() for c in contenders])
        ax.set_xticks(range(1, len(contenders) + 1), contenders, rotation=45, ha="right",
                      fontsize=7)
        ax.set_title(m if m != "fit_s" else "fit seconds (log)")
        if m == "fit_s":
            ax.set_yscale("log")
    fig.suptitle(name)
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=90)
    plt.close(fig)
