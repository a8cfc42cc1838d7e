"""The benchmark suite's --quick run writes every file with finite scores."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.__main__ import main
from benchmarks.bench_speed import ROWS as SPEED_ROWS


@pytest.mark.slow
def test_quick_suite_writes_every_file_with_finite_scores(tmp_path, capsys):
    main(["--quick", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "joint beats separate on mae" in printed and "x faster" in printed
    for name in ("abalone_without_sex", "abalone_with_sex", "multilabel_reference",
                 "multilabel_20_imbalanced", "emotions", "sequences", "three_heads",
                 "partial_labels"):
        for ext in ("_folds.csv", ".md", ".png"):
            assert (tmp_path / f"{name}{ext}").stat().st_size > 0
        folds = pd.read_csv(tmp_path / f"{name}_folds.csv")
        scores = folds.drop(columns=["comparison", "contender", "fold", "params"],
                            errors="ignore")
        assert np.isfinite(scores.to_numpy(dtype=float)).all(), name
        assert folds.contender.nunique() >= (3 if name == "partial_labels" else 4)
    assert (tmp_path / "SUMMARY.md").exists()
    speed = pd.read_csv(tmp_path / "speed.csv")
    assert set(speed.row) == set(SPEED_ROWS) and set(speed.backend) == {"tensorflow", "jax"}
    failed = speed.error.notna()  # a row whose worker failed says why, the others have values
    assert speed.met[failed].str.startswith("failed").all()
    assert np.isfinite(speed.value[~failed].astype(float)).all()
    cold = speed[speed.measure.str.startswith("reference protocol, fresh process")]
    assert len(cold) == 2 and not cold.error.notna().any()
