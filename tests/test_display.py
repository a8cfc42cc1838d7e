"""HistoryDisplay: the training history of a fitted estimator, drawn."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier  # noqa: E402
from mtestimator.display import HistoryDisplay  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TINY = {"hidden_layer_sizes": (4,), "epochs": 5, "random_state": 0}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    y_joint = np.column_stack([X[:, 0] + 0.1 * rng.normal(size=120), (X[:, 1] > 0).astype(int)])
    y_labels = (X[:, :3] > 0).astype(int)
    return X, y_joint, y_labels


@pytest.fixture(scope="module")
def joint_es(data):
    X, y, _ = data
    return JointRegressorClassifier(**TINY, early_stopping=True).fit(X, y)


@pytest.fixture(scope="module")
def joint(data):
    X, y, _ = data
    return JointRegressorClassifier(**TINY).fit(X, y)


@pytest.fixture(scope="module")
def multilabel_es(data):
    X, _, Y = data
    # a large step and a short patience: the validation loss goes up and down
    return MultiLabelMLPClassifier(**TINY, early_stopping=True, learning_rate=1.0,
                                   n_iter_no_change=2).fit(X, Y)


class _Fitted(BaseEstimator):
    """A stand-in for another library's fitted estimator."""

    def __init__(self, history=None, best_epoch=None):
        self.history = history
        self.best_epoch = best_epoch

    def fit(self, X=None, y=None):
        if self.history is not None:
            self.history_ = self.history
        if self.best_epoch is not None:
            self.best_epoch_ = self.best_epoch
        self.fitted_ = True
        return self


def _loss_keys(history):
    return {k for k in history if k.endswith("loss")}


def _check_lines_match(disp, history):
    assert set(disp.lines_) == _loss_keys(history)
    for key, line in disp.lines_.items():
        x, y = line.get_data()
        np.testing.assert_array_equal(y, history[key])
        np.testing.assert_array_equal(x, np.arange(1, len(history[key]) + 1))


def _check_marker(disp, epoch, y=None):
    """The vertical line and the point sit at ``epoch`` (0-based)."""
    assert disp.kept_epoch_ == epoch
    x_line, _ = disp.best_epoch_line_.get_data()
    np.testing.assert_array_equal(x_line, [epoch + 1, epoch + 1])
    x_point, y_point = disp.best_epoch_marker_.get_data()
    np.testing.assert_array_equal(x_point, [epoch + 1])
    if y is not None:
        np.testing.assert_array_equal(y_point, [y])


# -- from_estimator on the package's estimators ------------------------------


def test_joint_with_validation_draws_every_curve(joint_es):
    disp = HistoryDisplay.from_estimator(joint_es)
    history = joint_es.history_
    assert {"loss", "regression_loss", "classification_loss", "val_loss",
            "val_regression_loss", "val_classification_loss"} <= set(history)
    _check_lines_match(disp, history)
    for key, line in disp.lines_.items():
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, joint_es.n_iter_ + 1))
        if key.startswith("val_"):
            train = disp.lines_[key[len("val_"):]]
            assert line.get_linestyle() == "--"
            assert to_rgba(line.get_color()) == to_rgba(train.get_color())
        else:
            assert line.get_linestyle() == "-"
    train_colours = {to_rgba(disp.lines_[k].get_color())
                     for k in ("loss", "regression_loss", "classification_loss")}
    assert len(train_colours) == 3
    best = int(np.argmin(history["val_loss"]))
    _check_marker(disp, best, history["val_loss"][best])


def test_marker_at_best_validation_epoch(multilabel_es):
    history = multilabel_es.history_
    disp = HistoryDisplay.from_estimator(multilabel_es)
    _check_lines_match(disp, history)
    assert len(history["val_loss"]) == multilabel_es.n_iter_
    best = int(np.argmin(history["val_loss"]))
    _check_marker(disp, best, history["val_loss"][best])


def test_marker_at_last_epoch_without_validation(joint):
    disp = HistoryDisplay.from_estimator(joint)
    assert set(disp.lines_) == {"loss", "regression_loss", "classification_loss"}
    _check_lines_match(disp, joint.history_)
    _check_marker(disp, joint.n_iter_ - 1, joint.history_["loss"][-1])


def test_figure_axes_labels_and_legend(joint_es):
    disp = HistoryDisplay.from_estimator(joint_es)
    assert isinstance(disp.figure_, matplotlib.figure.Figure)
    assert disp.ax_ in disp.figure_.axes
    assert disp.ax_.get_xlabel() == "epoch"
    assert disp.ax_.get_ylabel() == "loss"
    assert disp.ax_.get_yscale() == "linear"
    legend = disp.ax_.get_legend()
    assert legend.get_title().get_text() == "JointRegressorClassifier"
    labels = {t.get_text() for t in legend.get_texts()}
    assert set(disp.lines_) <= labels
    assert HistoryDisplay.from_estimator(joint_es, name="mine").ax_.get_legend() \
        .get_title().get_text() == "mine"


def test_log_scale(joint):
    assert HistoryDisplay.from_estimator(joint, log_scale=True).ax_.get_yscale() == "log"


def test_log_scale_keeps_zero_and_negative_losses():
    """loss_weights="auto": a negative total is drawn on a symlog axis, with a warning."""
    history = {"loss": [1.2, -0.4, -2.97], "k_loss": [0.7, 0.4, 0.3],
               "k_log_variance": [-0.1, -0.8, -1.9], "val_loss": [1.0, -0.5, -2.5],
               "val_k_loss": [0.6, 0.35, 0.32]}
    with pytest.warns(UserWarning, match=r"log_scale=True: the curves \['loss', 'val_loss'\] "
                                         r"have values <= 0 \(down to -2\.97\).*'symlog'"):
        disp = HistoryDisplay(history).plot(log_scale=True)
    assert disp.ax_.get_yscale() == "symlog"
    assert sorted(disp.lines_) == ["k_loss", "loss", "val_k_loss", "val_loss"]
    assert disp.best_epoch_marker_.get_ydata()[0] == -2.5  # the kept epoch, still drawn
    labels = [line.get_label() for line in disp.lines_.values()]
    assert "loss (minimised: sum of exp(-s) L + s)" in labels
    assert "k_loss (the head's own, unweighted)" in labels


def test_draws_on_the_given_ax(joint_es):
    fig, (left, right) = plt.subplots(1, 2)
    disp = HistoryDisplay.from_estimator(joint_es, ax=right)
    assert disp.ax_ is right
    assert disp.figure_ is fig
    assert len(left.get_lines()) == 0
    assert all(line.axes is right for line in disp.lines_.values())
    again = HistoryDisplay(joint_es.history_).plot(ax=left)
    assert again.ax_ is left and again.figure_ is fig


def test_plot_returns_self(joint):
    disp = HistoryDisplay(joint.history_)
    assert disp.plot() is disp


@pytest.mark.parametrize("heads, expected", [
    (["regression"], {"loss", "val_loss", "regression_loss", "val_regression_loss"}),
    ("classification", {"loss", "val_loss", "classification_loss",
                        "val_classification_loss"}),
    ([], {"loss", "val_loss"}),
    (None, {"loss", "val_loss", "regression_loss", "val_regression_loss",
            "classification_loss", "val_classification_loss"}),
])
def test_heads_subset(joint_es, heads, expected):
    disp = HistoryDisplay.from_estimator(joint_es, heads=heads)
    assert set(disp.lines_) == expected
    for key, line in disp.lines_.items():
        np.testing.assert_array_equal(line.get_ydata(), joint_es.history_[key])


def test_unknown_head(joint_es):
    with pytest.raises(ValueError, match="'labels'.*regression"):
        HistoryDisplay.from_estimator(joint_es, heads=["labels"])


def test_pipeline_uses_its_last_step(data):
    X, y, _ = data
    pipe = make_pipeline(StandardScaler(), JointRegressorClassifier(**TINY)).fit(X, y)
    disp = HistoryDisplay.from_estimator(pipe)
    _check_lines_match(disp, pipe[-1].history_)
    assert disp.estimator_name == "JointRegressorClassifier"


def test_unfitted_raises_not_fitted():
    with pytest.raises(NotFittedError):
        HistoryDisplay.from_estimator(JointRegressorClassifier(**TINY))
    with pytest.raises(NotFittedError):
        HistoryDisplay.from_estimator(make_pipeline(StandardScaler(),
                                                    MultiLabelMLPClassifier(**TINY)))


def test_estimator_without_history_raises_type_error(data):
    X, y, _ = data
    with pytest.raises(TypeError, match="history_.*LinearRegression has no 'history_'"):
        HistoryDisplay.from_estimator(LinearRegression().fit(X, y[:, 0]))
    with pytest.raises(TypeError, match="history_"):
        HistoryDisplay.from_estimator(_Fitted(history=[0.5, 0.4]).fit())


def test_savefig_writes_a_png(joint_es, tmp_path):
    disp = HistoryDisplay.from_estimator(joint_es)
    path = tmp_path / "history.png"
    disp.figure_.savefig(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE


# -- other estimators and histories built by hand ----------------------------


def test_best_epoch_attribute_wins():
    history = {"loss": [3.0, 2.0, 1.0, 0.5], "val_loss": [3.0, 1.0, 2.0, 2.5]}
    disp = HistoryDisplay.from_estimator(_Fitted(history, best_epoch=2).fit())
    _check_marker(disp, 2, 2.0)  # on val_loss, not at its minimum
    assert disp.best_epoch == 2
    # a best_epoch_ that is not one epoch (e.g. one per head) is not used
    disp = HistoryDisplay.from_estimator(_Fitted(history, best_epoch=[1, 2]).fit())
    _check_marker(disp, 1, 1.0)


def test_history_without_total_loss():
    """One network per head: no ``loss``, heads may stop at different epochs."""
    history = {"a_loss": [1.0, 0.8, 0.7, 0.65], "val_a_loss": [1.1, 0.9, 0.95, 1.0],
               "b_loss": [2.0, 1.5, 1.2], "val_b_loss": [2.1, 1.4, 1.6]}
    disp = HistoryDisplay.from_estimator(_Fitted(history).fit())
    _check_lines_match(disp, history)
    assert to_rgba(disp.lines_["val_b_loss"].get_color()) == \
        to_rgba(disp.lines_["b_loss"].get_color())
    _check_marker(disp, 3, 1.0)  # no val_loss: the last epoch, on the first curve there
    assert set(HistoryDisplay(history).plot(heads=["b"]).lines_) == {"b_loss", "val_b_loss"}


def test_direct_construction():
    history = {"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.7],
               "y_loss": [0.9, 0.5, 0.4], "val_y_loss": [1.0, 0.6, 0.7], "accuracy": [0, 1, 1]}
    disp = HistoryDisplay(history=history, best_epoch=None, estimator_name="net")
    assert (disp.history, disp.best_epoch, disp.estimator_name) == (history, None, "net")
    disp.plot()
    assert set(disp.lines_) == {"loss", "val_loss", "y_loss", "val_y_loss"}  # no metrics
    _check_lines_match(disp, {k: v for k, v in history.items() if k != "accuracy"})
    _check_marker(disp, 1, 0.6)
    assert disp.ax_.get_legend().get_title().get_text() == "net"
    _check_marker(HistoryDisplay(history, best_epoch=0).plot(), 0, 1.0)
    _check_marker(HistoryDisplay({"loss": [0.9, 0.5, 0.4]}).plot(), 2, 0.4)
    disp = HistoryDisplay(history).plot(line_kw={"lw": 3})
    assert all(line.get_linewidth() == 3 for line in disp.lines_.values())


@pytest.mark.parametrize("best_epoch", [3, -1, 1.0, True])
def test_invalid_best_epoch(best_epoch):
    with pytest.raises(ValueError, match="best_epoch"):
        HistoryDisplay({"loss": [0.9, 0.5, 0.4]}, best_epoch=best_epoch).plot()


@pytest.mark.parametrize("history, error", [
    ([0.9, 0.5], TypeError),
    ({"accuracy": [0.5, 0.6]}, ValueError),
    ({"loss": []}, ValueError),
])
def test_invalid_history(history, error):
    with pytest.raises(error):
        HistoryDisplay(history).plot()


# -- matplotlib is optional ---------------------------------------------------


def _run(code):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                            capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_import_does_not_import_matplotlib():
    # Keras imports matplotlib itself when it is installed (keras.src.visualization),
    # so ``import mtestimator`` may; what is checked is that the display module
    # adds no import of it.
    _run("""
        import sys
        import mtestimator
        for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
            del sys.modules[name]
        import mtestimator.display
        loaded = [m for m in sys.modules if m.split(".")[0] == "matplotlib"]
        assert not loaded, loaded
        """)


def test_without_matplotlib():
    """Importing works without matplotlib; drawing says that it needs it."""
    _run("""
        import sys
        sys.modules["matplotlib"] = None  # as if it were not installed
        from mtestimator.display import HistoryDisplay
        try:
            HistoryDisplay({"loss": [1.0, 0.5]}).plot()
        except ImportError as e:
            assert "requires matplotlib" in str(e), e
        else:
            raise AssertionError("no ImportError")
        """)
