"""Package data, installed as `desktop_app.resources`: the icon set and the desktop entry."""
