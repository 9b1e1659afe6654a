"""URL slugs shared by categories and shops: format, derivation from a name, free variants."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Collection

from bazaar.kit.ids import LEGACY_ID, parse_uuid

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG_MAX = 120
# Derived slugs stay shorter than SLUG_MAX so a `-<n>` suffix always fits without cutting.
DERIVED_MAX = 100
_SLUG = re.compile(SLUG_PATTERN)


def check_slug(value: str, reserved: Collection[str] = ()) -> str:
    """Return `value` when it is a usable slug, else raise ValueError with the reason."""
    if not value or len(value) > SLUG_MAX:
        raise ValueError(f"slug must be 1-{SLUG_MAX} characters")
    if not _SLUG.match(value):
        raise ValueError("slug may contain only a-z, 0-9 and single hyphens between them")
    # Lookups accept a UUID, a legacy id or a slug in one path segment, so a slug shaped
    # like an id would be ambiguous.
    if parse_uuid(value) is not None or LEGACY_ID.match(value):
        raise ValueError("slug must not look like an id")
    if value in reserved:
        raise ValueError(f"slug {value!r} is reserved")
    return value


def slugify(name: str) -> str:
    """`Home & Garden` -> `home-garden`; accents are folded, other scripts dropped."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug


def derive_base(name: str, fallback: str, reserved: Collection[str] = ()) -> str:
    """A slug base for `name`; a random `fallback-xxxxxx` when the name yields none."""
    base = slugify(name)[:DERIVED_MAX].rstrip("-")
    try:
        return check_slug(base, reserved)
    except ValueError:
        return f"{fallback}-{secrets.token_hex(3)}"


def first_free(base: str, taken: Collection[str]) -> str:
    """`base`, or `base-2`, `base-3`, ... : the first one not in `taken`."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
