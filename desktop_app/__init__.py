"""OpServ Desktop: a desktop system monitor (PySide6 + pyqtgraph + psutil)."""

__version__ = "0.1.0"
