"""Notification preferences: the registry's events and channels, defaults, merge rules.

A user's row stores only what they changed (a sparse copy of the wire format), so a new
event type or a changed default reaches everyone who never touched it. Reads always go
through `effective_preferences`, which fills the gaps and ignores anything unknown (rows
imported from the old system may hold keys we no longer use).
"""

from __future__ import annotations

import re
from typing import Any

from bazaar.kit.errors import ValidationFailed
from bazaar.notifications import registry

# The notification types and their default channels come from the notifications registry:
# a type some code emits is listed there, so it shows up here with its defaults.
EVENTS = registry.TYPES
CHANNELS = registry.CHANNELS

DEFAULT_DISPLAY_CURRENCY = "USD"

LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?$")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


def normalize_language_tag(value: str) -> str:
    """A short BCP-47 tag (`en`, `pt-BR`, `zh-Hant-TW`) in canonical case; `_` accepted."""
    match = LANGUAGE_TAG.match(value.strip().replace("_", "-"))
    if not match:
        raise ValueError("must be a language tag such as en, de or pt-BR")
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def default_channels(event: str) -> dict[str, bool]:
    return registry.default_channels(event)


def effective_preferences(stored: dict[str, Any] | None, locale: str) -> dict[str, Any]:
    """The full preferences (every event, every channel) for a stored sparse copy."""
    stored = stored if isinstance(stored, dict) else {}
    saved = stored.get("notifications")
    saved = saved if isinstance(saved, dict) else {}
    notifications: dict[str, dict[str, bool]] = {}
    for event in EVENTS:
        channels = default_channels(event)
        overrides = saved.get(event)
        if isinstance(overrides, dict):
            for channel in CHANNELS:
                if isinstance(overrides.get(channel), bool):
                    channels[channel] = overrides[channel]
        notifications[event] = channels
    language = stored.get("language")
    currency = stored.get("displayCurrency")
    return {
        "notifications": notifications,
        "language": language if isinstance(language, str) and language else locale,
        "displayCurrency": currency
        if isinstance(currency, str) and currency
        else DEFAULT_DISPLAY_CURRENCY,
    }


def channel_enabled(stored: dict[str, Any] | None, event: str, channel: str) -> bool:
    """Whether `event` goes out on `channel`; events not listed here use the defaults."""
    if event not in EVENTS:
        return default_channels(event).get(channel, False)
    notifications = effective_preferences(stored, "en")["notifications"]
    return bool(notifications[event].get(channel, False))


def merge_preferences(
    stored: dict[str, Any] | None,
    notifications: dict[str, dict[str, bool]] | None,
    language: str | None,
    display_currency: str | None,
) -> dict[str, Any]:
    """A new sparse copy with the given changes applied; raises ValidationFailed on bad names.

    Events and channels left out of `notifications` keep their current values.
    """
    details: list[dict[str, str]] = []
    for event, channels in (notifications or {}).items():
        if event not in EVENTS:
            msg = f"unknown event; one of {', '.join(EVENTS)}"
            details.append({"path": f"notifications.{event}", "msg": msg})
            continue
        for channel in channels:
            if channel not in CHANNELS:
                details.append(
                    {
                        "path": f"notifications.{event}.{channel}",
                        "msg": f"unknown channel; one of {', '.join(CHANNELS)}",
                    }
                )
    if details:
        raise ValidationFailed(f"{details[0]['path']}: {details[0]['msg']}", details=details)

    base = stored if isinstance(stored, dict) else {}
    previous = base.get("notifications")
    previous = previous if isinstance(previous, dict) else {}
    # Build new dicts throughout: the JSON column only notices a reassigned value.
    merged_notifications: dict[str, dict[str, bool]] = {
        event: dict(value) for event, value in previous.items() if isinstance(value, dict)
    }
    for event, channels in (notifications or {}).items():
        merged_notifications[event] = {**merged_notifications.get(event, {}), **channels}
    result: dict[str, Any] = {**base, "notifications": merged_notifications}
    if language is not None:
        result["language"] = language
    if display_currency is not None:
        result["displayCurrency"] = display_currency
    return result
