"""Text that changes every second without re-laying out the window around it."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel


def set_steady_text(label: QLabel, text: str, refit: bool = False) -> None:
    """Show `text` in a label whose size stays put.

    A label that follows its text asks its whole window to lay out again each time the text's
    width changes (a third of a 1 Hz plot tick). A label of fixed size repaints alone, so its
    width only grows, to fit the widest text yet; `refit` fits it to this text (a long warning
    has gone)."""
    if text == label.text() and not refit:
        return
    width = label.fontMetrics().horizontalAdvance(text) + 4
    if refit or width > label.width() or label.minimumWidth() != label.maximumWidth():
        label.setFixedSize(width if refit else max(width, label.minimumWidth()), label.sizeHint().height())
    label.setText(text)
