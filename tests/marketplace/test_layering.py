"""The marketplace's layering rules (ARCHITECTURE.md, rules 1 and 10), read from the import
statements of its modules and of the domains it calls (payments, the address book):
endpoints import no repository, another domain's repository is never imported, services
and repositories import no HTTP code, settings are passed in, and the shared field types
in kit/ import no domain."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from importlib.util import resolve_name
from pathlib import Path

import pytest

import bazaar

SRC = Path(bazaar.__file__).resolve().parent
CHECKED = ("marketplace", "payments", "users/address_", "admin/users_endpoints")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[str, str]]:
    """(imported module, imported name or "") for every import in the file; `from a import
    b` also yields `a.b`, since `b` may be a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            base = resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                yield base, alias.name
                yield f"{base}.{alias.name}", ""


def all_modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def checked_modules() -> list[Path]:
    return [p for p in all_modules() if p.relative_to(SRC).as_posix().startswith(CHECKED)]


def is_endpoints(path: Path) -> bool:
    return path.stem == "endpoints" or path.stem.endswith("_endpoints")


def is_repository(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "repository" or last.endswith("_repository")


def domain_of(module: str) -> str:
    """`bazaar.marketplace.requests.repository` -> `bazaar.marketplace.requests`; a flat
    `bazaar.users.address_repository` -> `bazaar.users`."""
    return module.rsplit(".", 1)[0]


def test_the_checked_modules_exist() -> None:
    names = {module_name(p) for p in checked_modules()}
    for expected in (
        "bazaar.marketplace.requests.endpoints",
        "bazaar.marketplace.jobs",
        "bazaar.payments.service",
        "bazaar.users.address_service",
        "bazaar.admin.users_endpoints",
    ):
        assert expected in names


@pytest.mark.parametrize("path", checked_modules(), ids=lambda p: p.relative_to(SRC).as_posix())
def test_layers(path: Path) -> None:
    module = module_name(path)
    found = list(imports(path))
    repositories = {m for m, _ in found if m.startswith("bazaar.") and is_repository(m)}
    if is_endpoints(path):
        assert not repositories, f"{module}: endpoints call the service, not {repositories}"
    foreign = {
        r
        for r in repositories
        if r != "bazaar.kit.repository" and domain_of(r) != domain_of(module)
    }
    assert not foreign, f"{module}: another domain's repository {foreign}; call its service"
    if not is_endpoints(path) and path.stem != "auth":
        http = {m for m, _ in found if m.split(".")[0] in ("fastapi", "starlette")}
        assert not http, f"{module}: services and repositories import no HTTP code ({http})"
    settings_lookups = {m for m, name in found if name == "get_settings"}
    assert not settings_lookups, f"{module}: receive `settings` as an argument instead"


def test_no_module_imports_a_marketplace_or_payments_repository_from_outside() -> None:
    for path in all_modules():
        module = module_name(path)
        for imported, _ in imports(path):
            owned = imported.startswith(("bazaar.marketplace.", "bazaar.payments."))
            if owned and is_repository(imported):
                assert domain_of(imported) == domain_of(module), (module, imported)


@pytest.mark.parametrize("name", ["fields", "repository", "tokens", "money"])
def test_shared_kit_modules_import_no_domain(name: str) -> None:
    found = {m for m, _ in imports(SRC / "kit" / f"{name}.py") if m.startswith("bazaar.")}
    # Settings are no domain: the token registry reads TOKEN_CONTRACTS from them.
    allowed = ("bazaar.kit", "bazaar.config")
    outside = {
        m for m in found if not m.startswith(("bazaar.kit.", "bazaar.config.")) and m not in allowed
    }
    assert not outside, outside
