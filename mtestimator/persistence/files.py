"""Atomic writing: a file written beside its target, flushed, then renamed over it.

On any failure (a full disk, Ctrl-C) the temporary file is removed and a
previous file at the target is left as it was.
"""

import os
import secrets
import stat

__all__ = ["check_target", "write_atomically"]


def check_target(path):
    """``(target, folder)`` for a file to be written at ``path``, or a clear OSError."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {target!r}: the folder {folder!r} does "
                                "not exist. Create it first (os.makedirs).")
    if os.path.isdir(target):
        raise IsADirectoryError(f"Cannot save to {target!r}: it is a folder; give the "
                                "path of a file.")
    return target, folder


def _partial_file(folder, target):
    """A new file beside ``target``: ``(open binary file, path)``. Its mode is the one
    a new file gets (0o666 less the umask), or that of the file it will replace."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = os.path.join(folder, f".mtestimator-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        try:
            raw = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        try:
            if os.path.exists(target):
                os.chmod(path, stat.S_IMODE(os.stat(target).st_mode))
        except OSError:
            pass  # the default mode, then
        except BaseException:
            raw.close()
            os.unlink(path)
            raise
        return raw, path
    raise FileExistsError(f"Could not create a temporary file in {folder!r}.")


def write_atomically(target, folder, write):
    """``write(binary file)`` writes the content; it lands at ``target`` whole, or
    not at all."""
    raw, partial = _partial_file(folder, target)
    try:
        with raw:
            write(raw)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise
    try:  # the rename itself to disk too (POSIX), against a power cut
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
