"""The file's archive: a zip of mtestimator.json and the networks in Keras's format.

Format 3 holds ``mtestimator.json`` and one Keras archive per network:
``model.keras`` for an estimator's one network, ``networks/<head>.keras``
for each network of an estimator with one per head; format 2 held
``model.keras`` only. Format 4 adds the state of each network's optimizer
(the values of its variables, in order) as a NumPy ``.npz`` of plain number
arrays, ``optimizers/<key>.npz``, read without pickle. Reading refuses, as
a ValueError, anything that is not such an archive, holds members it should
not, or would be too large to read.
"""

import errno
import io
import json
import math
import os
import shutil
import tempfile
import zipfile

import numpy as np

from .spec import short

__all__ = ["LOCAL_ERRNOS", "MAX_JSON_BYTES", "MAX_OPTIMIZER_BYTES", "Refused", "extract",
           "member",
           "optimizer_member", "read_json", "read_optimizers", "write"]

#: The most bytes mtestimator.json may hold once decompressed.
MAX_JSON_BYTES = 64 * 2**20
#: The most bytes the optimizer state of one network may hold once decompressed.
MAX_OPTIMIZER_BYTES = 2**31
#: Errors of the temporary folder (full, not writable), never the file's damage.
LOCAL_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS,
                 getattr(errno, "EDQUOT", errno.ENOSPC)}


class Refused(ValueError):
    """A ValueError of load's own, raised while the archive is read."""


def member(key):
    """The archive member of the network ``key`` (see :meth:`_keras_networks`)."""
    return "model.keras" if key == "model" else f"networks/{key}.keras"


def optimizer_member(key):
    """The archive member of the optimizer state of the network ``key``."""
    return f"optimizers/{key}.npz"


def _is_network(name):
    return name == "model.keras" or name.startswith("networks/") and name.endswith(".keras")


def write(raw, meta, networks, optimizers=None):
    """The archive of ``meta``, ``networks`` (``{key: Keras model}``) and
    ``optimizers`` (``{key: list of arrays}``) into ``raw``."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for i, (key, network) in enumerate(networks.items()):
            paths[key] = os.path.join(tmp, f"{i}.keras")
            network.save(paths[key])
        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("mtestimator.json", json.dumps(meta))
            for key, path in paths.items():
                zf.write(path, member(key))
            for key, state in (optimizers or {}).items():
                buffer = io.BytesIO()
                np.savez(buffer, *[np.asarray(a) for a in state])
                zf.writestr(optimizer_member(key), buffer.getvalue())


def _opened(where, read):
    """``read(zip file)``, its failures as a ValueError naming ``where``."""
    with open(where, "rb") as raw:  # a missing file is an OSError, not damage
        try:
            with zipfile.ZipFile(raw) as zf:
                return read(zf)
        except (Refused, MemoryError, RecursionError):
            raise
        except OSError as exc:
            if exc.errno in LOCAL_ERRNOS:  # writing to the temporary folder
                raise
            raise ValueError(f"{where!r} is not an mtestimator file, or it is damaged: "
                             f"{exc}") from None
        except Exception as exc:  # BadZipFile, CRC errors, EOFError, zlib.error, ...
            raise ValueError(f"{where!r} is not an mtestimator file, or it is damaged: "
                             f"{exc}") from None


def _once(names, name, where):
    if names.count(name) > 1:
        raise Refused(f"{where!r} is damaged: it holds {name} {names.count(name)} times; "
                      "expected once.")


def read_json(where):
    """The decoded mtestimator.json of the archive at ``where``, or ValueError."""
    def read(zf):
        names = zf.namelist()
        if "mtestimator.json" not in names or not any(_is_network(n) for n in names):
            raise Refused(f"{where!r} is not an mtestimator file: it lacks "
                          "mtestimator.json or model.keras.")
        _once(names, "mtestimator.json", where)
        _once(names, "model.keras", where)
        size = zf.getinfo("mtestimator.json").file_size
        if size > MAX_JSON_BYTES:
            raise Refused(f"{where!r} is damaged: its mtestimator.json is {size} bytes; "
                          f"expected at most {MAX_JSON_BYTES}.")
        return zf.read("mtestimator.json")

    text = _opened(where, read)
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{where!r} is damaged: its mtestimator.json is nested too "
                         "deeply to read.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, digits limit
        raise ValueError(f"{where!r} is not an mtestimator file, or it is damaged: "
                         f"{exc}") from None


def extract(where, keys, tmp, optimizers=()):
    """``{key: path in tmp}``: the Keras archive of each network ``key``; the
    archive holds nothing but mtestimator.json, those networks and the
    ``optimizers`` (network keys) saved."""
    expected = ["mtestimator.json", *map(member, keys), *map(optimizer_member, optimizers)]

    def read(zf):
        names = zf.namelist()
        extra = [n for n in names if n not in expected]
        if extra:
            raise Refused(f"{where!r} is damaged or hand-edited: it holds "
                          f"{short(extra[0])}, which no mtestimator file of its estimator "
                          f"holds; expected the members {expected}.")
        for name in expected[1 + len(keys):]:
            if name not in names:
                raise Refused(f"{where!r} is damaged: it lacks {name}, the state of an "
                              "optimizer that mtestimator.json lists.")
            _once(names, name, where)
        paths = {}
        for i, key in enumerate(keys):
            name = member(key)
            if name not in names:
                raise Refused(f"{where!r} is damaged: it lacks {name}, the network "
                              f"{key!r}.")
            _once(names, name, where)
            paths[key] = os.path.join(tmp, f"{i}.keras")
            with zf.open(name) as src, open(paths[key], "wb") as dst:
                shutil.copyfileobj(src, dst, 2**20)
        return paths

    return _opened(where, read)


def read_optimizers(where, keys):
    """``{key: list of arrays}``: the optimizer state of each network ``key``,
    plain numbers only (no pickle), refused as a ValueError when damaged."""
    def read(zf):
        states = {}
        for key in keys:
            name = optimizer_member(key)
            size = zf.getinfo(name).file_size
            if size > MAX_OPTIMIZER_BYTES:
                raise Refused(f"{where!r} is damaged: its {name} is {size} bytes; expected "
                              f"at most {MAX_OPTIMIZER_BYTES}.")
            try:
                states[key] = _arrays(zf.read(name))
            except Refused:
                raise
            except Exception as exc:  # not an npz, pickled objects, bad headers
                detail = short(f"{type(exc).__name__}: {exc}", 200)
                raise Refused(f"{where!r} is damaged or hand-edited: its {name} is not an "
                              f"array file of numbers ({detail}).") from None
        return states

    return _opened(where, read) if keys else {}


def _arrays(data):
    """The arrays ``arr_0, arr_1, ...`` of an uncompressed ``.npz`` (bytes),
    their sizes checked against the bytes before any is read."""
    with zipfile.ZipFile(io.BytesIO(data)) as inner:
        infos = inner.infolist()
        if [i.filename for i in infos] != [f"arr_{j}.npy" for j in range(len(infos))]:
            raise ValueError(f"members {[i.filename for i in infos][:5]}, expected "
                             "arr_0.npy, arr_1.npy, ...")
        arrays = []
        for info in infos:
            with inner.open(info) as raw:
                version = np.lib.format.read_magic(raw)
                shape, fortran, dtype = (np.lib.format.read_array_header_1_0(raw)
                                         if version == (1, 0) else
                                         np.lib.format.read_array_header_2_0(raw))
                if dtype.kind not in "biuf" or dtype.hasobject:
                    raise ValueError(f"{info.filename} has dtype {dtype}, not numbers")
                if math.prod(shape) * dtype.itemsize > info.file_size:
                    raise ValueError(f"{info.filename} is shorter than its shape {shape}")
            with inner.open(info) as raw:
                arrays.append(np.lib.format.read_array(raw, allow_pickle=False))
        return arrays
