"""Every notification type Bazaar knows: the one list preferences, templates and delivery use.

A type is `<domain>.<event>` as passed to `notify(session, user_id, type, data)`. Adding an
emitter means adding its type here (tests/notifications/test_registry.py fails otherwise):
the user's preferences then list it with its default channels, and it gets a template.
"""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.payments import status as payment_status

# The preference channels a user switches per type. `inApp` covers the stored row and its
# live socket push; `telegram` stays off until the user links an account and opts in.
CHANNELS = ("inApp", "email", "telegram")


@dataclass(frozen=True)
class NotificationType:
    name: str
    description: str
    # Default for the email channel; a chatty type (chat messages) is not emailed unless asked.
    email: bool = True

    def default_channels(self) -> dict[str, bool]:
        return {"inApp": True, "email": self.email, "telegram": False}


def _t(name: str, description: str, *, email: bool = True) -> NotificationType:
    return NotificationType(name, description, email)


_PAYMENT_DESCRIPTIONS = {
    payment_status.PENDING: "Payment is waiting for (the rest of) the buyer's money",
    payment_status.PARTIALLY_PAID: "Payment received part of the amount",
    payment_status.CONFIRMING: "A transfer to the payment is confirming",
    payment_status.AWAITING_REVIEW: "Payment needs an administrator's review",
    payment_status.HELD: "Payment is held in escrow",
    payment_status.RELEASED: "Payment was released to the seller",
    payment_status.REFUNDED: "Payment was refunded to the buyer",
    payment_status.SPLIT: "Payment was split between buyer and seller",
    payment_status.EXPIRED: "Payment expired unpaid",
    payment_status.CANCELLED: "Payment was cancelled",
    payment_status.FAILED: "Payment failed",
}

_TYPES: tuple[NotificationType, ...] = (
    # Offers (marketplace/offers/service.py, requests/state.py's accept rule).
    _t("offer.received", "A seller made an offer on your request"),
    _t("offer.updated", "A seller changed their offer"),
    _t("offer.confirmed", "A seller confirmed their offer"),
    _t("offer.withdrawn", "A seller withdrew their offer"),
    _t("offer.rejected", "The buyer rejected your offer"),
    _t("offer.superseded", "Another offer was accepted"),
    _t("offer.expired", "Your offer expired"),
    _t("offer.accepted", "The buyer accepted your offer"),
    # Requests (marketplace/requests/state.py rules, requests service and lifecycle).
    _t("request.published", "A request was published"),
    _t("request.updated", "A request you offered on changed"),
    _t("request.terms_changed", "The terms of a request you offered on changed"),
    _t("request.expired", "A request expired"),
    _t("request.cancelled", "A request was cancelled"),
    _t("request.funding_expired", "The funding window ended and the request reopened"),
    _t("request.funded", "The request is funded"),
    _t("request.delivered", "The seller delivered"),
    _t("request.completed", "The deal is completed"),
    _t("request.refunded", "The deal was refunded"),
    _t("request.disputed", "A dispute was opened on the deal"),
    _t("request.split", "The dispute ended with a split"),
    # Payments (payments/lifecycle.py: payment.<status>; payments/service.py reminders).
    *(_t(f"payment.{s}", _PAYMENT_DESCRIPTIONS[s]) for s in payment_status.STATUSES),
    _t("payment.funding_deadline_soon", "The funding deadline is near"),
    _t("payment.delivery_deadline_soon", "The delivery deadline is near"),
    _t("payment.inspection_deadline_soon", "The inspection deadline is near"),
    # Reviews (marketplace/reviews/service.py).
    _t("review.received", "You received a review"),
    # SPEC §8 types whose emitters are other domains (disputes, chat, reminders).
    _t("dispute.opened", "A dispute was opened"),
    _t("dispute.updated", "A dispute was updated"),
    _t("dispute.resolved", "A dispute was resolved"),
    _t("message.received", "You received a chat message", email=False),
    _t("deadline.reminder", "A deadline is near"),
)

REGISTRY: dict[str, NotificationType] = {t.name: t for t in _TYPES}
TYPES: tuple[str, ...] = tuple(REGISTRY)


def get(name: str) -> NotificationType | None:
    return REGISTRY.get(name)


def is_known(name: str) -> bool:
    return name in REGISTRY


def default_channels(name: str) -> dict[str, bool]:
    """Defaults for a type; an unknown type (a job queued by older code) gets the common ones."""
    known = REGISTRY.get(name)
    if known is not None:
        return known.default_channels()
    return {"inApp": True, "email": True, "telegram": False}
