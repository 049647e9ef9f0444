"""Events as iCalendar (.ics) for staff's calendars, with icalendar (imported when a calendar is
made or read: 3 MB the running bot otherwise does not need)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from bot.domain.events.views import EventView

PRODID = "-//peerdesk//vertaistuki//FI"


def calendar(events: Iterable[EventView], name: str = "peerdesk") -> bytes:
    """One calendar with every given event; UIDs are stable, so a re-import updates them."""
    from icalendar import Calendar
    from icalendar import Event as CalendarEvent

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    stamp = datetime.now(UTC)
    for event in events:
        entry = CalendarEvent()
        entry.add("uid", f"event-{event.id}@peerdesk")
        entry.add("dtstamp", stamp)
        entry.add("dtstart", event.starts_at)
        entry.add("dtend", event.ends_at)
        entry.add("summary", event.title)
        details = [event.description] if event.description else []
        if event.link:
            details.append(event.link)
            entry.add("url", event.link)
        if event.pre_reading and event.pre_reading.startswith("http"):
            details.append(event.pre_reading)
        if details:
            entry.add("description", "\n\n".join(details))
        if event.place:
            entry.add("location", event.place)
        entry.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
        entry.add("sequence", event.version)
        cal.add_component(entry)
    return cal.to_ical()


def read_events(data: bytes) -> list[dict]:
    """Events from an .ics file as plain fields for an EventSpec (kind, channels and language
    come from the importer)."""
    from icalendar import Calendar

    found = []
    for component in Calendar.from_ical(data).walk("VEVENT"):
        start, end = component.decoded("dtstart"), component.decoded("dtend", None)
        if not isinstance(start, datetime):
            continue  # all-day entries are not sessions
        url = str(component.get("url") or "") or None
        found.append({
            "title": str(component.get("summary") or "").strip(),
            "description": str(component.get("description") or "").strip(),
            "start": start, "end": end if isinstance(end, datetime) else start,
            "place": str(component.get("location") or "").strip() or None,
            "link": url,
            "rrule": _text(component["rrule"].to_ical()) if component.get("rrule") else None,
        })
    return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
