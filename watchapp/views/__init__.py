"""One module per screen. Each builder takes the AppState, the strings and a
Shell (navigation and messages) and returns an ``ft.View``. Only app.py and
this package import flet."""
