"""Where a notification goes: in-app rows, the user's socket room, email.

Each sink is chosen per user and type by the preference channel it serves
(`bazaar.users.preferences`): `inApp` → in-app row and socket push, `email` → email.
"""

from bazaar.notifications.sinks.base import Delivery, Sink
from bazaar.notifications.sinks.email import EmailSink
from bazaar.notifications.sinks.in_app import InAppSink
from bazaar.notifications.sinks.socket import SocketSink

SINKS: tuple[Sink, ...] = (InAppSink(), SocketSink(), EmailSink())
BY_NAME: dict[str, Sink] = {sink.name: sink for sink in SINKS}

__all__ = ["BY_NAME", "SINKS", "Delivery", "EmailSink", "InAppSink", "Sink", "SocketSink"]
