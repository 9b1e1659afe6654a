"""The purchase request state machine of SPEC §4, as data.

Each allowed move `(from, to)` names the roles that may make it and the notification type
the parties receive. `service.transition()` is the only code that reads this table.

Roles: `buyer` (the request's buyer), `seller` (the seller of the accepted offer), `admin`,
`resolver` (dispute decisions), `system` (timers and payment events, no user).
"""

from __future__ import annotations

from dataclasses import dataclass

DRAFT = "draft"
OPEN = "open"
ACCEPTED = "accepted"
FUNDED = "funded"
DELIVERED = "delivered"
COMPLETED = "completed"
REFUNDED = "refunded"
DISPUTED = "disputed"
SPLIT = "split"
CANCELLED = "cancelled"
EXPIRED = "expired"

STATUSES = (
    DRAFT,
    OPEN,
    ACCEPTED,
    FUNDED,
    DELIVERED,
    COMPLETED,
    REFUNDED,
    DISPUTED,
    SPLIT,
    CANCELLED,
    EXPIRED,
)
FINAL = frozenset({COMPLETED, REFUNDED, SPLIT, CANCELLED, EXPIRED})

BUYER = "buyer"
SELLER = "seller"
ADMIN = "admin"
SYSTEM = "system"
RESOLVER = "resolver"
ROLES = (BUYER, SELLER, ADMIN, SYSTEM, RESOLVER)


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    notice: str  # notification type sent to the parties (except the actor)
    # False: not even an admin may force it (its truth is outside Bazaar, e.g. the chain).
    forceable: bool = True


def _rule(notice: str, *roles: str, forceable: bool = True) -> Rule:
    return Rule(roles=frozenset(roles), notice=notice, forceable=forceable)


# A dispute ends by a resolver's decision or by a settlement one party proposed and the other
# accepted; the accepting party (buyer or seller) is recorded as the actor of that move.
_DISPUTE_END = (RESOLVER, BUYER, SELLER)

TRANSITIONS: dict[tuple[str, str], Rule] = {
    (DRAFT, OPEN): _rule("request.published", BUYER),
    (OPEN, EXPIRED): _rule("request.expired", SYSTEM),
    (OPEN, CANCELLED): _rule("request.cancelled", BUYER, ADMIN),
    (ACCEPTED, CANCELLED): _rule("request.cancelled", BUYER, ADMIN),
    (OPEN, ACCEPTED): _rule("offer.accepted", BUYER),
    (ACCEPTED, OPEN): _rule("request.funding_expired", SYSTEM),
    # Funded means the payment is held in escrow, which only the chain can say (SPEC §4).
    (ACCEPTED, FUNDED): _rule("request.funded", SYSTEM, forceable=False),
    (FUNDED, DELIVERED): _rule("request.delivered", SELLER),
    (DELIVERED, COMPLETED): _rule("request.completed", BUYER, SYSTEM),
    (FUNDED, REFUNDED): _rule("request.refunded", SELLER, SYSTEM, ADMIN),
    # The seller may give the money back until it is released, delivered or not (the
    # escrow refunds it first: payments/escrow.py); an admin may decide so too.
    (DELIVERED, REFUNDED): _rule("request.refunded", SELLER, ADMIN),
    (FUNDED, DISPUTED): _rule("request.disputed", BUYER, SELLER),
    (DELIVERED, DISPUTED): _rule("request.disputed", BUYER, SELLER),
    (DISPUTED, COMPLETED): _rule("request.completed", *_DISPUTE_END),
    (DISPUTED, REFUNDED): _rule("request.refunded", *_DISPUTE_END),
    (DISPUTED, SPLIT): _rule("request.split", *_DISPUTE_END),
}


def rule_for(from_status: str, to_status: str) -> Rule | None:
    return TRANSITIONS.get((from_status, to_status))


def is_final(status: str) -> bool:
    return status in FINAL
