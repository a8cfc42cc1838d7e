"""Fresh processes of the speed benchmark: the protocol, both sides of it.

Child side, ``python -m benchmarks._speed_worker TASK [TASK ...] --backend jax
[--quick]``: sets ``KERAS_BACKEND``, runs the tasks in order (the tasks are
in :mod:`benchmarks._speed_tasks`; ``import`` is here, since it must run in
an interpreter that has imported nothing else) and writes, on stdout:

- ``@@MARK name``: a moment the parent timestamps on arrival (``cv_done``:
  the cold cross-validation is over; ``fit_start``: the parent's cue for
  SIGINT);
- ``@@RESULT {json}``: one line per task, ``{"task": name, ...}``, or
  ``{"task": name, "error": "..."}`` when the task raised. Every process
  first reports ``import_alone``: the seconds of a bare ``import
  mtestimator`` and which heavy modules it loaded.

Parent side, :func:`run`: starts that command, reads its merged output line
by line (timestamped from the start of the process), optionally sends SIGINT
a given time after a mark, and kills the process at its time limit.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

MARK, RESULT = "@@MARK ", "@@RESULT "
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY_MODULES = ("tensorflow", "jax", "scikeras", "keras")


# -- child side ----------------------------------------------------------------


def mark(name):
    print(MARK + name, flush=True)


def emit(task, result):
    print(RESULT + json.dumps({"task": task, **result}, default=float), flush=True)


def _loaded(names=HEAVY_MODULES):
    return [m for m in names if m in sys.modules]


def task_import():
    """``import keras, sklearn.base``, then ``import mtestimator`` beyond it."""
    start = time.perf_counter()
    import keras  # noqa: F401
    import sklearn.base  # noqa: F401
    base = time.perf_counter() - start
    start = time.perf_counter()
    import mtestimator  # noqa: F401
    return {"base_s": base, "extra_s": time.perf_counter() - start}


def import_alone():
    """A bare ``import mtestimator``: seconds, and the heavy modules it loaded."""
    start = time.perf_counter()
    import mtestimator  # noqa: F401
    return {"seconds": time.perf_counter() - start, "loaded": _loaded()}


def reported_tasks(tasks):
    """The tasks a worker started with ``tasks`` reports, in order: ``import``
    first if asked (it needs an interpreter that has imported nothing), else
    ``import_alone`` first."""
    if tasks and tasks[0] == "import":
        return [t for t in tasks if t != "import_alone"]
    return ["import_alone", *(t for t in tasks if t != "import_alone")]


def _run_task(name, function):
    try:
        result = function()
    except BaseException as exc:  # KeyboardInterrupt too: the next task still reports
        result = {"error": _short(exc), "traceback": traceback.format_exc(limit=-3)}
    emit(name, result)


def _short(exc):
    """One line for an exception; the root error's line when the message has
    several (e.g. scikit-learn's "All the 10 fits failed ... TypeError: ...")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1:
        return lines[-1]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tasks", nargs="+")
    parser.add_argument("--backend", default="tensorflow", choices=("tensorflow", "jax"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="the smallest sizes (tests)")
    args = parser.parse_args(argv)
    size = "smoke" if args.smoke else args.quick
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tasks = reported_tasks(args.tasks)
    first = tasks.pop(0)
    _run_task(first, task_import if first == "import" else import_alone)
    if not tasks:
        return
    import warnings

    warnings.filterwarnings("ignore")  # e.g. MLPClassifier's ConvergenceWarning
    from . import _speed_tasks

    for name in tasks:
        _run_task(name, lambda: getattr(_speed_tasks, f"task_{name}")(size))


# -- parent side ---------------------------------------------------------------


@dataclass
class Run:
    """What one worker process reported; times in seconds from its start."""

    tasks: list = field(default_factory=list)  # what it was to report (reported_tasks)
    results: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)  # task: from the previous result to its own
    marks: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)  # (time, line), markers included
    signal_sent: float = None
    returncode: int = None
    error: str = None  # the process failed: crashed, killed at its time limit

    def result(self, task):
        """The result of ``task``; raises RuntimeError saying why there is none."""
        if task in self.results:
            res = self.results[task]
            if "error" in res:
                raise RuntimeError(f"{task}: {res['error']}")
            return res
        raise RuntimeError(f"{task}: no result ({self.error or 'not run'})")

    def output(self, start_mark, end_mark):
        """The output lines between two marks."""
        inside, out = False, []
        for _, line in self.lines:
            if line == MARK + start_mark:
                inside = True
            elif line == MARK + end_mark:
                break
            elif inside:
                out.append(line)
        return out


def run(tasks, backend, *, quick, timeout, env=None, interrupt=None):
    """Run worker ``tasks`` in a fresh process on ``backend``.

    ``interrupt=(mark, delay, grace)``: send SIGINT ``delay`` seconds after
    the worker's ``mark``, and kill it if it has not exited ``grace``
    seconds after the signal. ``timeout`` bounds the whole process. Never
    raises for the worker's failures: they are in ``Run.error``.
    """
    cmd = [sys.executable, "-m", "benchmarks._speed_worker", *tasks, "--backend", backend,
           *(["--quick"] if quick else []), *(["--smoke"] if quick == "smoke" else [])]
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    environ = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1",
               "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    out, killed, done = Run(tasks=reported_tasks(tasks)), [], threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=environ, start_new_session=True)  # its own process group
    deadline = start + timeout

    def watch():  # the SIGINT cue and the time limits
        nonlocal deadline
        while not done.wait(0.01):
            now = time.perf_counter()
            if interrupt and out.signal_sent is None and interrupt[0] in out.marks \
                    and now - start >= out.marks[interrupt[0]] + interrupt[1]:
                proc.send_signal(signal.SIGINT)
                out.signal_sent = now - start
                deadline = min(deadline, now + interrupt[2])
            if now >= deadline:
                killed.append(now - start)
                _kill(proc)
                return

    threading.Thread(target=watch, daemon=True).start()
    try:
        for raw in proc.stdout:  # universal newlines: a progress bar's \r ends a line too
            _read_line(out, time.perf_counter() - start, raw.rstrip("\n"))
        out.returncode = proc.wait()
    finally:
        done.set()
        _kill(proc)
        proc.wait()
        proc.stdout.close()
    if killed:
        out.error = f"killed at its time limit, {killed[0]:.0f} s after start" + (
            f" ({killed[0] - out.signal_sent:.0f} s after SIGINT)" if out.signal_sent else "")
    elif out.returncode != 0:
        tail = [line for _, line in out.lines if not line.startswith((MARK, RESULT))][-5:]
        out.error = f"exit code {out.returncode}: " + " / ".join(tail)[-400:]
    return out


def _kill(proc):
    """Kill the worker's process group: the worker and any joblib workers it
    started (which would otherwise keep the output pipe open)."""
    if proc.returncode is not None:  # reaped: its id may name another process now
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # all gone already
        pass


def _read_line(out, t, line):
    out.lines.append((t, line))
    if line.startswith(MARK):
        out.marks[line[len(MARK):]] = t
    elif line.startswith(RESULT):
        try:
            result = json.loads(line[len(RESULT):])
        except ValueError:
            return
        task = result.pop("task")
        out.results[task] = result
        out.seconds[task] = t - sum(out.seconds.values())


if __name__ == "__main__":
    main()
