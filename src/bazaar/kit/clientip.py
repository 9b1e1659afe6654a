"""The client address of a request, with Express `trust proxy` semantics (SPEC §1).

Without TRUST_PROXY the address is the socket peer and X-Forwarded-For is ignored, so a
client cannot pick its own rate-limit key by sending the header. With TRUST_PROXY=true the
left-most X-Forwarded-For address wins (every hop is trusted); with a hop count n, the n-th
address counted from the right (we trust n proxies in front of us).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

UNKNOWN = "unknown"


def peer_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else UNKNOWN


def forwarded_address(header: str, hops: int) -> str | None:
    """Pick the client from an X-Forwarded-For value when `hops` proxies are trusted."""
    addresses = [part.strip() for part in header.split(",") if part.strip()]
    if not addresses:
        return None
    if hops >= len(addresses):
        # Trusting more proxies than there are entries: the left-most is the client.
        return addresses[0]
    return addresses[-hops]


def resolve_client_ip(scope: Scope, hops: int) -> str:
    """The address a request counts against, computed once and kept in scope["state"]."""
    state = scope.setdefault("state", {})
    cached = state.get("client_ip")
    if cached is not None:
        return str(cached)
    address = None
    if hops > 0:
        values = [
            v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"
        ]
        if values:
            # Several header lines are one list, in order (RFC 9110 §5.3).
            address = forwarded_address(",".join(values), hops)
    ip = address or peer_address(scope)
    state["client_ip"] = ip
    return ip


class ClientAddressMiddleware:
    """Stores the client address in scope["state"]["client_ip"] for limits and the access log."""

    def __init__(self, app: ASGIApp, hops: int = 0) -> None:
        self.app = app
        self.hops = hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            resolve_client_ip(scope, self.hops)
        await self.app(scope, receive, send)
