"""Test configuration: the data home points at ../shared/data (no downloads)."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"
if "MTESTIMATOR_DATA_HOME" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["MTESTIMATOR_DATA_HOME"] = str(_SHARED_DATA)
elif "MTESTIMATOR_DATA_HOME" in os.environ:
    # tests may change directory: pin a relative data home to where pytest started
    os.environ["MTESTIMATOR_DATA_HOME"] = str(Path(os.environ["MTESTIMATOR_DATA_HOME"]).resolve())
