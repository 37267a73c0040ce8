"""Messages the TUI's panes send up to the app: what a person just decided.

The app owns the client, so panes never call the API: they say what happened and the
app acts on it (attributes down, messages up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class ModerationChosen(Message):
    """Staff chose to hide or restore a board post, with a reason."""

    post_id: str
    action: str  # "hide" | "restore"
    reason: str


@dataclass
class StatusEntered(Message):
    """Staff filled in the headcount and needs form and sent it."""

    status: dict[str, Any]


@dataclass
class NoticeComposed(Message):
    """Staff wrote a new notice for this shelter."""

    title: dict[str, str]
    text: dict[str, str]


@dataclass
class NoticeWithdrawalConfirmed(Message):
    """Staff confirmed that a notice should come down."""

    notice_id: str


@dataclass
class AlertDrafted(Message):
    """City-hall staff asked to preview an alert as typed."""

    alert: dict[str, Any]


@dataclass
class AlertConfirmed(Message):
    """City-hall staff confirmed issuing the previewed alert."""

    alert: dict[str, Any]


@dataclass
class PersonSearched(Message):
    """Staff searched the safety registrations by name."""

    query: str


@dataclass
class PersonEntered(Message):
    """Staff entered (``person_id`` empty) or corrected a safety registration."""

    person_id: str
    fields: dict[str, Any]


@dataclass
class ConsentWithdrawn(Message):
    """Staff confirmed that a person no longer wants to be listed."""

    person_id: str


@dataclass
class LanNodeChosen(Message):
    """Staff chose a node found on the LAN to open its screens."""

    url: str
