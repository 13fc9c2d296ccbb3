"""``newsroom models verify``: the installed model and data files against their recorded
SHA-256s (shared/model_files.py); the Dockerfile runs it when it builds the image."""

from __future__ import annotations

import click

from shared.model_files import load_manifest, verify_installed


@click.group("models")
def models_group() -> None:
    """The models and data that come inside packages."""


@models_group.command("verify")
def verify_command() -> None:
    """Check every recorded model file; exit 1 naming each one that differs."""
    manifest = load_manifest()
    problems = verify_installed(manifest)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(
            "model files differ from shared/model_manifest.json: reinstall from the lock "
            "(scripts/bootstrap.sh) or rebuild the image"
        )
    checked = sum(len(package["files"]) for package in manifest.values())
    click.echo(f"{checked} files of {len(manifest)} model packages match their SHA-256")
