"""Titles and bodies per locale: `templates/<language>.toml`, each string a Jinja2 template.

The user's language (their preferences, else their profile locale) picks the file by its
primary subtag (`de-AT` → `de`); a language without a file, or a type without an entry,
falls back to English and then to the `[default]` entry. Values come from the
notification's data; a template that fails to render (a value missing) falls back too.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from bazaar.notifications import registry

log = structlog.get_logger("bazaar.notifications")

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "en"


@dataclass(frozen=True)
class Rendered:
    locale: str
    title: str
    body: str


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    # Plain text: the socket and in-app clients escape; the email text part must not.
    return SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


@lru_cache(maxsize=16)
def catalog(locale: str) -> dict[str, dict[str, str]]:
    path = TEMPLATE_DIR / f"{locale}.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as f:
        return tomllib.load(f)


def locales() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.toml"))


def pick_locale(language: str | None) -> str:
    primary = (language or DEFAULT_LOCALE).split("-")[0].lower()
    return primary if catalog(primary) else DEFAULT_LOCALE


def _render_one(locale: str, type_: str, values: dict[str, Any]) -> tuple[str, str] | None:
    entries = catalog(locale)
    for key in (type_, "default"):
        entry = entries.get(key)
        if not entry:
            continue
        env = _environment()
        try:
            title = env.from_string(entry["title"]).render(values).strip()
            body = env.from_string(entry["body"]).render(values).strip()
        except (TemplateError, KeyError) as exc:
            log.warning(
                "notification_template_failed", locale=locale, type=type_, key=key, error=str(exc)
            )
            continue
        return title, body
    return None


def render(type_: str, data: dict[str, Any], language: str | None) -> Rendered:
    """The title and body of a `type_` notification in the user's `language`."""
    known = registry.get(type_)
    values = {
        "type": type_,
        "description": known.description if known else type_,
        "data": data,
    }
    locale = pick_locale(language)
    for candidate in dict.fromkeys((locale, DEFAULT_LOCALE)):
        done = _render_one(candidate, type_, values)
        if done is not None:
            return Rendered(candidate, done[0][:300], done[1])
    return Rendered(DEFAULT_LOCALE, str(values["description"])[:300], str(values["description"]))
