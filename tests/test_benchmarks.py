"""The benchmark suite's --smoke run writes every file with finite scores.

One test per ``--only`` section (so that the sections spread over the test
workers), each at ``--smoke`` sizes: every code path of the suite runs, its
numbers mean nothing (the real results are ``benchmarks/results``)."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.__main__ import main
from benchmarks.bench_tables import DATASETS, load_table
from benchmarks.bench_speed import ROWS as SPEED_ROWS

#: The files of each section, and the contenders its folds hold at least.
SECTIONS = {
    "abalone": {"abalone_without_sex": 4, "abalone_with_sex": 4},
    "multilabel": {"multilabel_reference": 4, "multilabel_20_imbalanced": 4},
    "emotions": {"emotions": 4},
    "sequences": {"sequences": 4},
    "three_heads": {"three_heads": 4},
    "partial_labels": {"partial_labels": 3},
    "tables": {"tables_attrition": 4, "tables_emotions": 4},
}
#: What each section prints.
PRINTED = {"abalone": "joint beats separate on mae", "multilabel": "x faster",
           "tables": "Issue 21's checks per head"}


@pytest.mark.slow
def test_smoke_speed_has_every_row_on_both_backends(tmp_path):
    main(["--smoke", "--only", "speed", "--out", str(tmp_path)])
    speed = pd.read_csv(tmp_path / "speed.csv")
    assert set(speed.row) == set(SPEED_ROWS) and set(speed.backend) == {"tensorflow", "jax"}
    failed = speed.error.notna()  # a row whose worker failed says why, the others have values
    assert speed.met[failed].str.startswith("failed").all()
    assert np.isfinite(speed.value[~failed].astype(float)).all()
    cold = speed[speed.measure.str.startswith("reference protocol, fresh process")]
    assert len(cold) == 2 and not cold.error.notna().any()
    assert (tmp_path / "speed.md").stat().st_size > 0 and (tmp_path / "SUMMARY.md").exists()


@pytest.mark.slow
@pytest.mark.parametrize("section", list(SECTIONS))
def test_smoke_section_writes_every_file_with_finite_scores(section, tmp_path, capsys):
    main(["--smoke", "--only", section, "--out", str(tmp_path)])
    captured = capsys.readouterr()
    printed = captured.out
    assert PRINTED.get(section, "total:") in printed
    assert "Warning" not in captured.err  # recorded in the results, not printed
    for name, contenders in SECTIONS[section].items():
        for ext in ("_folds.csv", ".md", ".png"):
            assert (tmp_path / f"{name}{ext}").stat().st_size > 0
        folds = pd.read_csv(tmp_path / f"{name}_folds.csv")
        scores = folds.drop(columns=["comparison", "contender", "fold", "params", "warnings"],
                            errors="ignore")
        assert np.isfinite(scores.to_numpy(dtype=float)).all(), name
        assert folds.contender.nunique() >= contenders
    assert (tmp_path / "SUMMARY.md").exists()
    if section == "emotions":  # scikit-learn's MLP stops at 2 epochs: recorded, and listed
        folds = pd.read_csv(tmp_path / "emotions_folds.csv")
        mlp = folds[folds.contender == "sklearn MLPClassifier"]
        assert mlp.warnings.str.contains("ConvergenceWarning").all()
        assert "Warnings during the fits" in printed and "ConvergenceWarning on 2 of 2 folds" \
            in (tmp_path / "emotions.md").read_text()


@pytest.mark.slow
def test_every_real_table_has_its_targets_in_y_only():
    for name in DATASETS:
        table = load_table(name)
        columns = [c for _, _, cols in table.heads for c in np.atleast_1d(cols)]
        assert list(table.y.columns) == columns and len(table.X) == len(table.y), name
        assert not set(columns) & set(table.X.columns), name
        assert table.X.dtypes.map(lambda d: d.kind in "fiub" or d == "category").all(), name


@pytest.mark.slow
def test_sharing_builds_every_contender_from_each_bench_problem():
    """No fit: every problem's baseline is its bench's SeparateNetworks, every contender
    the joint network on the same heads (experts only where X can be dense). The
    multi-label reference is left out: generating its data takes seconds."""
    from benchmarks import bench_sharing

    for name in bench_sharing.PROBLEMS:
        if name == "multilabel_reference":
            continue
        problem = bench_sharing.load(name, rows=120)
        contenders = bench_sharing.contenders(problem)
        expected = [n for n in bench_sharing.CONTENDERS
                    if name != "sequences" or "experts" not in bench_sharing.CONTENDERS[n]]
        assert list(contenders) == [bench_sharing.BASELINE, *expected], name
        heads = [h for h, _ in bench_sharing._parts(problem.baseline)[2].heads]
        assert [s.split("|")[0] for s in bench_sharing.scoring(problem)] == heads, name


def test_sharing_report_flags_the_heads_a_contender_loses(tmp_path):
    """No fit: per-fold scores written as ``run`` writes them give the verdict of the
    bar (no worse on any head by one SE, better on half) and the report rebuilt."""
    from benchmarks import bench_sharing

    gain = {("a", "joint"): [0.1, 0.2, 0.1], ("b", "joint"): [-0.2, -0.3, -0.2],
            ("a", "towers"): [0.1, 0.0, 0.05], ("b", "towers"): [0.01, -0.01, 0.02]}
    rows = [{"head": head, "metric": "r2", "estimator": name, "fold": fold,
             "score": 0.5 + (0 if name == "separate" else gain[head, name][fold]),
             "fit_time": 1.0, "problem": "toy", "n_train": 80.0, "n_test": 20.0}
            for head in "ab" for name in ("separate", "joint", "towers") for fold in range(3)]
    pd.DataFrame(rows).to_csv(tmp_path / "sharing_meats_folds.csv", index=False)
    text = bench_sharing.rebuild(str(tmp_path))
    verdict = bench_sharing.verdicts({"toy": bench_sharing.paired(pd.DataFrame(rows))})
    assert verdict.set_index("contender")["meets the bar"].to_dict() == {"joint": False,
                                                                          "towers": True}
    assert verdict.set_index("contender").loc["joint", "worse on (difference ± SE)"] == \
        "toy b -0.2333 ± 0.0333"
    assert "-0.2333 ± 0.0333 (0/3) ✗" in text and text == (tmp_path / "sharing.md").read_text().strip()
