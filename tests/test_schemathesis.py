"""Schemathesis runs every check against the app in process: the OpenAPI document must
describe what the server answers, for an anonymous caller and for a signed-in one.

Settings are in tests/schemathesis.toml (examples per operation, seed, and the few checks
switched off for one operation, each with its reason). Runs on the suite's database
(BAZAAR_TEST_BACKEND). docs/operations.md says how to run it alone.
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.engine import Status, events
from schemathesis.python import asgi

from bazaar.config import Settings
from bazaar.kit.db import Database
from bazaar.main import create_app
from tests.fixtures.users import Account, MakeUser

CONFIG = Path(__file__).with_name("schemathesis.toml")

# Operations the signed-in pass leaves out: they end the very session it signs in with
# (logout with `allDevices`, a password change), after which every later request would
# be a 401 and prove nothing. The anonymous pass still runs them.
SESSION_ENDING = ["/api/auth/logout", "/api/auth/password/change"]
# Admin only: the signed-in caller (a buyer and seller) gets 403 ROLE_REQUIRED before the
# request is read, whatever it holds. tests/test_authorization_matrix.py proves the 401
# and 403 of every such route; a pass as an admin would be the next one to add.
ADMIN_ONLY = r"^/api/(admin|email)/|^/api/marketplace/requests/\{ref\}/force-transition$"
# The same handlers under a second path (the legacy `/api/users` mount; your shop at the
# root and at `/me`): run once, under the other path.
ALIASES = r"^/api/users/"
SHOP_ROOT = "/api/marketplace/shop-settings"


@dataclass
class Outcome:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Seconds per (phase, operation): where the time goes as routes grow.
    spent: Counter[str] = field(default_factory=Counter)


def _config(token: str | None) -> schemathesis.Config:
    data: dict[str, Any] = tomllib.loads(CONFIG.read_text())
    if token is not None:
        data.setdefault("auth", {})["openapi"] = {"HTTPBearer": {"bearer": token}}
    return schemathesis.Config.from_dict(data)


def _security(context: Any) -> list[dict[str, Any]]:
    return context.operation.definition.raw.get("security") or []


def _anonymous_may_call(context: Any) -> bool:
    """Operations open to anonymous callers. The others answer them 401 before reading
    anything: the signed-in pass checks it (`ignored_auth` repeats an accepted request
    without a token and with a bad one), and tests/test_authorization_matrix.py for every
    route."""
    security = _security(context)
    return not security or {} in security


def _reads_a_token(context: Any) -> bool:
    """Operations whose answer may depend on who calls. The others (sign-in, public
    reads) never look at a token: the anonymous pass covers them once."""
    return bool(_security(context))


def _run(app: Any, token: str | None) -> Outcome:
    outcome = Outcome()
    started = time.perf_counter()
    config = _config(token)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    # `exclude`: `include` would drop the per-operation settings of the config file.
    schema = schema.exclude(path_regex=ALIASES)
    schema = schema.exclude(path=SHOP_ROOT, method=["GET", "PUT", "PATCH"])
    if token is None:
        schema = schema.exclude(func=lambda context: not _anonymous_may_call(context))
    else:
        schema = schema.exclude(path=SESSION_ENDING, method="POST")
        schema = schema.exclude(func=lambda context: not _reads_a_token(context))
        schema = schema.exclude(path_regex=ADMIN_ONLY)
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            outcome.cases += len(recorder.cases)
            outcome.spent[f"{event.phase.value} {recorder.label}"] += event.elapsed_time
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    outcome.statuses[interaction.response.status_code] += 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE or check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    key = (recorder.label, check.name, failure.title)
                    interaction = recorder.interactions.get(case_id)
                    answer = ""
                    if interaction is not None and interaction.response is not None:
                        answer = interaction.response.content[:400].decode(errors="replace")
                    outcome.failures.setdefault(
                        key, f"{failure.message}\n{check.failure_info.code_sample}\n=> {answer}"
                    )
        elif isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception!r}")
    outcome.seconds = time.perf_counter() - started
    return outcome


def _report(name: str, outcome: Outcome) -> str:
    lines = [
        f"{name}: {outcome.cases} cases in {outcome.seconds:.1f} s, "
        f"statuses {dict(sorted(outcome.statuses.items()))}",
        f"in scenarios {sum(outcome.spent.values()):.1f} s; slowest: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in outcome.spent.most_common(8)),
    ]
    for (label, check, title), detail in sorted(outcome.failures.items()):
        lines.append(f"--- {label} [{check}] {title}\n{detail}")
    lines += [f"--- error: {error}" for error in outcome.errors]
    return "\n".join(lines)


@pytest.fixture
async def shop_owner(make_user: MakeUser, client: httpx.AsyncClient) -> Account:
    """The signed-in caller: a buyer and seller with a shop."""
    account = await make_user(["buyer", "seller"], name="Schema Tester")
    created = await client.post(
        "/api/marketplace/shop-settings", json={"name": "Schema Shop"}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    return account


async def test_openapi_document_matches_the_answers(
    settings: Settings, db: Database, shop_owner: Account
) -> None:
    # The app gets its own database engine: schemathesis serves it on an event loop of
    # its own (a thread), where the suite's engine may not be used.
    app = create_app(settings)
    app.state.start_worker = False

    def run_both() -> tuple[Outcome, Outcome]:
        try:
            return _run(app, None), _run(app, shop_owner.token)
        finally:
            asgi.shutdown_lifespans()

    anonymous, signed_in = await asyncio.to_thread(run_both)
    report = "\n".join([_report("anonymous", anonymous), _report("signed in", signed_in)])
    print(report)
    # The passes reached the endpoints: a broken token would make every answer a 401.
    signed_in_ok = sum(n for status, n in signed_in.statuses.items() if status < 300)
    assert anonymous.statuses[200] > 50 and signed_in_ok > 500, report
    assert not (anonymous.failures or anonymous.errors), report
    assert not (signed_in.failures or signed_in.errors), report
