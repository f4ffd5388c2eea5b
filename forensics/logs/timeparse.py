"""Timestamps of text logs: month names, missing years, naive local times.

RFC 3164 syslog carries no year and usually no zone. The year comes from, in
order: `options["year"]` (the year of the first line; later lines roll over
when the month goes backwards, Dec -> Jan), else a reference date (the
acquisition date in `options["acquired_at"]`, else the file's mtime): each line
gets the latest year that does not put it after the reference, which also
handles a log spanning New Year. Naive times are read in `options["timezone"]`
(IANA name, default UTC); the original text is kept by the parsers.
"""
from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DAY_US = 86_400_000_000


def month_number(name: str) -> int:
    return MONTHS.get(name[:3].lower(), 0)


def utc_us(y: int, mo: int, d: int, h: int, mi: int, s: int, us: int = 0) -> int:
    """Microseconds since the epoch of a UTC wall time (raises ValueError on an impossible date)."""
    if not (h < 24 and mi < 60 and s < 61):
        raise ValueError("impossible time")
    return _day_us(y, mo, d) + ((h * 60 + mi) * 60 + s) * 1_000_000 + us


@lru_cache(maxsize=8192)
def _day_us(y: int, mo: int, d: int) -> int:
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]):
        raise ValueError("impossible date")
    return calendar.timegm((y, mo, d, 0, 0, 0, 0, 0, 0)) * 1_000_000


@lru_cache(maxsize=4096)
def _offset_us(zone: str, y: int, mo: int, d: int, h: int) -> int:
    # The UTC offset is constant within an hour except at DST changes, where
    # zoneinfo's fold=0 picks the first occurrence, as most log readers do.
    dt = datetime(y, mo, d, h, 30, tzinfo=ZoneInfo(zone))
    off = dt.utcoffset() or timedelta(0)
    return int(off.total_seconds()) * 1_000_000


class Clock:
    """Turns wall-clock fields of one file into UTC microseconds."""

    def __init__(self, zone: str = "UTC", year: int | None = None, reference_us: int | None = None):
        ZoneInfo(zone)  # raises on an unknown name before any line is read
        self.zone = zone
        self._utc = zone in ("UTC", "Etc/UTC", "GMT", "Z")
        self.fixed_year = year
        self.reference_us = reference_us
        self._year = year
        self._last_month = 0
        self._ref_year = datetime.fromtimestamp(reference_us / 1e6, tz=timezone.utc).year if reference_us else None
        # "Mmm dd hh:mm:ss" -> (month, day, h, m, s) or None; and (year, text) -> UTC us. Syslog
        # lines arrive many per second, so each distinct second is converted once.
        self._fields: dict[str, tuple[int, int, int, int, int] | None] = {}
        self._seconds: dict[tuple[int | None, str], tuple[int, int]] = {}

    @classmethod
    def from_options(cls, options: dict, mtime: float | None = None) -> "Clock":
        zone = options.get("timezone") or "UTC"
        year = options.get("year")
        ref = None
        acq = options.get("acquired_at")
        if acq:
            a = datetime.fromisoformat(str(acq).replace("Z", "+00:00"))
            if a.tzinfo is None:
                a = a.replace(tzinfo=timezone.utc)
            if len(str(acq)) <= 10:  # a bare date: the whole day counts
                a += timedelta(days=1)
            ref = int(a.timestamp() * 1_000_000)
        elif mtime is not None:
            ref = int(mtime * 1_000_000)
        return cls(zone, int(year) if year else None, ref)

    def local(self, y: int, mo: int, d: int, h: int, mi: int, s: int, us: int = 0) -> int:
        """A naive wall time in the file's zone, to UTC microseconds."""
        t = utc_us(y, mo, d, h, mi, s, us)
        if self._utc:
            return t
        return t - _offset_us(self.zone, y, mo, d, h)

    def yearless(self, mo: int, d: int, h: int, mi: int, s: int, us: int = 0) -> tuple[int, int]:
        """(UTC microseconds, inferred year) for a month-day time without a year."""
        if self.fixed_year is not None:
            if self._last_month and mo < self._last_month - 5:  # Dec -> Jan: a new year began
                self._year += 1
            self._last_month = mo
            y = self._year
        elif self.reference_us is not None:
            y = self._ref_year
            # a day of slack for zone differences between the log and the reference
            if (mo, d) == (2, 29):
                while not calendar.isleap(y):
                    y -= 1
            t = self.local(y, mo, d, h, mi, s, us)
            if t > self.reference_us + _DAY_US:
                y -= 1
                if (mo, d) == (2, 29):
                    while not calendar.isleap(y):
                        y -= 1
        else:
            y = datetime.now(timezone.utc).year  # pragma: no cover - mtime is always known
        return self.local(y, mo, d, h, mi, s, us), y

    def yearless_text(self, text: str) -> tuple[int, int] | None:
        """`yearless` for a 15-character "Mmm dd hh:mm:ss" (whole seconds), cached per second.

        None when the text is not in exactly that layout (the caller's regex decides
        then); raises ValueError like `yearless` for an impossible date.
        """
        f = self._fields.get(text, False)
        if f is False:
            f = _seconds_fields(text)
            if len(self._fields) >= _CACHE_MAX:
                self._fields.clear()
            self._fields[text] = f
        if f is None:
            return None
        if self.fixed_year is not None:
            # the rollover bookkeeping of `yearless` runs for every line, cached or not
            mo = f[0]
            if self._last_month and mo < self._last_month - 5:
                self._year += 1
            self._last_month = mo
            key = (self._year, text)
        elif self.reference_us is not None:
            key = (None, text)  # the inferred year depends on the text alone
        else:  # pragma: no cover - mtime is always known
            return self.yearless(*f)
        hit = self._seconds.get(key)
        if hit is None:
            if self.fixed_year is not None:
                hit = (self.local(self._year, *f), self._year)
            else:
                hit = self.yearless(*f)
            if len(self._seconds) >= _CACHE_MAX:
                self._seconds.clear()
            self._seconds[key] = hit
        return hit


_CACHE_MAX = 100_000
_DAYTIME = re.compile(r"([A-Z][a-z]{2}) (?: (\d)|(\d\d)) (\d\d):(\d\d):(\d\d)")


def _seconds_fields(text: str) -> tuple[int, int, int, int, int] | None:
    m = _DAYTIME.fullmatch(text)
    if not m:
        return None
    mo = month_number(m.group(1))
    if not mo:
        return None
    return mo, int(m.group(2) or m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6))


def parse_offset(text: str) -> int:
    """'+0200', '+02:00', 'Z' -> offset in microseconds."""
    if text in ("Z", "z", ""):
        return 0
    sign = -1 if text[0] == "-" else 1
    t = text[1:].replace(":", "")
    return sign * (int(t[:2]) * 3600 + int(t[2:4] or 0) * 60) * 1_000_000


def parse_iso(text: str, clock: Clock) -> int:
    """ISO 8601 / RFC 3339 with optional fraction and offset; naive means the file's zone."""
    t = text.strip()
    date, _, rest = t.replace(" ", "T", 1).partition("T")
    y, mo, d = int(date[0:4]), int(date[5:7]), int(date[8:10])
    if not rest:
        return clock.local(y, mo, d, 0, 0, 0)
    off = None
    for i in range(8, len(rest)):
        if rest[i] in "Zz+-":
            off = rest[i:]
            rest = rest[:i]
            break
    h, mi, s = int(rest[0:2]), int(rest[3:5]), int(rest[6:8] or 0)
    frac = rest[9:] if len(rest) > 8 and rest[8] in ".," else ""
    us = int((frac + "000000")[:6]) if frac else 0
    if off is None:
        return clock.local(y, mo, d, h, mi, s, us)
    return utc_us(y, mo, d, h, mi, s, us) - parse_offset(off)
