"""Length and count limits shared by the marketplace's bodies (requests, offers, templates,
reviews), so a template's title fits the request it becomes."""

from __future__ import annotations

TITLE_MIN = 3
TITLE_MAX = 200
DESCRIPTION_MAX = 10_000
MESSAGE_MAX = 2000
REASON_MAX = 1000
NOTE_MAX = 5000
MAX_FILES = 10
QUANTITY_MAX = 10_000
