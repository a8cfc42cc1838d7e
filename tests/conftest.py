"""Test-session settings: JAX's persistent compilation cache goes to a
temporary directory of each test process, never to the user's home."""

import atexit
import os
import shutil
import tempfile

if "MTESTIMATOR_JAX_CACHE_DIR" not in os.environ:
    _cache_dir = tempfile.mkdtemp(prefix="mtestimator-jax-cache-")
    os.environ["MTESTIMATOR_JAX_CACHE_DIR"] = _cache_dir
    atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)

# tests/data holds files and the script that wrote them (format2/make.py, run
# by hand with the version that wrote that format): never import it
collect_ignore = ["data"]
