"""The cache of compiled trainers, bounded by memory rather than by count.

A trainer (a network of one architecture, its optimizer and its compiled
training function) is expensive to build: a trace and a compilation. The
estimators keep the trainers they built, by architecture, so a grid search
or a repeated cross-validation compiles once per architecture. Each entry's
cost is what the process's resident memory grew by while the trainer was
built and first ran (at least its variables' bytes); the least recently used
trainers are dropped when the total passes the limit,
``$MTESTIMATOR_CACHE_MB`` megabytes (default 256).

What dropping a trainer gives back depends on the backend: on JAX its
networks, optimizer state and compiled executables, while the small
functions JAX compiled as Keras built the network (initializers and other
eager operations, one executable per new shape, a few MB per architecture
of a small MLP) stay in JAX's process-wide
caches until :func:`clear_cache`; on TensorFlow its networks and optimizer
state, while the graphs TensorFlow traced stay in TensorFlow's runtime for
the life of the process, with their XLA executables (about 12 MB per
architecture of a small MLP, measured; TensorFlow's XLA compilation cache
has no eviction). Dropping a TensorFlow trainer thus gives back little
more than its variables, and building it again would compile, and keep,
another copy: a TensorFlow trainer's cost is its variables' bytes alone, so
the limit evicts one only when the variables themselves are large.

This module imports neither Keras nor a backend: ``mtestimator.clear_cache``
is cheap to import.
"""

import ctypes
import gc
import os
import sys
import threading
from collections import OrderedDict
from contextlib import contextmanager

__all__ = ["cache_info", "clear_cache", "checkout"]

_LIMIT_ENV = "MTESTIMATOR_CACHE_MB"
_DEFAULT_LIMIT_MB = 256.0
_MB = 2.0**20

_ENTRIES = OrderedDict()  # key -> (trainer, cost in bytes), least recently used first
_LOCK = threading.Lock()


def clear_cache():
    """Drop every cached compiled trainer and give their memory back.

    The estimators keep one compiled trainer per network architecture, so
    that the next fit of that architecture does not trace and compile
    again. The cache is bounded (``$MTESTIMATOR_CACHE_MB``, default 256 MB);
    call this to free it all, e.g. after a large search. Fitted estimators
    are not affected.

    When JAX is loaded, this also clears JAX's own compilation caches
    (``jax.clear_caches()``), where the functions compiled while Keras built
    each network stay otherwise: your own jitted functions compile again on
    their next call (from JAX's persistent cache where it is on).

    Examples
    --------
    >>> import mtestimator
    >>> mtestimator.clear_cache()
    >>> mtestimator.cache_info()["trainers"]
    0
    """
    with _LOCK:
        dropped = [trainer for trainer, _ in _ENTRIES.values()]
        _ENTRIES.clear()
    _release(dropped, collect=True)


def _clear_backend_caches():
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "clear_caches"):
        jax.clear_caches()


def cache_info():
    """What the trainer cache holds now.

    Returns
    -------
    info : dict
        ``trainers`` (how many), ``megabytes`` (their estimated cost) and
        ``limit_megabytes`` (``$MTESTIMATOR_CACHE_MB``, default 256).

    Examples
    --------
    >>> import mtestimator
    >>> sorted(mtestimator.cache_info())
    ['limit_megabytes', 'megabytes', 'trainers']
    """
    with _LOCK:
        return {"trainers": len(_ENTRIES),
                "megabytes": sum(cost for _, cost in _ENTRIES.values()) / _MB,
                "limit_megabytes": _limit() / _MB}


def _limit():
    value = os.environ.get(_LIMIT_ENV, "")
    try:
        return max(float(value), 0.0) * _MB if value else _DEFAULT_LIMIT_MB * _MB
    except ValueError:
        raise ValueError(f"${_LIMIT_ENV} must be a number of megabytes; got {value!r}.")


def resident_bytes():
    """This process's resident memory in bytes (Linux), or None where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@contextmanager
def checkout(key, build, fits):
    """A trainer for ``key``, out of the cache while in use, back in after.

    ``build()`` makes one when none is cached, or when ``fits(trainer)`` is
    false for the cached one. Concurrent fits (threads) of one architecture
    never share a trainer; the last one back stays. The cost of a new trainer
    is the growth of resident memory from before ``build()`` to the end of
    its first use, and at least ``trainer.nbytes()``; only the latter where
    the backend keeps compiled code after the trainer is dropped
    (``trainer.frees_compiled_code`` false: TensorFlow).
    """
    with _LOCK:
        trainer, cost = _ENTRIES.pop(key, (None, 0))
    if trainer is not None and not fits(trainer):
        _release([trainer])
        trainer = None
    before = None
    if trainer is None:
        before = resident_bytes()
        trainer = build()
    try:
        yield trainer
    finally:
        if before is not None:
            cost = trainer.nbytes()
            after = resident_bytes()
            if getattr(trainer, "frees_compiled_code", True) and None not in (before, after):
                cost = max(after - before, cost)
        _put(key, trainer, cost)


def _put(key, trainer, cost):
    limit = _limit()
    dropped = []
    with _LOCK:
        if key in _ENTRIES:  # a concurrent fit of this architecture came back first
            dropped.append(_ENTRIES.pop(key)[0])
        _ENTRIES[key] = (trainer, cost)
        total = sum(c for _, c in _ENTRIES.values())
        while total > limit and _ENTRIES:
            old, old_cost = _ENTRIES.popitem(last=False)[1]
            dropped.append(old)
            total -= old_cost
    if dropped:
        _release(dropped)


def _release(trainers, *, collect=False):
    """Drop trainers for good (their compiled code with them); with
    ``collect``, also run the garbage collector and hand the freed heap
    back to the system (too slow to do at every eviction)."""
    for trainer in trainers:
        trainer.release()
    del trainers
    if collect:
        _clear_backend_caches()
        gc.collect()
        try:  # glibc keeps freed memory in its arenas until asked to return it
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
