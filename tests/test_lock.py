"""The dependency locks (scripts/lock.sh) match pyproject.toml and carry a hash for every
package; what installs from them does so with --require-hashes. No network: files only."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

LOCKS = ("requirements.lock", "requirements-dev.lock", "requirements-models.lock")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of each requirement in a lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            pin = _PIN.match(line)
            assert pin, f"{path.name}: not an exact pin: {line!r}"
            current = _name(pin[1])
            assert current not in entries, f"{path.name}: {current} twice"
            entries[current] = (pin[2], [])
        else:
            assert current is not None
            option = line.strip().removesuffix("\\").strip()
            assert option.startswith("--hash=sha256:"), f"{path.name}: {line!r}"
            assert re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", option), option
            entries[current][1].append(option)
    return entries


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        pin = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)", requirement)
        assert pin, f"pyproject.toml: not an exact pin: {requirement!r}"
        pins[_name(pin[1])] = pin[3]
    return pins


@pytest.fixture(scope="module")
def project() -> dict[str, dict[str, str]]:
    text = (ROOT / "pyproject.toml").read_text()
    data = tomllib.loads(text)["project"]
    (model,) = re.findall(r"^# model-package: (\S+)$", text, flags=re.MULTILINE)
    return {
        "runtime": _pins(data["dependencies"]),
        "dev": _pins(data["optional-dependencies"]["dev"]),
        "models": _pins([model]),
    }


def test_every_lock_line_is_an_exact_pin_with_hashes() -> None:
    for lock in LOCKS:
        entries = _entries(ROOT / lock)
        assert entries, lock
        for name, (_version, hashes) in entries.items():
            assert hashes, f"{lock}: {name} has no hash"


def test_the_locks_hold_every_pin_of_pyproject_at_its_version(
    project: dict[str, dict[str, str]],
) -> None:
    runtime = _entries(ROOT / "requirements.lock")
    dev = _entries(ROOT / "requirements-dev.lock")
    models = _entries(ROOT / "requirements-models.lock")
    wanted = [
        ("requirements.lock", runtime, project["runtime"]),
        ("requirements-dev.lock", dev, {**project["runtime"], **project["dev"]}),
        ("requirements-models.lock", models, project["models"]),
    ]
    for lock, entries, pins in wanted:
        for name, version in pins.items():
            assert name in entries, f"{lock} lacks {name}: run scripts/lock.sh"
            assert entries[name][0] == version, (
                f"{lock} has {name}=={entries[name][0]}, pyproject.toml {version}: "
                "run scripts/lock.sh"
            )
    # The embedding model's package alone: its dependencies (torch, CUDA) are never installed.
    assert set(models) == set(project["models"])
    # One version of everything: the dev lock resolves under the runtime one.
    for name, (version, hashes) in runtime.items():
        assert dev[name] == (version, hashes), name
    # The build backend and pip come from the locks too (the project builds without isolation).
    assert {"pip", "setuptools"} <= set(runtime)


def test_installs_go_through_the_locks_with_hashes() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    install = re.search(r"pip install (-q )?--require-hashes --no-deps \\\n\s+(.*)\n", bootstrap)
    assert install, "bootstrap.sh installs from the locks with --require-hashes"
    assert install[2].split() == ["-r", "requirements-dev.lock", "-r", "requirements-models.lock"]
    assert "pip install -q --no-deps --no-build-isolation -e ." in bootstrap
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert (
        "pip install --require-hashes --no-deps -r requirements.lock -r requirements-models.lock"
        in dockerfile
    )
    assert "pip install --no-deps --no-build-isolation ." in dockerfile
    # No other install reaches an index without hashes.
    for text in (bootstrap, dockerfile):
        for line in re.findall(r"pip install[^\n]*", text):
            assert "--require-hashes" in line or "--no-deps" in line, line


def test_the_bootstrap_stamp_changes_with_any_lock(tmp_path: Path) -> None:
    """bootstrap.sh reinstalls when its stamp differs: the stamp's own line, run on copies."""
    (line,) = re.findall(r"^wanted=.*$", (ROOT / "scripts" / "bootstrap.sh").read_text(), re.M)
    for name in ("pyproject.toml", *LOCKS):
        shutil.copy(ROOT / name, tmp_path / name)

    def stamp() -> str:
        return subprocess.run(
            ["bash", "-c", f'set -euo pipefail; {line}; echo "$wanted"'],
            cwd=tmp_path, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip

    seen = {stamp()}
    for name in ("pyproject.toml", *LOCKS):
        with (tmp_path / name).open("a") as file:
            file.write("\n# changed\n")
        seen.add(stamp())
    assert len(seen) == 1 + 1 + len(LOCKS)
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in seen)
