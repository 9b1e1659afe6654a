"""Errors of the notifications domain."""

from __future__ import annotations

from bazaar.kit.errors import Conflict, NotFound


class NotificationNotFound(NotFound):
    code = "NOT_FOUND"
    message = "Notification not found"


class DeliveryNotFound(NotFound):
    code = "NOT_FOUND"
    message = "Delivery not found"


class DeliveryNotDead(Conflict):
    code = "DELIVERY_NOT_DEAD"
    message = "Only a dead delivery can be run again"
