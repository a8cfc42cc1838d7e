"""The backends follow the process's thread limit (joblib workers).

joblib starts its worker processes with ``OMP_NUM_THREADS`` set to its
share of the cores, which neither TensorFlow nor XLA (JAX) reads: two
workers on two cores would each run two or more compute threads, and fight
over the cores. Before a backend is first imported, and only where the user
has not chosen that backend's own settings:

- TensorFlow: ``OMP_NUM_THREADS`` becomes ``TF_NUM_INTRAOP_THREADS``, and
  ``TF_NUM_INTEROP_THREADS=1``;
- JAX: with a limit of one thread, XLA's CPU backend runs single-threaded
  (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false``).
"""

import os
import sys


def follow_thread_limit():
    limit = os.environ.get("OMP_NUM_THREADS")
    if not limit:
        return
    if "tensorflow" not in sys.modules and "TF_NUM_INTRAOP_THREADS" not in os.environ \
            and "TF_NUM_INTEROP_THREADS" not in os.environ:
        os.environ["TF_NUM_INTRAOP_THREADS"] = limit
        os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if limit.strip() == "1" and "jax" not in sys.modules:
        single_threaded_xla()


def single_threaded_xla():
    """XLA's CPU backend single-threaded, unless ``XLA_FLAGS`` already says how
    (XLA reads its flags once, at its first compilation in the process)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
