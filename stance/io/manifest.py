"""The manifest of a :class:`~stance.io.writer.ResumableWriter` work folder: creating,
replacing (atomically and durably), loading and checking it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stance.errors import OutputError, StanceError

_MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1
_MISSING = object()


def new_manifest(output: Path, fmt: str, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a job that has written nothing yet."""
    return {
        "version": _MANIFEST_VERSION,
        "output": str(output),
        "format": fmt,
        "fingerprint": fingerprint,
        "rows_done": 0,
        "columns": None,
        "parts": [],
    }


def write_manifest(work: Path, manifest: dict[str, Any]) -> None:
    """Replace ``work/manifest.json`` atomically and durably."""
    temp = work / f".{_MANIFEST}.tmp"
    with open(temp, "wb") as f:
        f.write(json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, work / _MANIFEST)
    fsync_dir(work)


def fsync_dir(folder: Path) -> None:
    """Make renames inside ``folder`` durable (POSIX only; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def damaged(work: Path, what: str) -> OutputError:
    """The error for a work folder that cannot be resumed because ``what`` is wrong."""
    return OutputError(
        f"the interrupted run in {work} is damaged ({what}) and cannot be resumed; "
        f"delete {work} to start over"
    )


def load_manifest(work: Path) -> dict[str, Any] | None:
    """The checked manifest of ``work`` (``None`` when there is none yet)."""
    path = work / _MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise damaged(work, f"{path} is not valid JSON: {exc}") from None
    try:
        if manifest["version"] != _MANIFEST_VERSION:
            raise OutputError(
                f"the interrupted run in {work} was written by another version of stance "
                f"(manifest version {manifest['version']}); delete {work} to start over"
            )
        if _counted_rows(work, manifest["parts"]) != manifest["rows_done"]:
            raise damaged(work, "its row counts do not add up")
        if manifest["columns"] is not None and not isinstance(manifest["columns"], list):
            raise damaged(work, "bad column list")
        missing = [key for key in ("fingerprint", "format") if key not in manifest]
        if missing:
            raise KeyError(missing[0])
    except (KeyError, TypeError) as exc:
        raise damaged(work, f"{path} lacks {exc}") from None
    return manifest


def _counted_rows(work: Path, parts: list[dict[str, Any]]) -> int:
    """The rows of the committed ``parts``, each checked for a plain file name and counts."""
    total = 0
    for part in parts:
        name, rows, size = part["file"], part["rows"], part["bytes"]
        if not isinstance(name, str) or Path(name).name != name or name == _MANIFEST:
            raise damaged(work, f"bad part name {name!r}")
        if not isinstance(rows, int) or not isinstance(size, int):
            raise damaged(work, f"bad row or byte count for {name}")
        total += rows
    return total


def rows_note(work: Path) -> str:
    """`` (N rows already written)`` for a message, or ``""`` when unknown."""
    try:
        manifest = load_manifest(work)
    except StanceError:
        return ""
    return f" ({manifest['rows_done']} rows already written)" if manifest else ""


def check_resumable(
    output: Path, work: Path, manifest: dict[str, Any], fmt: str, fingerprint: dict[str, Any]
) -> None:
    """Refuse to resume a work folder of another job (fingerprint or format differ) or
    one whose committed parts are missing or truncated."""
    old = dict(manifest["fingerprint"]) if isinstance(manifest["fingerprint"], dict) else {}
    new = dict(fingerprint)
    old["format"], new["format"] = manifest["format"], fmt
    differences = [
        f"{key}: {_show(old.get(key, _MISSING))} -> {_show(new.get(key, _MISSING))}"
        for key in list(old) + [k for k in new if k not in old]
        if old.get(key, _MISSING) != new.get(key, _MISSING)
    ]
    if differences:
        raise OutputError(
            f"cannot resume {output}: the interrupted run in {work} belongs to a different "
            f"job (interrupted run -> this run): {'; '.join(differences)}. Run again with the "
            f"same input file and options to resume it, or delete {work} to start over."
        )
    for part in manifest["parts"]:
        path = work / part["file"]
        if not path.is_file() or path.stat().st_size != part["bytes"]:
            raise damaged(work, f"the committed part {path.name} is missing or truncated")


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(not set)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def remove_strays(work: Path, manifest: dict[str, Any]) -> None:
    """Delete files a killed append left behind (temporary or uncommitted parts)."""
    keep = {_MANIFEST} | {part["file"] for part in manifest["parts"]}
    for entry in work.iterdir():
        if entry.name not in keep and (entry.is_symlink() or entry.is_file()):
            entry.unlink()
