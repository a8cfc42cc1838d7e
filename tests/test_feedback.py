"""The fast path in chunks of epochs: progress, callbacks, Ctrl-C, no needless
recompiles, and the memory-bounded trainer cache."""

import csv
import os
import signal
import threading
import time

import keras
import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification

import mtestimator
from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier
from mtestimator.engine import cache as _cache, training as _training
from mtestimator.engine.trainer import needs_batch_hooks, reads_logs_only

# callbacks, progress, Ctrl-C and the trainer cache: per backend; callbacks with per-batch
# hooks are deliberate here (test_slow_path_warns_once_naming_the_callback checks the warning)
pytestmark = [pytest.mark.backend,
              pytest.mark.filterwarnings("ignore:Callback .* per-batch:UserWarning")]

X, Y = make_multilabel_classification(n_samples=120, n_features=6, n_classes=3,
                                      random_state=0)
YJ = np.column_stack([X[:, 0] * 2.0, np.where(X[:, 1] > np.median(X[:, 1]), 1, 0)])


def _trainers():
    return [trainer for trainer, _ in _cache._ENTRIES.values()]


class EpochRecorder(keras.callbacks.Callback):
    """Epoch hooks only: runs on the fast path."""

    def __init__(self):
        super().__init__()
        self.epochs, self.rates = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((epoch, dict(logs)))
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


class BatchHook(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


@pytest.mark.parametrize("callback, general", [
    (keras.callbacks.History(), False),
    (keras.callbacks.EarlyStopping(), False),
    (keras.callbacks.ReduceLROnPlateau(), False),
    (keras.callbacks.TerminateOnNaN(), False),
    (keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr), False),
    (keras.callbacks.ModelCheckpoint("m.keras"), False),
    (keras.callbacks.ModelCheckpoint("m.keras", save_freq=5), True),
    (keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: None), False),
    (keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: None), True),
    (keras.callbacks.ProgbarLogger(), True),
    (BatchHook(), True),
])
def test_which_callbacks_need_keras_fit(callback, general):
    assert needs_batch_hooks(callback) is general


class _Trained(Exception):
    pass


def test_slow_path_warns_once_naming_the_callback(monkeypatch):
    """The user's step: a per-batch callback made a fit 44x slower without a word
    (the warning comes before training: the training itself is left out here)."""
    import warnings

    def train(*args, **kwargs):
        raise _Trained

    monkeypatch.setattr(_training, "train", train)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for callbacks in ([EpochRecorder(), BatchHook(), BatchHook()],
                          [EpochRecorder()]):  # the fast path: no warning
            with pytest.raises(_Trained):
                MultiLabelMLPClassifier((4,), epochs=1, callbacks=callbacks).fit(X, Y)
    slow = [str(w.message) for w in caught if "per-batch" in str(w.message)]
    assert len(slow) == 1, slow
    assert slow[0].startswith("Callback BatchHook implements on_train_batch_end, a per-batch "
                              "or evaluation hook: MultiLabelMLPClassifier trains through "
                              "Keras's own model.fit")
    assert "do the work in on_epoch_end" in slow[0]


@pytest.mark.parametrize("callback, expected", [
    (keras.callbacks.History(), True),
    (keras.callbacks.CSVLogger("log.csv"), True),
    (keras.callbacks.TerminateOnNaN(), True),
    (keras.callbacks.EarlyStopping(), True),
    (keras.callbacks.EarlyStopping(restore_best_weights=True), False),  # reads weights
    (keras.callbacks.ReduceLROnPlateau(), False),  # changes the learning rate
    (keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: None), False),
    (type("MyHistory", (keras.callbacks.History,), {})(), False),  # may read more
])
def test_which_callbacks_only_read_logs(callback, expected):
    assert reads_logs_only(callback) is expected


def _chunk_calls(monkeypatch):
    """Count the compiled training calls of the backend's trainer."""
    trainer_class = _training.backend_module().Trainer
    calls = []
    original = trainer_class._epochs

    def counted(self, data, first_epoch, n_epochs, *args):
        calls.append((first_epoch, n_epochs))
        return original(self, data, first_epoch, n_epochs, *args)

    monkeypatch.setattr(trainer_class, "_epochs", counted)
    return calls


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_log_only_callbacks_see_epochs_after_a_chunk_with_the_same_result(
        monkeypatch, tmp_path, dropout):
    """EarlyStopping + History + CSVLogger run after each chunk of epochs;
    a stop inside a chunk runs that chunk again up to the stopping epoch:
    the same weights, history, log and epoch count as epoch by epoch (a
    callback that is not log-only forces that)."""
    def fit(extra, log):
        callbacks = [keras.callbacks.EarlyStopping(monitor="loss", patience=2, min_delta=0.02),
                     keras.callbacks.History(), keras.callbacks.CSVLogger(str(log)), *extra]
        clf = MultiLabelMLPClassifier((8,), epochs=60, dropout=dropout, random_state=0,
                                      learning_rate=0.003, callbacks=callbacks)
        return clf.fit(X, Y)

    calls = _chunk_calls(monkeypatch)
    chunked = fit([], tmp_path / "chunked.csv")
    chunked_calls = list(calls)
    del calls[:]
    per_epoch = fit([keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: None)],
                    tmp_path / "per_epoch.csv")
    assert all(n == 1 for _, n in calls) and len(calls) == per_epoch.n_iter_
    assert 3 <= chunked.n_iter_ < 60  # it stopped early ...
    stop = chunked.n_iter_ - 1
    assert any(first < stop < first + n - 1 for first, n in chunked_calls)  # ... in a chunk
    assert chunked_calls[-1] == (chunked_calls[-2][0], stop - chunked_calls[-2][0] + 1)
    assert chunked.n_iter_ == per_epoch.n_iter_
    np.testing.assert_array_equal(chunked.history_["loss"], per_epoch.history_["loss"])
    for a, b in zip(chunked.model_.get_weights(), per_epoch.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "chunked.csv").read_text() == (tmp_path / "per_epoch.csv").read_text()


def test_epoch_callbacks_run_on_the_fast_path():
    mtestimator.clear_cache()
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=2, min_delta=10.0)
    clf = MultiLabelMLPClassifier((8,), epochs=50, random_state=0,
                                  callbacks=[stop, keras.callbacks.History()]).fit(X, Y)
    assert clf.n_iter_ == 3  # no epoch improves by 10: stops after 1 + patience epochs
    assert not clf.model_.compiled  # Keras's fit would have compiled it
    assert len(_trainers()) == 1


def test_callback_sees_every_epoch_and_can_change_the_learning_rate(tmp_path):
    recorder = EpochRecorder()
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 / (epoch + 1))
    log = tmp_path / "log.csv"
    clf = JointRegressorClassifier((8,), epochs=4, random_state=0, callbacks=[
        schedule, recorder, keras.callbacks.CSVLogger(str(log))]).fit(X, YJ)
    assert clf.n_iter_ == 4
    rows = list(csv.DictReader(log.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert set(rows[0]) >= {"loss", "regression_loss", "classification_loss"}
    np.testing.assert_allclose([float(r["loss"]) for r in rows], clf.history_["loss"],
                               rtol=1e-5)
    assert recorder.epochs == []  # each fit runs a deep copy of the parameter's callbacks


def test_learning_rate_scheduler_acts_between_epochs():
    frozen = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.0)
    clf = MultiLabelMLPClassifier((8,), epochs=3, random_state=0, callbacks=[frozen])
    clf.fit(X, Y)
    untrained = MultiLabelMLPClassifier((8,), epochs=3, random_state=0, learning_rate=1e-12)
    np.testing.assert_allclose(clf.predict_proba(X), untrained.fit(X, Y).predict_proba(X),
                               atol=1e-6)


def test_reduce_lr_on_plateau_changes_the_fast_path_rate():
    class Probe(EpochRecorder):
        seen = []

        def on_train_end(self, logs=None):
            Probe.seen = list(self.rates)

    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5,
                                                min_delta=10.0)
    MultiLabelMLPClassifier((8,), epochs=5, random_state=0, learning_rate=0.01,
                            callbacks=[plateau, Probe()]).fit(X, Y)
    assert Probe.seen[0] == pytest.approx(0.01)
    assert Probe.seen[-1] < 0.01 / 3


def test_verbose_1_shows_a_progress_bar_with_losses(capsys):
    JointRegressorClassifier((8,), epochs=3, random_state=0, verbose=1).fit(X, YJ)
    err = capsys.readouterr().err
    assert "3/3" in err and "JointRegressorClassifier" in err
    assert "regression " in err and "classification " in err  # the losses, below the bar


def test_verbose_1_keeps_bar_and_losses_readable_in_80_columns():
    """The user's step: in a 100-column terminal the bar shrank to one character
    and the validation losses were cut off."""
    import io
    import re

    from mtestimator.engine.progress import make_progress

    logs = {"loss": 1.2345, **{f"{h}_loss": 0.5 + i for i, h in enumerate(
        ("size", "species", "tags"))}, "val_loss": 1.3456,
        **{f"val_{h}_loss": 0.75 + i for i, h in enumerate(("size", "species", "tags"))}}
    for width in (80, 100):
        out = io.StringIO()
        bar = make_progress(1, 100, "MultiTaskEstimator", file=out, ncols=width)
        for epoch in range(3):
            bar.update(epoch, logs, 0.05)
        bar.close()
        lines = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line)
                 for line in re.split(r"[\r\n]", out.getvalue())]
        assert max(map(len, lines)) <= width
        meter = [line for line in lines if "3/100" in line][-1]
        assert len(re.search(r"\|(.*)\|", meter).group(1)) >= 10  # a bar, not a character
        shown = " ".join(lines[-4:])
        for text in ("loss 1.234 (val 1.346)", "size 0.5 (val 0.75)",
                     "species 1.5 (val 1.75)", "tags 2.5 (val 2.75)"):
            assert text in shown, (text, lines[-4:])


def test_verbose_2_prints_one_line_per_epoch(capsys):
    MultiLabelMLPClassifier((8,), epochs=4, random_state=0, verbose=2).fit(X, Y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert [line.split()[1] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("loss: " in line and "labels_loss: " in line for line in lines)


def test_verbose_0_is_silent(capsys):
    MultiLabelMLPClassifier((8,), epochs=3, random_state=0).fit(X, Y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_interrupt_from_a_callback_leaves_the_estimator_as_it_was():
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    clf = MultiLabelMLPClassifier((8,), epochs=2, random_state=0).fit(X, Y)
    before = clf.predict_proba(X)
    clf.set_params(epochs=10, callbacks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, Y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    assert clf.n_iter_ == 2


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to self")
def _skip_unless_default_sigint():
    """Ctrl-C is Python's KeyboardInterrupt only under the default handler
    in the main thread; some test runners' workers replace or ignore it."""
    handler = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or handler is not signal.default_int_handler):
        pytest.skip(f"SIGINT is handled by {handler!r} in this process, not Python's default")


def test_ctrl_c_stops_a_long_fast_fit_within_seconds():
    _skip_unless_default_sigint()
    rng = np.random.RandomState(0)
    Xl = rng.normal(size=(20_000, 6)).astype(np.float32)
    yl = (Xl[:, :3] > 0).astype(int)
    MultiLabelMLPClassifier((16,), epochs=1, batch_size=8).fit(Xl[:100], yl[:100])  # compiled
    clf = MultiLabelMLPClassifier((16,), epochs=10_000, batch_size=8)  # minutes of training
    sent = []

    def interrupt():
        time.sleep(1.0)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt).start()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(Xl, yl)
    assert time.perf_counter() - sent[0] < 10
    assert not hasattr(clf, "model_")


def test_values_of_the_compiled_function_do_not_recompile():
    mtestimator.clear_cache()
    MultiLabelMLPClassifier((8,), epochs=2, dropout=0.1, random_state=0).fit(X, Y)
    (trainer,) = _trainers()
    compiled = trainer.compilations()
    # batch sizes: any within the default's (32) power-of-two capacity (see
    # tests/test_jax_trainer.py and tests/test_training.py for the buckets)
    sizes = (17, 24, 32)
    for dropout, lr, batch_size, epochs in zip((0.3, 0.5, 0.05), (1e-2, 3e-3, 1e-3), sizes,
                                               (3, 7, 1)):
        MultiLabelMLPClassifier((8,), epochs=epochs, dropout=dropout, learning_rate=lr,
                                batch_size=batch_size, random_state=0).fit(X, Y)
    for weights in [(1.0, 0.5), (0.2, 3.0)]:
        JointRegressorClassifier((8,), epochs=2, loss_weights=weights).fit(X, YJ)
    joint = [t for t in _trainers() if t is not trainer]
    assert _trainers()[0] is trainer and trainer.compilations() == compiled
    assert len(joint) == 1


def test_a_cached_dropout_rate_is_the_fits_own():
    """One trainer serves two rates, and each fit trains with its own."""
    def fitted(rate):
        return MultiLabelMLPClassifier((16,), epochs=5, dropout=rate, random_state=0).fit(
            X, Y).predict_proba(X)

    mtestimator.clear_cache()
    low_first = fitted(0.1)
    high = fitted(0.6)
    mtestimator.clear_cache()
    high_first = fitted(0.6)
    np.testing.assert_allclose(high, high_first, rtol=1e-5, atol=1e-6)
    assert not np.allclose(low_first, high_first)


def test_cache_is_bounded_by_memory(monkeypatch):
    mtestimator.clear_cache()
    monkeypatch.setenv("MTESTIMATOR_CACHE_MB", "0.0001")  # below any trainer's cost
    MultiLabelMLPClassifier((8,), epochs=1).fit(X, Y)
    assert mtestimator.cache_info()["trainers"] == 0
    monkeypatch.setenv("MTESTIMATOR_CACHE_MB", "10000")
    for units in (4, 5, 6):
        MultiLabelMLPClassifier((units,), epochs=1).fit(X, Y)
    info = mtestimator.cache_info()
    assert info["trainers"] == 3 and 0 < info["megabytes"] <= info["limit_megabytes"]
    mtestimator.clear_cache()
    assert mtestimator.cache_info() == {"trainers": 0, "megabytes": 0.0,
                                        "limit_megabytes": 10000.0}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="JAX frees a dropped trainer's executables")
def test_tensorflow_trainers_cost_their_variables(monkeypatch):
    """TensorFlow keeps XLA executables after a trainer is dropped: evicting
    one would free nothing and compile (and keep) another copy on return, so
    a trainer counts its variables' bytes only, and 1 MB holds three."""
    mtestimator.clear_cache()
    monkeypatch.setenv("MTESTIMATOR_CACHE_MB", "1")
    for units in (4, 5, 6):
        MultiLabelMLPClassifier((units,), epochs=1).fit(X, Y)
    info = mtestimator.cache_info()
    assert info["trainers"] == 3 and 0 < info["megabytes"] < 0.1
    mtestimator.clear_cache()


def test_cache_limit_must_be_a_number(monkeypatch):
    monkeypatch.setenv("MTESTIMATOR_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="MTESTIMATOR_CACHE_MB.*'lots'"):
        mtestimator.cache_info()


@pytest.mark.parametrize("env, expected", [
    ({"OMP_NUM_THREADS": "1"}, ("1", "--xla_cpu_multi_thread_eigen=false")),
    ({"OMP_NUM_THREADS": "2"}, ("2", "")),
    ({"OMP_NUM_THREADS": "1", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true",
      "TF_NUM_INTRAOP_THREADS": "4"}, ("4", "--xla_cpu_multi_thread_eigen=true")),
])
def test_worker_thread_limit_reaches_both_backends(env, expected):
    """joblib workers set OMP_NUM_THREADS; TensorFlow and XLA get it, unless the
    user chose their own settings."""
    import subprocess
    import sys

    code = ("import os, mtestimator; print(os.environ.get('TF_NUM_INTRAOP_THREADS'), "
            "os.environ.get('XLA_FLAGS', ''), sep='|')")
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "XLA_FLAGS", "TF_NUM_INTRAOP_THREADS",
                         "TF_NUM_INTEROP_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env},
                         capture_output=True, text=True, check=True).stdout
    assert tuple(out.strip().split("|")) == expected


def test_sigint_during_a_fit_is_a_flag_checked_between_chunks():
    """A SIGINT sets a flag (it cannot be lost in a __del__ the collector
    runs), raised as KeyboardInterrupt at the next check; a second SIGINT
    raises at once; the default handler is back afterwards."""
    from mtestimator.engine.trainer import _DeferredInterrupt

    _skip_unless_default_sigint()
    with pytest.raises(KeyboardInterrupt):
        with _DeferredInterrupt() as interrupt:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run: nothing raised yet
            assert interrupt.pending
            interrupt.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        with _DeferredInterrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C: at once
            time.sleep(5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):  # pending at the end of the fit: raised on exit
        with _DeferredInterrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
