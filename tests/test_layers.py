"""One-way layers, read from the source: the rules of ARCHITECTURE.md that imports show.

- `kit/` imports nothing from a domain or from `models/`.
- Services, repositories and jobs import no HTTP code (FastAPI, Starlette, dependencies,
  endpoints): they take settings and the viewer as arguments.
- A domain reaches another domain through its service, never its repository.
- Settings come in as arguments: only the edges (config, cli, main) call `get_settings()`,
  and only config.py reads the process environment.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "bazaar"
HTTP_PACKAGES = ("fastapi", "starlette")
# Modules that run below the HTTP layer.
BELOW_HTTP = ("service", "repository", "jobs", "lifecycle", "machine", "views", "state")
SETTINGS_EDGES = {"config", "cli", "main"}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        yield name, ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _domain(module: str) -> str | None:
    """`bazaar.marketplace.offers.service` → `marketplace.offers`; `bazaar.auth.x` → `auth`."""
    parts = module.split(".")
    if len(parts) < 3 or parts[1] in ("kit", "models"):
        return None
    if parts[1] == "marketplace" and len(parts) >= 4:
        return "marketplace." + parts[2]
    return parts[1]


MODULES = dict(_modules())


def test_kit_imports_no_domain_and_no_models() -> None:
    allowed = ("bazaar.kit", "bazaar.config")
    offenders = {
        (name, target)
        for name, tree in MODULES.items()
        if name.startswith("bazaar.kit.")
        for target in _imports(tree)
        if target.startswith("bazaar.")
        and not target.startswith(allowed)
        and target != "bazaar.__version__"
    }
    assert offenders == set()


@pytest.mark.parametrize("kind", BELOW_HTTP)
def test_code_below_the_endpoints_imports_no_http(kind: str) -> None:
    offenders = {
        (name, target)
        for name, tree in MODULES.items()
        if name.rsplit(".", 1)[-1].endswith(kind) and not name.startswith("bazaar.kit.")
        for target in _imports(tree)
        if target.split(".")[0] in HTTP_PACKAGES
        or target.endswith((".dependencies", ".endpoints"))
        or (target.count(".") >= 2 and target.endswith(".auth"))  # a domain's auth aliases
        or target.startswith("bazaar.kit.deps")
    }
    assert offenders == set()


def test_domains_reach_each_other_through_services() -> None:
    offenders = set()
    for name, tree in MODULES.items():
        own = _domain(name)
        for target in _imports(tree):
            parts = target.split(".")
            if not target.startswith("bazaar.") or not any(p.endswith("repository") for p in parts):
                continue
            other = _domain(target)
            if other is not None and own is not None and other != own:
                offenders.add((name, target))
    assert offenders == set()


def test_endpoints_import_no_repository() -> None:
    offenders = {
        (name, target)
        for name, tree in MODULES.items()
        if name.rsplit(".", 1)[-1].endswith("endpoints")
        for target in _imports(tree)
        if target.startswith("bazaar.")
        and any(part.endswith("repository") for part in target.split("."))
    }
    assert offenders == set()


def _calls(tree: ast.Module, name: str) -> int:
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == name)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        )
    )


def test_settings_are_passed_in_not_looked_up() -> None:
    offenders = {
        name
        for name, tree in MODULES.items()
        if name.rsplit(".", 1)[-1] not in SETTINGS_EDGES and _calls(tree, "get_settings")
    }
    assert offenders == set()


def test_only_config_reads_the_environment() -> None:
    offenders = {
        name
        for name, tree in MODULES.items()
        if name != "bazaar.config"
        and any(
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            for node in ast.walk(tree)
        )
    }
    assert offenders == set()
