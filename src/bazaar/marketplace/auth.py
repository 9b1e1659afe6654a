"""Who may call a marketplace endpoint, in one place: every marketplace endpoint names one
of these aliases for its caller.

They decide only who is calling and which role they hold. Which requests, offers and
templates that caller may see or change is decided per object, in SQL, by each
repository's `readable_statement(viewer)`.
"""

from __future__ import annotations

from bazaar.auth.dependencies import (
    AdminUser,
    BuyerUser,
    CurrentUser,
    Idem,
    OptionalUser,
    SellerUser,
)

# Anyone, signed in or not (None when anonymous): public catalogue and open requests.
Viewer = OptionalUser
# Any signed-in user; what they may touch is scoped per object.
SignedIn = CurrentUser
Buyer = BuyerUser
Seller = SellerUser
Admin = AdminUser
# `Idempotency-Key` handling for money-moving POSTs, scoped to the caller.
IdempotencyKey = Idem

__all__ = ["Admin", "Buyer", "IdempotencyKey", "Seller", "SignedIn", "Viewer"]
