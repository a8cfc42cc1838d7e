"""The file's archive: a zip of mtestimator.json and the networks in Keras's format.

Format 3 holds ``mtestimator.json`` and one Keras archive per network:
``model.keras`` for an estimator's one network, ``networks/<head>.keras``
for each network of an estimator with one per head; format 2 held
``model.keras`` only. Reading refuses, as a ValueError, anything that is
not such an archive or would be too large to read.
"""

import json
import os
import shutil
import tempfile
import zipfile

__all__ = ["MAX_JSON_BYTES", "Refused", "member", "read_json", "extract", "write"]

#: The most bytes mtestimator.json may hold once decompressed.
MAX_JSON_BYTES = 64 * 2**20


class Refused(ValueError):
    """A ValueError of load's own, raised while the archive is read."""


def member(key):
    """The archive member of the network ``key`` (see :meth:`_keras_networks`)."""
    return "model.keras" if key == "model" else f"networks/{key}.keras"


def _is_network(name):
    return name == "model.keras" or name.startswith("networks/") and name.endswith(".keras")


def write(raw, meta, networks):
    """The archive of ``meta`` and ``networks`` (``{key: Keras model}``) into ``raw``."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for i, (key, network) in enumerate(networks.items()):
            paths[key] = os.path.join(tmp, f"{i}.keras")
            network.save(paths[key])
        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("mtestimator.json", json.dumps(meta))
            for key, path in paths.items():
                zf.write(path, member(key))


def _opened(where, read):
    """``read(zip file)``, its failures as a ValueError naming ``where``."""
    with open(where, "rb") as raw:  # a missing file is an OSError, not damage
        try:
            with zipfile.ZipFile(raw) as zf:
                return read(zf)
        except (Refused, MemoryError, RecursionError):
            raise
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


def extract(where, keys, tmp):
    """``{key: path in tmp}``: the Keras archive of each network ``key``."""
    def read(zf):
        names = zf.namelist()
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
