"""What a fit on the fast path shows while it trains, by ``verbose``.

- 0: nothing.
- 1: a tqdm bar over epochs (on stderr), and below it the total and each
  head's training (and validation) loss, wrapped to the terminal's width,
  so that an 80-column terminal shows them all:
  ``size 0.1234 (val 0.2345) | species 0.61 (val 0.66) | ...``.
- 2: one Keras-style line per epoch on stdout:
  ``Epoch 3/100 - 2ms/epoch - loss: 0.5123 - clf_loss: 0.4012 - ...``.

The trainer reports epochs in chunks, so the display moves once per chunk
(about twice a second) whatever the epoch rate.
"""

import sys

__all__ = ["make_progress"]


def make_progress(verbose, epochs, description, *, file=None, ncols=None):
    """A progress display for ``epochs`` epochs, or a silent one (``verbose=0``);
    the bar's ``file`` and width ``ncols`` (None: stderr, the terminal's)."""
    if verbose >= 2:
        return _EpochLines(epochs)
    if verbose == 1:
        return _Bar(epochs, description, file=file, ncols=ncols)
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
    """The bar; the total and each head's losses on the lines below it, wrapped
    to the terminal's width (``ncols``: a fixed width, e.g. in tests), so that
    neither the bar nor the losses are squeezed out."""

    def __init__(self, epochs, description, *, file=None, ncols=None):
        from tqdm.auto import tqdm

        self._tqdm, self.file, self.ncols = tqdm, file, ncols
        self.bar = tqdm(total=epochs, desc=description, unit="epoch", leave=True,
                        dynamic_ncols=ncols is None, ncols=ncols, file=file)
        self.lines = []  # a tqdm status line (no bar) per line of head losses

    def update(self, epoch, logs, seconds_per_epoch):
        for i, text in enumerate(_wrap(_losses(logs), self._width())):
            if i == len(self.lines):
                self.lines.append(self._tqdm(total=0, bar_format="{desc}", leave=True,
                                             file=self.file, ncols=self.ncols,
                                             dynamic_ncols=self.ncols is None))
            self.lines[i].set_description_str(text, refresh=True)
        self.bar.update(epoch + 1 - self.bar.n)

    def _width(self):
        if self.ncols is not None:
            return self.ncols
        import shutil

        return shutil.get_terminal_size((80, 24)).columns

    def close(self):
        self.bar.close()
        for line in self.lines:
            line.close()


def _losses(logs):
    """``["loss 0.5 (val 0.6)", "size 0.1234 (val 0.2345)", ...]``: the total
    then each head's training (and validation) loss, from ``loss``,
    ``<head>_loss`` and their ``val_`` keys."""
    parts = []
    for key, value in logs.items():
        if not (key == "loss" or key.endswith("_loss")) or key.startswith("val_") \
                and key[4:] in logs:
            continue
        val = logs.get(f"val_{key}")
        name = key if key == "loss" else key[:-5]
        parts.append(f"{name} {value:.4g}" + ("" if val is None else f" (val {val:.4g})"))
    return parts


def _wrap(parts, width):
    """``parts`` joined by `` | ``, in lines of at most ``width - 1`` characters
    (a part longer than a line has one to itself)."""
    lines, line = [], ""
    for part in parts:
        joined = f"{line} | {part}" if line else part
        if line and len(joined) > width - 1:
            lines.append(line)
            joined = part
        line = joined
    return [*lines, line] if line else lines


def _duration(seconds):
    if seconds >= 1:
        return f"{seconds:.1f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"
