"""Run the benchmark suite (for now: the multi-label reference protocol demo)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.bench_multilabel_demo import benchmark, main  # noqa: E402

if __name__ == "__main__":
    main()
