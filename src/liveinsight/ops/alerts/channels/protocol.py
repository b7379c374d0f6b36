"""What every notification channel does, and the message they carry.

A channel is built from its saved definition (``config.parse_channel`` checked it) and
sends one :class:`Message` per call. ``send`` raises :class:`DeliveryError` when the message
was not accepted (the evaluator records it and retries it at later ticks, up to
``MAX_ATTEMPTS``); it never blocks the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class DeliveryError(Exception):
    """The receiving end did not accept the message (its text says why)."""


@dataclass(frozen=True, slots=True)
class Message:
    subject: str  # one line
    text: str  # plain text, a few lines
    severity: str = "info"
    payload: dict[str, Any] = field(default_factory=dict)  # structured, for webhooks


class Channel(Protocol):
    async def send(self, message: Message) -> None: ...
