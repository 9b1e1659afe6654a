"""Seller offer errors (stable codes, part of the API)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, Forbidden, NotFound


class OfferNotFound(NotFound):
    code = "OFFER_NOT_FOUND"
    message = "Offer not found"


class OfferExists(Conflict):
    code = "OFFER_EXISTS"
    message = "You already have a live offer on this request; edit or withdraw it instead"


class OfferNotPending(Conflict):
    code = "OFFER_NOT_PENDING"
    message = "Only a pending offer can be changed"


class OfferExpired(Conflict):
    code = "OFFER_EXPIRED"
    message = "This offer has expired"


class OfferChanged(Conflict):
    code = "OFFER_CHANGED"
    message = "The seller changed this offer; review the new version before accepting"


class OfferTermsOutdated(Conflict):
    code = "OFFER_TERMS_OUTDATED"
    message = (
        "The request's terms changed after this offer was made; its seller must confirm it "
        "for the current terms before it can be accepted"
    )


class TermsChanged(Conflict):
    code = "REQUEST_TERMS_CHANGED"
    message = "The request's terms changed again; review the current terms before confirming"


class OfferSellerUnavailable(Conflict):
    code = "OFFER_SELLER_UNAVAILABLE"
    message = "The seller of this offer can no longer sell (banned or no longer a seller)"


class OwnRequest(Forbidden):
    code = "OWN_REQUEST"
    message = "You cannot make an offer on your own request"


class NotTargetShop(Forbidden):
    code = "REQUEST_TARGETS_ANOTHER_SHOP"
    message = "This request is addressed to another shop"


class NotTheSeller(Forbidden):
    message = "Only the seller who made this offer can do this"


class NotTheRequestBuyer(Forbidden):
    message = "Only the buyer of the request can do this"
