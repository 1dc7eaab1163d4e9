"""The salon organiser's screens: the year's grant line, a session's totals,
and who to follow up."""

from __future__ import annotations

from dataclasses import dataclass

from watchapp.strings.base import Part


@dataclass(frozen=True)
class Salons(Part):
    grant_sessions_met: str
    grant_sessions_short: str
    grant_held: str
    session_totals_line: str
    absence_line: str

    def grant_line(self, held: int, required: int) -> str:
        """The year so far against the minimum number of sessions."""
        if required <= 0:
            return self.grant_held.format(held=held)
        if held >= required:
            return self.grant_sessions_met.format(held=held, required=required)
        return self.grant_sessions_short.format(
            held=held, required=required, short=required - held
        )


JA = Salons(
    grant_sessions_met="今年度 {held}回開催・条件（{required}回以上）を満たしています",
    grant_sessions_short="今年度 {held}回開催・条件（{required}回以上）まであと{short}回",
    grant_held="今年度 {held}回開催",
    session_totals_line="参加 {participants}人（うち新規 {new}人）・協力者 {helpers}人",
    absence_line="{name}さん　{missed}回続けてお休み（最後の参加 {day}）",
)

EN = Salons(
    grant_sessions_met="This year: {held} sessions; the condition ({required} or more) is met",
    grant_sessions_short="This year: {held} sessions; {short} more to reach the condition ({required} or more)",
    grant_held="This year: {held} sessions",
    session_totals_line="{participants} came ({new} new), {helpers} helpers",
    absence_line="{name}: missed {missed} sessions in a row (last came {day})",
)
