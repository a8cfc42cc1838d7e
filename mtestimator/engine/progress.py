"""What a fit on the fast path shows while it trains, by ``verbose``.

- 0: nothing.
- 1: a tqdm bar over epochs (on stderr) with the latest losses, per head.
- 2: one Keras-style line per epoch on stdout:
  ``Epoch 3/100 - 2ms/epoch - loss: 0.5123 - clf_loss: 0.4012 - ...``.

The trainer reports epochs in chunks, so the display moves once per chunk
(about twice a second) whatever the epoch rate.
"""

import sys

__all__ = ["make_progress"]


def make_progress(verbose, epochs, description):
    """A progress display for ``epochs`` epochs, or a silent one (``verbose=0``)."""
    if verbose >= 2:
        return _EpochLines(epochs)
    if verbose == 1:
        return _Bar(epochs, description)
    return _Silent()


def _format(logs):
    return " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())


class _Silent:
    def update(self, epoch, logs, seconds_per_epoch):
        pass

    def close(self):
        pass


class _EpochLines(_Silent):
    def __init__(self, epochs):
        self.epochs = epochs

    def update(self, epoch, logs, seconds_per_epoch):
        print(f"Epoch {epoch + 1}/{self.epochs} - {_duration(seconds_per_epoch)}/epoch - "
              f"{_format(logs)}", file=sys.stdout, flush=True)


class _Bar(_Silent):
    def __init__(self, epochs, description):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=epochs, desc=description, unit="epoch", leave=True,
                        dynamic_ncols=True)

    def update(self, epoch, logs, seconds_per_epoch):
        self.bar.set_postfix(logs, refresh=False)
        self.bar.update(epoch + 1 - self.bar.n)

    def close(self):
        self.bar.close()


def _duration(seconds):
    if seconds >= 1:
        return f"{seconds:.1f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"
