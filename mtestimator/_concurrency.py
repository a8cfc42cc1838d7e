"""One estimator used from several threads: fits one at a time, predictions between them.

Each estimator gets a lock, kept in a registry by the estimator (weakly:
nothing in its ``__dict__``, so ``clone``, ``get_params``, pickling and
saving never see it). ``fit`` and ``partial_fit`` hold it exclusively: two
fits of one estimator from two threads run one after the other, each
complete (the estimator ends as the last one left it, never a mix of
both). Predictions, scores, ``save`` and pickling hold it shared: they run
side by side, wait for a running fit to end, and a fit waits for them. The
thread running a fit may read the estimator (a callback that predicts).
"""

import functools
import threading
import weakref

__all__ = ["fitting", "reading"]

_LOCKS = weakref.WeakKeyDictionary()
_REGISTRY = threading.Lock()


class _ReadWriteLock:
    """Shared readers, one exclusive writer; the writer's thread may re-enter
    either way."""

    def __init__(self):
        self._changed = threading.Condition()
        self._writer, self._depth, self._readers = None, 0, 0

    def _free_for(self, me, writing):
        if self._writer is not None:
            return self._writer == me
        return not writing or self._readers == 0

    def acquire(self, writing):
        me = threading.get_ident()
        with self._changed:
            self._changed.wait_for(lambda: self._free_for(me, writing))
            if self._writer == me:
                self._depth += 1
            elif writing:
                self._writer, self._depth = me, 1
            else:
                self._readers += 1

    def release(self):
        with self._changed:
            if self._writer == threading.get_ident():
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
            else:
                self._readers -= 1
            self._changed.notify_all()


def _lock(estimator):
    with _REGISTRY:
        lock = _LOCKS.get(estimator)
        if lock is None:
            lock = _LOCKS[estimator] = _ReadWriteLock()
        return lock


class _Held:
    def __init__(self, estimator, writing):
        self._lock, self._writing = _lock(estimator), writing

    def __enter__(self):
        self._lock.acquire(self._writing)

    def __exit__(self, *exc):
        self._lock.release()


def fitting(estimator):
    """A context holding ``estimator``'s lock exclusively (a fit)."""
    return _Held(estimator, writing=True)


def reading(method):
    """Decorate a method that reads the fitted state: it holds the lock shared."""

    @functools.wraps(method)
    def read(self, *args, **kwargs):
        with _Held(self, writing=False):
            return method(self, *args, **kwargs)

    return read
