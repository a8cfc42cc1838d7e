"""Run the benchmark suite: ``python -m benchmarks [--quick | --smoke] [--only NAME] ...``.

Writes per-fold CSVs, Markdown tables and PNG plots to ``--out`` and prints a
summary. ``--quick`` is a small version (2 folds, few epochs); ``--smoke`` (the
test suite) runs every code path at the smallest sizes (2 folds, 1 repeat, 2
epochs, 400 rows where the data are generated; the real tables: attrition
and emotions at 100 rows; the speed rows at their ``--smoke`` sizes): its
numbers mean nothing.
"""

import argparse
import os
import platform
import time

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
    parser.add_argument("--quick", action="store_true", help="2 folds, few epochs")
    parser.add_argument("--smoke", action="store_true",
                        help="every code path at the smallest sizes (the test suite)")
    parser.add_argument("--only", choices=SUITE, action="append", help="run only these")
    parser.add_argument("--repeats", type=int, default=None,
                        help="CV repeats (default: 2 abalone and three heads, 3 multi-label; "
                             "1 with --quick)")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="run folds in parallel processes (timings then include "
                             "their contention; the speed benchmark always runs alone)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    only = args.only or (SUITE if args.smoke else DEFAULT)
    quick = "smoke" if args.smoke else args.quick
    # --smoke: on top of --quick's settings (the folds and repeats of one run)
    smoke = {"n_splits": 2, "epochs": 2} if args.smoke else {}
    rows = {"n_samples": 400} if args.smoke else {}  # the generated data sets
    _harness.PREDICT_REPEATS = 1 if args.smoke else 20  # timed predict calls per contender
    start = time.perf_counter()
    flag = {"smoke": " --smoke", True: " --quick"}.get(quick, "")
    texts = [f"# mtestimator benchmarks\n\nmachine: {platform.machine()}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}; command: "
             f"python -m benchmarks{flag}"]
    if "abalone" in only:
        kw = ({"n_splits": 2, "n_repeats": args.repeats or 1, "epochs": 10} if quick
              else {"n_repeats": args.repeats or 2})
        texts.append(bench_abalone.benchmark(out=args.out, n_jobs=args.n_jobs,
                                             **{**kw, **smoke})[1])
    if "multilabel" in only:
        kw = ({"n_splits": 2, "n_repeats": args.repeats or 1} if quick
              else {"n_repeats": args.repeats or 3})
        texts.append(bench_multilabel.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                **{**kw, **smoke})[1])
    if "emotions" in only:
        kw = {"n_splits": 2, "epochs": 5} if quick else {}
        texts.append(bench_emotions.benchmark(out=args.out, n_jobs=args.n_jobs,
                                              **{**kw, **smoke})[1])
    if "sequences" in only:
        kw = {"n_splits": 2, "epochs": 10} if quick else {}
        texts.append(bench_sequences.benchmark(out=args.out, n_jobs=args.n_jobs,
                                               **{**kw, **smoke})[1])
    if "three_heads" in only:
        kw = ({"n_splits": 2, "n_repeats": args.repeats or 1, "epochs": 10} if quick
              else {"n_repeats": args.repeats or 2})
        texts.append(bench_three_heads.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                 **{**kw, **smoke, **rows})[1])
    if "partial_labels" in only:
        kw = {"n_splits": 2, "epochs": 10} if quick else {}
        texts.append(bench_partial_labels.benchmark(out=args.out, n_jobs=args.n_jobs,
                                                    **{**kw, **smoke, **rows})[1])
    if "tables" in only:
        kw = ({"datasets": bench_tables.SMOKE_TABLES, "rows": 100} if quick == "smoke" else
              {"n_splits": 2, "rows": 1000} if quick else {})
        texts.append(bench_tables.benchmark(out=args.out, n_jobs=args.n_jobs,
                                            **{**kw, **smoke})[1])
    if "speed" in only:
        texts.append("\n## speed and memory\n")
        texts.append(bench_speed.benchmark(quick=quick, out=args.out)[1])
    texts.append(f"\ntotal: {time.perf_counter() - start:.0f} s")
    summary = "\n".join(texts)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "SUMMARY.md"), "w") as f:
        f.write(summary + "\n")
    print(summary)


if __name__ == "__main__":
    main()
