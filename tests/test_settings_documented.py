"""Every knob of the one settings object is documented in .env.example (the brief's rule), and
.env.example names no setting that does not exist (a renamed knob left behind)."""

from __future__ import annotations

import re
from pathlib import Path

from shared.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
ROOT = ENV_EXAMPLE.parent


def _script_knobs() -> set[str]:
    """NEWSROOM_* variables the scripts and compose files read themselves."""
    files = [*ROOT.glob("scripts/*.sh"), *ROOT.glob("docker-compose*.yml"), ROOT / "Makefile"]
    return {name for path in files for name in re.findall(r"NEWSROOM_[A-Z0-9_]+", path.read_text())}


def _named() -> set[str]:
    return set(re.findall(r"^#?\s*(NEWSROOM_\w+)=", ENV_EXAMPLE.read_text(), flags=re.M))


def test_every_setting_is_in_env_example() -> None:
    named = _named()
    missing = [f"NEWSROOM_{name.upper()}" for name in Settings.model_fields]
    assert [name for name in missing if name not in named] == []


def test_env_example_names_only_real_settings() -> None:
    known = {f"NEWSROOM_{name.upper()}" for name in Settings.model_fields}
    stray = sorted(_named() - known - _script_knobs())
    assert stray == []


def test_every_knob_the_scripts_read_is_in_env_example() -> None:
    assert sorted(_script_knobs() - _named()) == []
