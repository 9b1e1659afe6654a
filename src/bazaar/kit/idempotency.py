"""`Idempotency-Key` for money-moving POSTs (SPEC §1).

The same key with the same request (method, path, body) replays the first response, with
the header `Idempotent-Replayed: true`; the same key with another request is 409
`IDEMPOTENCY_KEY_REUSED`. Keys are scoped to the caller (user id, or "anonymous").

How it stays correct: the dependency first *claims* the key by inserting its row in the
request's own transaction, and `save()` fills in the response in that same transaction. So
the key is stored only together with the endpoint's effects: a request that fails stores
nothing and may be retried with the same key. A concurrent duplicate cannot run the effects
twice: on PostgreSQL its insert waits on the unique (scope, key) index until the first
transaction ends, then conflicts and replays; on SQLite write transactions are serialized
(`BEGIN IMMEDIATE`), so it starts after the first one committed. Only 2xx responses are
stored; other statuses release the key.

Usage in an endpoint (call `save` with what you return; return `idem.replay` first);
`Idem` binds the key to the signed-in user (auth/dependencies.py):

    from bazaar.auth.dependencies import Idem

    @router.post("/payments", status_code=201)
    async def create_payment(body: PaymentIn, user: BuyerUser, session: WriteSession,
                             idem: Idem) -> JSONResponse:
        if idem.replay:
            return idem.replay
        payment = await service.create_payment(session, user, body)
        data = ok(PaymentOut.model_validate(payment).model_dump(mode="json"))
        return await idem.save(session, data, 201)

Without the header the dependency does nothing and `save` just builds the response.
Forgetting `save` after a claimed key is a programming error: the request fails with a 500
and rolls back rather than leave a key that can never replay.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bazaar.kit.errors import Conflict, ValidationFailed
from bazaar.kit.tables import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
ANONYMOUS = "anonymous"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was already used for a different request"


class IdempotencyKeyInProgress(Conflict):
    code = "IDEMPOTENCY_KEY_IN_PROGRESS"
    message = "This Idempotency-Key has no stored response; use a new key"


class Idempotency:
    """What the endpoint gets: `replay` (the stored response) or a claim to `save`."""

    def __init__(
        self,
        key: str | None,
        replay: JSONResponse | None = None,
        claim: IdempotencyKey | None = None,
    ) -> None:
        self.key = key
        self.replay = replay
        self._claim = claim
        self._saved = False

    async def save(self, session: AsyncSession, body: Any, status_code: int = 200) -> JSONResponse:
        """Store the response with the key (2xx only) and return it for the endpoint."""
        if self.replay is not None:
            raise RuntimeError("a replayed request must return idem.replay, not run again")
        content = to_jsonable_python(body, by_alias=True)
        if self._claim is not None and not self._saved:
            if 200 <= status_code < 300:
                self._claim.status_code = status_code
                self._claim.response_body = content
            else:
                await session.delete(self._claim)
            await session.flush()
            self._saved = True
        return JSONResponse(content, status_code=status_code)

    @property
    def unsaved(self) -> bool:
        return self._claim is not None and not self._saved


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Hash of the request; JSON bodies are canonical (key order, spacing do not matter)."""
    try:
        # Decimal keeps 1.10 and 1.1000000000000000001 apart (floats would merge them).
        parsed = json.loads(body, parse_float=Decimal)
        canonical = json.dumps(
            parsed,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=lambda d: {"$decimal": str(d)},
        ).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key)


async def _claim_or_replay(
    session: AsyncSession, row: IdempotencyKey
) -> IdempotencyKey | JSONResponse:
    try:
        async with session.begin_nested():
            session.add(row)
        return row
    except IntegrityError:
        pass
    stmt = sa.select(IdempotencyKey).where(
        IdempotencyKey.scope == row.scope, IdempotencyKey.key == row.key
    )
    first = (await session.execute(stmt)).scalar_one()
    if first.request_hash != row.request_hash:
        raise IdempotencyKeyReused()
    if first.status_code is None:
        raise IdempotencyKeyInProgress()
    return JSONResponse(
        first.response_body,
        status_code=first.status_code,
        headers={REPLAYED_HEADER: "true"},
    )


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Optional, 1-255 printable characters. Retrying with the same key "
        "and body returns the first response (header `Idempotent-Replayed: true`) "
        "instead of repeating the operation; another body with it is 409 "
        "`IDEMPOTENCY_KEY_REUSED`.",
        json_schema_extra={"pattern": f"^[ -~]{{1,{MAX_KEY_LENGTH}}}$"},
    ),
]


async def claim(
    request: Request, session: AsyncSession, scope: str | None, key: str | None
) -> Idempotency:
    """Claim `key` for this request, or find the response to replay. `scope` is the
    caller's id (None: anonymous); the auth domain binds it to the signed-in user (`Idem` in
    auth/dependencies.py), and calls `check_saved` once the endpoint has returned."""
    if key is None:
        return Idempotency(None)
    if not _valid_key(key):
        raise ValidationFailed.on(HEADER, "must be 1-255 printable ASCII characters")
    row = IdempotencyKey(
        scope=scope or ANONYMOUS,
        key=key,
        method=request.method,
        path=request.url.path[:500],
        request_hash=fingerprint(request.method, request.url.path, await request.body()),
    )
    outcome = await _claim_or_replay(session, row)
    if isinstance(outcome, JSONResponse):
        return Idempotency(key, replay=outcome)
    return Idempotency(key, claim=outcome)


def check_saved(request: Request, idem: Idempotency) -> None:
    if idem.unsaved:
        raise RuntimeError(f"{request.url.path} claimed an Idempotency-Key but never saved it")
