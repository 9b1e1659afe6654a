"""The registry lists every notification type the code emits, and preferences follow it."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx

from bazaar.marketplace.requests import state
from bazaar.notifications import registry
from bazaar.payments import service as payments_service
from bazaar.payments import status as payment_status
from bazaar.users import preferences
from tests.fixtures.users import Account

SRC = Path(__file__).resolve().parents[2] / "src" / "bazaar"
SENDERS = {"notify", "notify_sellers"}
# Calls whose type is computed; each is covered by a structural check below. A new computed
# call fails `test_every_literal_type_is_registered` until it is listed (and checked) here.
COMPUTED = {
    ("marketplace/requests/machine.py", "rule.notice"),
    ("marketplace/requests/machine.py", "type_"),
    ("payments/lifecycle.py", "f'payment.{to_status}'"),
    ("payments/service.py", "f'payment.{plan.which}_deadline_soon'"),
}


def _sender_calls() -> list[tuple[str, ast.expr]]:
    calls = []
    for path in SRC.rglob("*.py"):
        if "notifications" in path.relative_to(SRC).parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        # Module-level string constants (`MESSAGE_RECEIVED = "message.received"`).
        constants = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in SENDERS and len(node.args) >= 3:
                    arg = node.args[2]
                    if isinstance(arg, ast.Name) and arg.id in constants:
                        arg = constants[arg.id]
                    calls.append((str(path.relative_to(SRC)), arg))
    return calls


def test_every_literal_type_is_registered() -> None:
    calls = _sender_calls()
    assert len(calls) >= 15  # the scan found the emitters (offers, requests, payments...)
    computed = set()
    for where, arg in calls:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            assert registry.is_known(arg.value), f"{where}: {arg.value} not in the registry"
        else:
            computed.add((where, ast.unparse(arg).replace('"', "'")))
    assert computed == COMPUTED


def test_computed_types_are_registered() -> None:
    for rule in state.TRANSITIONS.values():
        assert registry.is_known(rule.notice), rule.notice
    targets = {to for moves in payment_status.MOVES.values() for to in moves}
    for to_status in targets:
        assert registry.is_known(f"payment.{to_status}"), to_status
    for plan in payments_service._REMINDERS:
        assert registry.is_known(f"payment.{plan.which}_deadline_soon"), plan.which


def test_spec_types_are_registered() -> None:
    spec = {
        "offer.received",
        "offer.accepted",
        "payment.held",
        "request.delivered",
        "payment.released",
        "payment.refunded",
        "dispute.opened",
        "dispute.updated",
        "dispute.resolved",
        "message.received",
        "deadline.reminder",
    }
    assert spec <= set(registry.TYPES)


def test_preferences_use_the_registry() -> None:
    assert preferences.EVENTS == registry.TYPES
    assert preferences.default_channels("message.received")["email"] is False
    assert preferences.default_channels("review.received") == {
        "inApp": True,
        "email": True,
        "telegram": False,
    }


async def test_preferences_api_lists_and_accepts_registry_types(
    client: httpx.AsyncClient, buyer: Account
) -> None:
    prefs = (await client.get("/api/user/preferences", headers=buyer.headers)).json()["data"]
    assert set(prefs["notifications"]) == set(registry.TYPES)
    changed = await client.put(
        "/api/user/preferences",
        headers=buyer.headers,
        json={"notifications": {"payment.delivery_deadline_soon": {"email": False}}},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()["data"]["notifications"]
    assert body["payment.delivery_deadline_soon"]["email"] is False
    refused = await client.put(
        "/api/user/preferences",
        headers=buyer.headers,
        json={"notifications": {"no.such_type": {"email": False}}},
    )
    assert refused.status_code == 400
