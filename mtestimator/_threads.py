"""TensorFlow follows the process's thread limit (joblib workers).

joblib starts its worker processes with ``OMP_NUM_THREADS`` set to its
share of the cores, which TensorFlow ignores: two workers on two cores would
each run TensorFlow with two threads per op pool. Before TensorFlow is first
imported, and only where the user has not chosen TensorFlow's own settings,
this maps ``OMP_NUM_THREADS`` onto ``TF_NUM_INTRAOP_THREADS`` and sets
``TF_NUM_INTEROP_THREADS=1``.
"""

import os
import sys


def follow_thread_limit():
    limit = os.environ.get("OMP_NUM_THREADS")
    if not limit or "tensorflow" in sys.modules:
        return
    if "TF_NUM_INTRAOP_THREADS" not in os.environ and "TF_NUM_INTEROP_THREADS" not in os.environ:
        os.environ["TF_NUM_INTRAOP_THREADS"] = limit
        os.environ["TF_NUM_INTEROP_THREADS"] = "1"
