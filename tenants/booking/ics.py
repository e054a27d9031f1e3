"""An order's visit as an iCalendar file (RFC 5545): one VEVENT, the ticket page in it.

Written by hand: one event needs a few lines, and the rules that matter are
small ones — CRLF line ends, text escaping, and folding lines at 75 octets
without splitting a UTF-8 character (Chinese names are three bytes a character).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

LINE_OCTETS = 75


def escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Split a content line into 75-octet pieces, continued with CRLF and a space."""
    pieces: list[str] = []
    current = ""
    size = 0
    limit = LINE_OCTETS
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            pieces.append(current)
            current, size = "", 0
            limit = LINE_OCTETS - 1  # a continuation line starts with the space
        current += char
        size += width
    pieces.append(current)
    return "\r\n ".join(pieces)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Visit:
    uid: str
    summary: str
    description: str
    url: str
    location: str
    day: date
    start: datetime | None = None  # timezone-aware; None for an all-day visit
    end: datetime | None = None
    status: str = "CONFIRMED"  # CONFIRMED, TENTATIVE or CANCELLED


def calendar_text(visit: Visit, stamp: datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Vistapass//Booking//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{escape(visit.uid)}",
        f"DTSTAMP:{_utc(stamp)}",
    ]
    if visit.start is not None and visit.end is not None:
        lines += [f"DTSTART:{_utc(visit.start)}", f"DTEND:{_utc(visit.end)}"]
    else:
        following = visit.day + timedelta(days=1)
        lines += [
            f"DTSTART;VALUE=DATE:{visit.day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{following:%Y%m%d}",
        ]
    lines += [
        f"SUMMARY:{escape(visit.summary)}",
        f"DESCRIPTION:{escape(visit.description)}",
        f"URL:{visit.url}",
        f"STATUS:{visit.status}",
    ]
    if visit.location:
        lines.append(f"LOCATION:{escape(visit.location)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
