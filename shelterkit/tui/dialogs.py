"""Small modal dialogs: a reason, a yes/no question, a new notice."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from shelterkit.tui.labels import label


class ReasonDialog(ModalScreen[str | None]):
    """Ask why; Enter gives the reason, Esc gives ``None``."""

    AUTO_FOCUS = "Input"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", show=False)]

    def __init__(self, question_key: str, subject: str, lang: str) -> None:
        super().__init__()
        self.question_key = question_key
        self.subject = subject
        self.lang = lang

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(label(self.question_key, self.lang), classes="dialog-title")
            yield Static(self.subject, classes="dialog-subject")
            yield Input(id="reason", compact=True, max_length=200)
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static(
                f"Enter {label('dialog.ok', self.lang)}   Esc {label('dialog.cancel', self.lang)}",
                classes="dialog-keys",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#dialog-error", Static).update(label("dialog.required", self.lang))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; ``y`` or ``n`` (Esc is no)."""

    AUTO_FOCUS = "#no"  # Enter on its own must not issue or withdraw anything
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", show=False),
        Binding("n", "answer(False)", show=False),
        Binding("escape", "answer(False)", show=False),
    ]

    def __init__(self, question: str, lang: str) -> None:
        super().__init__()
        self.question = question
        self.lang = lang

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button(label("dialog.yes", self.lang), id="yes", compact=True)
                yield Button(label("dialog.no", self.lang), id="no", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class NoticeDialog(ModalScreen[dict[str, Any] | None]):
    """A new notice: title (ja, optional en) and text; Enter in any field sends."""

    AUTO_FOCUS = "#title_ja"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", show=False)]

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(label("notices.new", self.lang), classes="dialog-title")
            for key, field, cap in (
                ("notices.field.title_ja", "title_ja", 120),
                ("notices.field.title_en", "title_en", 120),
                ("notices.field.text_ja", "text_ja", 2000),
            ):
                yield Static(label(key, self.lang), classes="dialog-label")
                yield Input(id=field, compact=True, max_length=cap)
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static(
                f"Enter {label('dialog.ok', self.lang)}   Esc {label('dialog.cancel', self.lang)}",
                classes="dialog-keys",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        values = {i.id: i.value.strip() for i in self.query(Input) if i.id}
        if not values["title_ja"]:
            self.query_one("#dialog-error", Static).update(label("dialog.required", self.lang))
            self.query_one("#title_ja", Input).focus()
            return
        title = {"ja": values["title_ja"]}
        if values["title_en"]:
            title["en"] = values["title_en"]
        text = {"ja": values["text_ja"]} if values["text_ja"] else {}
        self.dismiss({"title": title, "text": text})

    def action_cancel(self) -> None:
        self.dismiss(None)


PERSON_FIELDS = (
    ("family", "safety.family", 40),
    ("given", "safety.given", 40),
    ("reading", "safety.reading", 40),
    ("age", "safety.age", 4),
    ("district", "safety.district", 60),
    ("contact", "safety.contact", 200),
)


class PersonDialog(ModalScreen[dict[str, Any] | None]):
    """A safety registration entered by staff, or corrected; Enter in a field sends it."""

    AUTO_FOCUS = "#person-family"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", show=False)]

    def __init__(self, lang: str, current: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.lang = lang
        self.current = current or {}

    def compose(self) -> ComposeResult:
        title = "safety.edit" if self.current else "safety.new"
        with Vertical(classes="dialog"):
            yield Static(label(title, self.lang), classes="dialog-title")
            for field, key, cap in PERSON_FIELDS:
                with Horizontal(classes="dialog-row"):
                    yield Static(label(key, self.lang), classes="dialog-field")
                    yield Input(
                        str(self.current.get(field, "")),
                        id=f"person-{field}",
                        compact=True,
                        max_length=cap,
                    )
            with Horizontal(classes="dialog-row"):
                yield Static(label("safety.consent", self.lang), classes="dialog-field")
                yield Select(
                    [
                        (label("safety.consent.no", self.lang), False),
                        (label("safety.consent.yes", self.lang), True),
                    ],
                    value=bool(self.current.get("consent", False)),
                    allow_blank=False,
                    compact=True,
                    id="person-consent",
                )
            yield Static("", id="dialog-error", classes="dialog-error")
            yield Static(
                f"Enter {label('dialog.ok', self.lang)}   Esc {label('dialog.cancel', self.lang)}",
                classes="dialog-keys",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        fields: dict[str, Any] = {
            field: self.query_one(f"#person-{field}", Input).value.strip()
            for field, _, _ in PERSON_FIELDS
        }
        if not fields["family"] and not fields["given"]:
            self.query_one("#dialog-error", Static).update(label("dialog.required", self.lang))
            self.query_one("#person-family", Input).focus()
            return
        fields["consent"] = self.query_one("#person-consent", Select).value is True
        self.dismiss(fields)

    def action_cancel(self) -> None:
        self.dismiss(None)
