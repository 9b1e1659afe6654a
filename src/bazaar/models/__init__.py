"""All tables, imported here so Alembic and the metadata see every one."""

from bazaar.kit.db import Base
from bazaar.models.chat import Conversation, Message, Participant
from bazaar.models.files import StoredFile
from bazaar.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from bazaar.models.marketplace import (
    Category,
    PurchaseRequest,
    RequestHistory,
    RequestTemplate,
    Review,
    SellerOffer,
    Shop,
)
from bazaar.models.notifications import Notification
from bazaar.models.payments import (
    ChainTransfer,
    ConfirmationThreshold,
    Payment,
    PaymentEvent,
    Payout,
)
from bazaar.models.system import IdempotencyKey, Job, PeriodicTask, WorkerHeartbeat
from bazaar.models.users import Address, RefreshToken, SignInFailure, User, UserToken

__all__ = [
    "Address",
    "Base",
    "Category",
    "ChainTransfer",
    "ConfirmationThreshold",
    "Conversation",
    "IdempotencyKey",
    "Job",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransaction",
    "Message",
    "Participant",
    "Notification",
    "Payment",
    "PaymentEvent",
    "Payout",
    "PeriodicTask",
    "PurchaseRequest",
    "RefreshToken",
    "RequestHistory",
    "RequestTemplate",
    "Review",
    "SellerOffer",
    "SignInFailure",
    "StoredFile",
    "Shop",
    "User",
    "UserToken",
    "WorkerHeartbeat",
]
