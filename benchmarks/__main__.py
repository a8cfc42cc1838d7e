"""Run the benchmark suite: ``python -m benchmarks [--full | --quick | --smoke] [--only NAME] ...``.

Writes per-fold CSVs, Markdown tables and PNG plots to ``--out`` and prints a
summary. The default (the README's main job, about 15 minutes on 2 cores)
runs every section's protocol once (1 repeat of the cross-validation, the
speed rows at their ``--quick`` sizes); ``--full`` is the whole protocol the
committed results come from (2 or 3 repeats, the speed rows at full size,
about 30 minutes). ``--quick`` is a small version (2 folds, few epochs); ``--smoke`` (the
test suite) runs every code path at the smallest sizes (2 folds, 1 repeat, 2
epochs, 400 rows where the data are generated; the real tables: attrition
and emotions at 100 rows; the speed rows at their ``--smoke`` sizes): its
numbers mean nothing.

Warnings raised during the fits (scikit-learn's MLP stopping at its
``max_iter`` on purpose, ...) are recorded in the per-fold CSVs and listed
under each table, not printed between the progress bars.
"""

import argparse
import os
import platform
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import (  # noqa: E402
    _harness,
    bench_abalone,
    bench_emotions,
    bench_multilabel,
    bench_sequences,
    bench_speed,
    bench_partial_labels,
    bench_tables,
    bench_three_heads,
)

SUITE = ("abalone", "multilabel", "emotions", "sequences", "three_heads", "partial_labels",
         "tables", "speed")
#: What runs without --only: the real tables (about 40 minutes on 2 cores) run on request,
#: except with --smoke, which runs every section.
DEFAULT = tuple(s for s in SUITE if s != "tables")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true",
                        help="the whole protocol of the committed results (about 30 min)")
    parser.add_argument("--quick", action="store_true", help="2 folds, few epochs")
    parser.add_argument("--smoke", action="store_true",
                        help="every code path at the smallest sizes (the test suite)")
    parser.add_argument("--only", choices=SUITE, action="append", help="run only these")
    parser.add_argument("--repeats", type=int, default=None,
                        help="CV repeats (default 1; with --full: 2 abalone and three "
                             "heads, 3 multi-label)")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="run folds in parallel processes (timings then include "
                             "their contention; the speed benchmark always runs alone)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    _quiet_backend()
    with warnings.catch_warnings(record=True) as stray:  # shown in the summary, not printed
        warnings.simplefilter("always")
        summary = _run(args)
        if stray:
            summary += ("\n\nOther warnings (outside the fits): "
                        + _harness.describe_warnings(stray))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "SUMMARY.md"), "w") as f:
        f.write(summary + "\n")
    print(summary)


def _quiet_backend():
    """Import Keras and its backend (as the estimators do, global random state
    kept) with the process's stderr sent to /dev/null meanwhile: TensorFlow's
    C++ start-up lines are written there before TF_CPP_MIN_LOG_LEVEL applies.
    TensorFlow's Python logger then shows errors only (plain Keras's
    retracing notes are expected: the reference loop builds a model per fold)."""
    import logging

    from mtestimator.engine.imports import keras

    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            keras()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _section(result):
    """A section's Markdown, followed by the warnings recorded during its fits."""
    df, text = result
    return text + _harness.warnings_note(df)


def _run(args):
    only = args.only or (SUITE if args.smoke else DEFAULT)
    quick = "smoke" if args.smoke else args.quick
    # repeats: --full's protocol, else one repeat (the default and --quick)
    repeats = {"abalone": 2, "multilabel": 3, "three_heads": 2} if args.full and not quick \
        else {"abalone": 1, "multilabel": 1, "three_heads": 1}
    if args.repeats:
        repeats = dict.fromkeys(repeats, args.repeats)
    # --smoke: on top of --quick's settings (the folds and repeats of one run)
    smoke = {"n_splits": 2, "epochs": 2} if args.smoke else {}
    rows = {"n_samples": 400} if args.smoke else {}  # the generated data sets
    _harness.PREDICT_REPEATS = 1 if args.smoke else 20  # timed predict calls per contender
    start = time.perf_counter()
    flag = {"smoke": " --smoke", True: " --quick"}.get(quick, " --full" if args.full else "")
    texts = [f"# mtestimator benchmarks\n\nmachine: {platform.machine()}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}; command: "
             f"python -m benchmarks{flag}"]
    if "abalone" in only:
        kw = ({"n_splits": 2, "n_repeats": repeats["abalone"], "epochs": 10} if quick
              else {"n_repeats": repeats["abalone"]})
        texts.append(_section(bench_abalone.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                      **{**kw, **smoke})))
    if "multilabel" in only:
        kw = ({"n_splits": 2, "n_repeats": repeats["multilabel"]} if quick
              else {"n_repeats": repeats["multilabel"]})
        texts.append(_section(bench_multilabel.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                         **{**kw, **smoke})))
    if "emotions" in only:
        kw = {"n_splits": 2, "epochs": 5} if quick else {}
        texts.append(_section(bench_emotions.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                       **{**kw, **smoke})))
    if "sequences" in only:
        kw = {"n_splits": 2, "epochs": 10} if quick else {}
        texts.append(_section(bench_sequences.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                        **{**kw, **smoke})))
    if "three_heads" in only:
        kw = ({"n_splits": 2, "n_repeats": repeats["three_heads"], "epochs": 10} if quick
              else {"n_repeats": repeats["three_heads"]})
        texts.append(_section(bench_three_heads.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                          **{**kw, **smoke, **rows})))
    if "partial_labels" in only:
        kw = {"n_splits": 2, "epochs": 10} if quick else {}
        texts.append(_section(bench_partial_labels.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                             **{**kw, **smoke, **rows})))
    if "tables" in only:
        kw = ({"datasets": bench_tables.SMOKE_TABLES, "rows": 100} if quick == "smoke" else
              {"n_splits": 2, "rows": 1000} if quick else {})
        texts.append(_section(bench_tables.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                     **{**kw, **smoke})))
    if "speed" in only:
        texts.append("\n## speed and memory\n")
        if not (quick or args.full):
            texts.append("At the rows' --quick sizes: they show that every row runs, not "
                         "where the targets stand; `--full` measures the targets.\n")
        texts.append(bench_speed.benchmark(quick=quick or not args.full, out=args.out)[1])
    texts.append(f"\ntotal: {time.perf_counter() - start:.0f} s")
    return "\n".join(texts)


if __name__ == "__main__":
    main()
