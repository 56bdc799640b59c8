"""The one error type of the scheduling package."""

from __future__ import annotations


class ScheduleError(ValueError):
    """Input that cannot become a valid schedule.

    ``code`` is a stable English code the API returns and tests match on (``bad_rrule``,
    ``in_past``, ``window_empty``, ``no_occurrence``, ``too_frequent``, …: the full list is in
    docs/scheduling.md); ``message_vi`` is the Vietnamese sentence shown to the official;
    ``detail`` is optional English context for logs (e.g. what python-dateutil complained about).
    """

    def __init__(self, code: str, message_vi: str, detail: str | None = None) -> None:
        super().__init__(f"{code}: {detail or message_vi}")
        self.code = code
        self.message_vi = message_vi
        self.detail = detail

    def __repr__(self) -> str:
        return f"ScheduleError({self.code!r}, {self.message_vi!r})"
