"""Every UI string, Japanese first and English second: the only package with
Japanese.

One module per feature, each a part: one frozen dataclass with one instance
per language, so that a string missing from a language fails at import.

    base       what every part shares: the checks
    common     app-wide words, the status line, form errors, dates
    round      the volunteer's round, visit, concern, my records, enrolment
    dashboard  the coordinator's screens
    salons     the salon organiser's screens: totals, grant conditions, absences
    reports    the names of outcomes, categories, urgencies, statuses: the
               server imports it for report headings, without the device
    device     every part joined, for the device's screens (``catalog()``)

This module imports nothing, so that ``watchapp.strings.reports`` stays light.
"""
