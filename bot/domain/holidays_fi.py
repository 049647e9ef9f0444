"""Finland's public holidays from the `holidays` library, run as a child process.

Usage: `python -m bot.domain.holidays_fi FIRST LAST` prints, as JSON, each language's holidays
of the years FIRST..LAST: `{"fi": {"2026-01-01": "Uudenvuodenpäivä", …}, "sv": …, "en": …}`.

The library imports every country it knows (about 300 modules, 11 MB) to give one country's
days; bot.domain.schoolyear asks this child once a decade of years and keeps only the answer, so
the serving bot holds the days and names and not the library.
"""

from __future__ import annotations

import json
import sys

import holidays

COUNTRY = "FI"
LANGUAGES = {"fi": "fi", "sv": "sv_FI", "en": "en_US"}  # ours → the library's


def table(first: int, last: int) -> dict[str, dict[str, str]]:
    """Each language's holidays of the years, ISO dates to names (Christmas and Midsummer Eve
    included: nobody is at work)."""
    years = range(first, last + 1)
    return {ours: {day.isoformat(): name for day, name in sorted(holidays.country_holidays(
                COUNTRY, years=years, language=theirs).items())}
            for ours, theirs in LANGUAGES.items()}


if __name__ == "__main__":
    print(json.dumps(table(int(sys.argv[1]), int(sys.argv[2])), ensure_ascii=False))
