"""A cache of built weights, so that a shipped model is built from its base only once.

The shipped models store their weights relative to a base: the default model as a bf16
delta over the MiniLM package, the large one as a LoRA adapter over the verified MPNet
base (:mod:`stance.modeldir`). Building them (adding the delta, merging the adapter)
takes seconds on every load. The first load writes the built model, ``config.json`` and
``model.safetensors`` (never pickle), to ``<cache root>/built/<name>-<key>`` (the root of
:func:`stance.bases.cache_root`: ``$STANCE_CACHE_DIR``, else ``~/.cache/claimstance``);
later loads read it.

>>> from stance import built_cache
>>> built_cache.built_dir()  # doctest: +SKIP
PosixPath('/root/.cache/claimstance/built')

**Key.** A SHA-256 over what the built weights depend on, never a path: the digest of
every file of the model folder, the base's pinned digests (``base_sha256`` and
``base_digests`` of its ``stance_config.json``, the pins of a verified base), the kind
(delta or adapter), this library's version and those of transformers (and peft for an
adapter). A changed model file, base or version is a new key, so a new entry is built;
old entries stay until the folder is deleted (``rm -r ~/.cache/claimstance/built``).

**Writes** go to a staging folder that one rename moves into place, as
:func:`stance.bases.assemble` does: a crash leaves no half entry, and two processes
writing at once end with one good copy.

**Checks.** Each entry records the size and SHA-256 of its files (``built.json``) and a
stamp of their size and modification time (``.verified.json``). A load whose stamp
matches trusts the files; any other hashes them in full, rewrites the stamp if they
match and rebuilds the entry if not. This catches a damaged or half-copied file, not
someone who can write the cache folder (and so the manifest too).

**A cache that cannot be written** (a read-only home) does not stop loading: the model
is built as before, and a :class:`CacheWarning`, once per folder and process, names the
folder and ``$STANCE_CACHE_DIR``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stance import bases
from stance._version import __version__
from stance.bases import file_sha256

BUILT = "built"
MANIFEST = "built.json"
STAMP = bases.STAMP
FORMAT = 1
"""Version of the entry layout; a new one makes every key new."""
WEIGHTS = "model.safetensors"
_warned: set[str] = set()


class CacheWarning(UserWarning):
    """The built-model cache cannot be written; models are built on every load."""


def built_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of built entries: ``built/`` under ``root`` or the library's cache root.

    >>> built_dir("/tmp/c")
    PosixPath('/tmp/c/built')
    """
    return Path(root or bases.cache_root()) / BUILT


def key_inputs(folder: Path, *, kind: str, base_digests: Mapping[str, str]) -> dict[str, Any]:
    """What the built weights of ``folder`` depend on (hashed into the key by
    :func:`cache_key`): its files' digests, the base's pinned ``base_digests``, the
    ``kind`` (``"delta"`` or ``"adapter"``) and the versions that build and load it.

    >>> key_inputs(Path("stance/default_model"), kind="delta",
    ...            base_digests={"model.safetensors": "53aa51..."})  # doctest: +SKIP
    {'format': 1, 'library': '0.1.0', 'transformers': '5.25.0', 'kind': 'delta', ...}
    """
    import transformers

    inputs: dict[str, Any] = {
        "format": FORMAT,
        "library": __version__,
        "transformers": transformers.__version__,
        "kind": kind,
        "files": {
            path.name: file_sha256(path)
            for path in sorted(folder.iterdir())
            if path.is_file() and not path.name.startswith(".")
        },
        "base": dict(sorted(base_digests.items())),
    }
    if kind == "adapter":
        inputs["peft"] = _version_of("peft")
    return inputs


def cache_key(inputs: Mapping[str, Any]) -> str:
    """The hex SHA-256 of ``inputs`` (from :func:`key_inputs`), in canonical JSON.

    >>> cache_key({"kind": "delta", "files": {}})[:12]
    'd9dbc8f3425c'
    """
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def load_or_build(
    folder: Path,
    build: Callable[[], Any],
    *,
    kind: str,
    base_digests: Mapping[str, str],
    name: str | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Any:
    """The built model of ``folder``: read from its cache entry when one checks out,
    else ``build()`` and write it there (a failed write warns once and is not an error).

    ``name`` starts the entry's folder name (default: ``folder``'s name).

    >>> model = load_or_build(DEFAULT_MODEL_DIR, lambda: _load_delta(...), kind="delta",
    ...                       base_digests={"model.safetensors": "53aa51..."})  # doctest: +SKIP
    """
    inputs = key_inputs(folder, kind=kind, base_digests=base_digests)
    key = cache_key(inputs)
    cache = built_dir(root)
    entry = cache / f"{name or folder.name}-{key[:20]}"
    if entry.is_dir():
        model = _read(entry, key)
        if model is not None:
            return model
    model = build()
    try:
        _write(model, entry, key, inputs)
    except OSError as exc:
        _warn_unwritable(cache, exc)
    return model


def entry_is_valid(entry: Path, key: str) -> bool:
    """Whether ``entry`` holds the files its manifest lists, for ``key``: by the stamp of
    sizes and modification times where it matches, else by SHA-256 (then re-stamped)."""
    manifest = bases.read_json_object(entry / MANIFEST)
    files = manifest.get("files")
    if manifest.get("key") != key or not isinstance(files, dict) or WEIGHTS not in files:
        return False
    stamp = bases.read_json_object(entry / STAMP)
    hashed = False
    for name, recorded in files.items():
        path = entry / name
        try:
            size, sha256 = recorded["size"], recorded["sha256"]
            current = bases.stamp_entry(path, sha256)
        except (OSError, TypeError, KeyError):
            return False
        if stamp.get(name) == current:
            continue
        if current[0] != size or file_sha256(path) != sha256:
            return False
        hashed = True
    if hashed:  # a read-only cache is checked in full again next time
        with contextlib.suppress(OSError):
            _write_stamp(entry, files)
    return True


def _read(entry: Path, key: str) -> Any | None:
    """The model in ``entry``, or None when it does not check out or cannot be loaded."""
    try:
        if not entry_is_valid(entry, key):
            return None
        return _load_entry(entry)
    except Exception:  # noqa: BLE001 - a bad entry is rebuilt, never an error
        return None


def _load_entry(entry: Path) -> Any:
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(
        str(entry), use_safetensors=True, trust_remote_code=False, local_files_only=True
    )


def _write(model: Any, entry: Path, key: str, inputs: Mapping[str, Any]) -> None:
    """Save ``model`` with its manifest and stamp in a staging folder, then move it to
    ``entry`` in one rename (replacing an entry that does not check out)."""
    cache = entry.parent
    cache.mkdir(parents=True, exist_ok=True)
    bases.remove_stale_staging(cache)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{entry.name}-", dir=cache))
    try:
        folder = staging / entry.name
        model.save_pretrained(str(folder))  # safetensors only in transformers 5
        files = {
            path.name: {"size": path.stat().st_size, "sha256": file_sha256(path)}
            for path in sorted(folder.iterdir())
        }
        if WEIGHTS not in files:
            raise OSError(f"save_pretrained wrote no {WEIGHTS} in {folder}: {sorted(files)}")
        manifest = {"format": FORMAT, "key": key, "files": files, "inputs": inputs}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))
        _write_stamp(folder, files)
        _place(folder, entry, key, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _place(folder: Path, entry: Path, key: str, staging: Path) -> None:
    """Rename ``folder`` to ``entry``; keep an entry another process placed first if it
    checks out, else move it aside (into ``staging``, removed after) and rename again."""
    try:
        os.rename(folder, entry)
        return
    except OSError:
        if not entry.is_dir():  # not a lost race: a real failure to move the folder
            raise
    if entry_is_valid(entry, key):
        return
    os.rename(entry, staging / "discarded")
    os.rename(folder, entry)


def _write_stamp(folder: Path, files: Mapping[str, Mapping[str, Any]]) -> None:
    digests = {name: recorded["sha256"] for name, recorded in files.items()}
    bases.write_stamp(folder, digests, folder / STAMP)


def _warn_unwritable(cache: Path, exc: OSError) -> None:
    if str(cache) in _warned:
        return
    _warned.add(str(cache))
    warnings.warn(
        f"could not write the built-model cache in {cache} ({exc}); the model is rebuilt "
        "from its base on every load, which is slower. Set $STANCE_CACHE_DIR to a "
        "writable folder (e.g. export STANCE_CACHE_DIR=/tmp/claimstance-cache) to cache it",
        CacheWarning,
        stacklevel=8,  # here, load_or_build, 4 in modeldir, StanceClassifier.load, the caller
    )


def _version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
