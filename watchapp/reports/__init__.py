"""Files the council hands on: built from the domain's figures, headed from
``watchapp.strings.reports``; no Flet, httpx or device state."""
