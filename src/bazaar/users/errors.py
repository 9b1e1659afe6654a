"""Errors of the users domain (profiles, addresses, user administration)."""

from __future__ import annotations

from bazaar.kit.errors import Conflict


class AddressLimitReached(Conflict):
    code = "ADDRESS_LIMIT_REACHED"
    message = "You have reached the maximum number of saved addresses"


class DefaultAddressRequired(Conflict):
    code = "DEFAULT_ADDRESS_REQUIRED"
    message = "One address must stay the default: make another address the default instead"


class CannotBanSelf(Conflict):
    code = "CANNOT_BAN_SELF"
    message = "You cannot ban your own account"


class CannotRemoveOwnAdmin(Conflict):
    code = "CANNOT_REMOVE_OWN_ADMIN"
    message = "You cannot remove the admin role from your own account"


class UserAlreadyBanned(Conflict):
    code = "USER_ALREADY_BANNED"
    message = "This user is already banned"


class UserNotBanned(Conflict):
    code = "USER_NOT_BANNED"
    message = "This user is not banned"
