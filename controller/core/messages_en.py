"""The API error messages of ``messages.ERRORS`` in English, for the web pages' English locale.

The REST API always answers in Vietnamese (its clients match on the stable codes); a web page
whose official chose English shows these instead (``messages.use_locale``, set by the web
layer for the request). Also the codes of the schedules package's errors (``ScheduleError``),
whose Vietnamese sentences are made case by case: in English each code reads one way.
``{detail}`` and other placeholders are filled as given. A test checks every code has its
English with the same placeholders.
"""

from __future__ import annotations

ERRORS_EN: dict[str, str] = {
    "unauthorized": "Not signed in, or the access token is not valid.",
    "forbidden": "You are not allowed to do this.",
    "outside_area": "The chosen area is outside the area assigned to you.",
    "body_too_large": "The request is too large (at most {limit} MB).",
    "self_approval": "The approver must be someone other than the author of the announcement.",
    "bad_status": "Not possible while the announcement is «{state}».",
    "comment_required": "Please give the reason for rejecting.",
    "schedule_conflict": (
        "Clashes with another broadcast of the same priority on the same speaker cluster."
    ),
    "broadcast_finished": "The broadcast has finished or was cancelled.",
    "reason_required": "Please give the reason for stopping the emergency broadcast.",
    "reason_too_long": "The reason is too long (at most {limit} characters).",
    "user_exists": "That user name is already taken.",
    "weak_password": "The password must have at least 10 characters.",
    "bad_role": "Not a valid role.",
    "token_not_found": "Access token not found.",
    "user_not_found": "User not found.",
    "malformed_json": "The data sent is not valid JSON.",
    "invalid_request": "The data is not valid.",
    "bad_month": "Not a valid report month: choose a month as YYYY-MM, e.g. 2026-11.",
    "empty_text": "The announcement's text cannot be empty.",
    "text_too_long": "The announcement's text is too long (at most {limit} characters).",
    "empty_title": "The announcement's title cannot be empty.",
    "title_too_long": "The title is too long (at most {limit} characters).",
    "control_characters": (
        "Contains control or hidden characters that are not allowed (e.g. a text direction "
        "mark); please type this part again."
    ),
    "invisible_only": "This part has only invisible characters; please type readable words.",
    "approved_audio_missing": (
        "The announcement's approved audio file is missing; an approved announcement is not "
        "spoken again, please tell the administrator."
    ),
    "audio_not_rendered": (
        "The announcement has no audio to review yet; listen to it first, then approve."
    ),
    "relay_not_pending": "This relay is not waiting for approval.",
    "stream_target_forbidden": (
        "The source address is on the local network and cannot be used as a relay source."
    ),
    "time_without_offset": "The time must have a time zone, e.g. 2026-12-01T07:30:00+07:00.",
    "in_past": "That time has passed. Please choose a time in the future.",
    "too_far_ahead": "That time is too far ahead (at most {days} days from now).",
    "announcement_not_found": "Announcement not found.",
    "announcement_not_approved": "The announcement is not approved yet, so it cannot play.",
    "broadcast_not_found": "Broadcast not found.",
    "zone_not_found": "Area not found: {zone_ids}.",
    "no_zones": "Please choose at least one area.",
    "no_nodes": "The chosen area has no speaker cluster yet.",
    "node_not_found": "Speaker cluster not found.",
    "node_exists": "There is already a speaker cluster with the id {node_id}.",
    "join_code_invalid": "The join code is wrong: please check each character.",
    "join_code_used": "This join code has been used: ask the administrator for a new one.",
    "join_code_expired": (
        "The join code has expired (after 24 hours): ask the administrator for a new one."
    ),
    "join_code_revoked": "The join code was withdrawn: ask the administrator for a new one.",
    "join_code_not_found": "Join code not found.",
    "wheel_unavailable": (
        "The controller has no install package for speaker clusters yet (run make dist)."
    ),
    "bad_node_id": (
        "A speaker cluster's id has only lowercase letters without accents, digits and hyphens "
        "(at most 63 characters), e.g. lac-xuan-1."
    ),
    "bad_coordinates": (
        "Not valid coordinates: both latitude (−90…90) and longitude (−180…180) are needed."
    ),
    "node_revoked": "This speaker cluster's access was revoked.",
    "media_not_found": "Audio file not found.",
    "cap_alert_not_found": "No such CAP alert.",
    "cap_signing_unavailable": "The CAP signing key or certificate cannot be read.",
    "render_failed": "Could not make the spoken audio: {detail}",
    "not_found": "Page not found.",
    "login_failed": "The user name or password is wrong.",
    "csrf": "The session has expired. Reload the page and try again.",
    "stream_bad_url": "A stream address must start with http:// or https://.",
    "stream_name_required": "Please name the relay source (e.g. VOV1).",
    "stream_unreachable": "Could not connect to the stream: {detail}",
    "stream_wrong_type": "This address is not an audio stream: {detail}",
    "stream_stalled": "The stream sends no audio: {detail}",
    "announcement_changed": (
        "The announcement was edited while its audio was being made. Please try again."
    ),
    "stream_source_not_found": "Relay source not found.",
    "stream_source_unhealthy": "The source «{name}» is failing: {detail}",
    "stream_source_in_use": (
        "Not deleted: this source is still used by upcoming relays {relays}. Cancel those first."
    ),
    "bad_window": "A relay must last from {low} to {high} seconds.",
    "live_not_found": "No such live broadcast, or it has ended.",
    "live_already_connected": "This live broadcast is being sent from another browser.",
    "unknown_engine": "No such online voice service.",
    "bad_voice_setting": (
        "Not a valid value: a key cannot contain spaces, an address must start with http:// or "
        "https://."
    ),
    # the schedules package's codes (ScheduleError), one wording per code
    "bad_repeats": "The number of repeats per broadcast is out of range.",
    "bad_repeat_gap": "The pause between repeats is out of range.",
    "bad_duration": "The announcement's length must be more than 0 seconds.",
    "bad_priority": "The priority must be normal, high or emergency.",
    "bad_rrule": "The repeat rule is not valid.",
    "bad_frequency": "The frequency is not valid.",
    "no_times": "No time of day chosen.",
    "bad_time": "Not a valid time (choose hours and minutes only).",
    "bad_weekdays": "Choose at least one day of the week (only for weekly broadcasts).",
    "bad_month_days": (
        "Days of the month are 1 to 31 or the last day, chosen only when playing monthly."
    ),
    "window_empty": "The end date must be the same as or after the start date.",
    "unsupported_rrule": (
        "This repeat rule is not supported: only daily, working days, weekly and monthly."
    ),
    "too_frequent": "The broadcasts are too close together.",
    "no_occurrence": "The schedule has no broadcast within the chosen dates.",
    # CAP alerts in (controller/domain/cap_sources.py)
    "cap_source_not_found": "No such CAP alert source.",
    "cap_source_disabled": "This alert source is turned off; turn it on before sending.",
    "cap_source_bad_name": "The source's name must not be empty, at most 100 characters.",
    "cap_source_bad_url": "The source's address must start with http:// or https://.",
    "cap_source_bad_interval": "The check interval must be from {low} to {high} seconds.",
    "cap_source_bad_cert": "The certificate cannot be read (PEM expected).",
    "cap_source_cert_required": "A source that takes only signed alerts needs a certificate.",
    "cap_source_user_role": "The official a source acts as must be an approver or an admin.",
    "cap_source_has_alerts": "The source has received alerts and is kept; turn it off instead.",
    "cap_content_type": "A CAP alert must be sent as application/cap+xml or application/xml.",
    "cap_policy_empty": "The policy table needs at least one row.",
    "cap_policy_bad_value": "«{value}» is not a CAP 1.2 value.",
    "cap_policy_bad_action": "The action must be emergency, pending announcement or log only.",
    "cap_policy_bad_repeat": "The repeat interval must be from 0 to {limit} minutes.",
    "bad_admin_code": "An administrative code has only digits, letters, dots or dashes.",
    "admin_code_taken": "The administrative code «{value}» is already another area's.",
}
