"""Watch times as Google Takeout writes them, in any account language and time zone.

Takeout writes each watch time in the account's language with a zone abbreviation of
the account's location: "Mar 15, 2024, 6:23:45 PM GMT", "15 Mar 2024, 18:23:45 IST",
"1 avr. 2020 à 16:32:09 UTC", "15.03.2024, 18:23:45 MEZ", "2024/03/15 18:23:45 JST",
"2024. 3. 15. 오후 6:23:45 KST", "2024年3月15日 18:23:45 CST", "15 Mar 2024 18:23:45 TRT".
Nothing here is a hand-typed table of months or offsets:

- Month names (abbreviated and wide, format and stand-alone) and AM/PM words come from
  CLDR through Babel for every language Takeout writes; the date is read from its
  numbers and month word whatever the connector words ("à", "de", 年/月/日).
  Without a month word, four digits first is year-month-day (ja, ko, zh) and anything
  else is day-month-year (de "15.03.2024"); the order used is recorded.
- Zone abbreviations are resolved, in order, from (1) CLDR's localized short zone
  names (so "MEZ" and "TSİ" work, and "IST" is India, "CST" US Central, "BST" British
  Summer Time, as CLDR defines them), (2) the abbreviations in the IANA tz database's
  zone files (tzdata: "PKT", "MSK", "WIB", ...), (3) abbreviations IANA retired in 2017
  for numeric ones but Google still writes (`RETIRED_ABBREVIATIONS`, each mapped to the
  IANA zone whose offset is then used, never to a typed offset), and "GMT+03:00"-style
  offsets. Where an abbreviation still names several offsets, `PREFERRED_ZONES` decides
  (a Chinese-written date with "CST" is China). The offset is the zone's at that date,
  so daylight saving is right.
- A zone that none of these resolves does not lose the watch: it is read as UTC and
  flagged (`ZoneReading.resolved` False), so it can be told apart later.

What was assumed is returned with the time, for the item's raw_metadata.
"""

from __future__ import annotations

import importlib.resources
import re
import struct
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale
from babel.core import get_global
from babel.dates import get_month_names, get_period_names

#: The languages Takeout writes watch times in that are read here (CLDR locale ids).
LOCALES = (
    "en", "en_GB", "en_AU", "en_IN", "fr", "de", "es", "pt_BR", "pt", "it", "nl", "pl", "tr",
    "ru", "uk", "ja", "ko", "zh", "zh_Hant", "sv", "da", "nb", "fi", "cs", "hu", "ro", "id",
)  # fmt: skip

#: An abbreviation that names several offsets resolves to this zone's offset.
PREFERRED_ZONES = {
    "IST": "Asia/Kolkata",  # not Irish (IST) or Israel Standard Time
    "CST": "America/Chicago",  # not China or Cuba (China when the date is written in Chinese)
    "CDT": "America/Chicago",
    "BST": "Europe/London",  # British Summer Time, not Bangladesh
    "AST": "America/Halifax",  # Atlantic, not Arabia
    "ADT": "America/Halifax",
    "KST": "Asia/Seoul",
    "MSK": "Europe/Moscow",
    "SAST": "Africa/Johannesburg",
    "PST": "America/Los_Angeles",  # not Philippine Standard Time
    "MST": "America/Denver",
    "EST": "America/New_York",
    "HST": "Pacific/Honolulu",
    "IDT": "Asia/Jerusalem",
    "GST": "Asia/Dubai",  # Gulf, not South Georgia
}
_CHINESE_CST = "Asia/Shanghai"

#: Abbreviations the IANA database replaced with numeric ones ("+03") in 2017 that
#: Google's exports still write, each to the IANA zone it named; the offset comes from
#: the tz database for that zone at the watch's date.
RETIRED_ABBREVIATIONS = {
    "TRT": "Europe/Istanbul",
    "BRT": "America/Sao_Paulo",
    "BRST": "America/Sao_Paulo",
    "ART": "America/Argentina/Buenos_Aires",
    "CLT": "America/Santiago",
    "CLST": "America/Santiago",
    "COT": "America/Bogota",
    "PET": "America/Lima",
    "VET": "America/Caracas",
    "ECT": "America/Guayaquil",
    "BOT": "America/La_Paz",
    "PYT": "America/Asuncion",
    "UYT": "America/Montevideo",
    "ICT": "Asia/Bangkok",
    "PHT": "Asia/Manila",
    "SGT": "Asia/Singapore",
    "MYT": "Asia/Kuala_Lumpur",
    "NPT": "Asia/Kathmandu",
    "BDT": "Asia/Dhaka",
    "MMT": "Asia/Yangon",
    "AFT": "Asia/Kabul",
    "IRST": "Asia/Tehran",
    "IRDT": "Asia/Tehran",
    "UZT": "Asia/Tashkent",
    "ALMT": "Asia/Almaty",
    "AZT": "Asia/Baku",
    "GET": "Asia/Tbilisi",
    "AMT": "Asia/Yerevan",
    "KGT": "Asia/Bishkek",
    "TJT": "Asia/Dushanbe",
    "TMT": "Asia/Ashgabat",
    "ULAT": "Asia/Ulaanbaatar",
    "FJT": "Pacific/Fiji",
    "NCT": "Pacific/Noumea",
}

_UTC_NAMES = frozenset({"UTC", "GMT", "Z", "UT"})
_SPACES = re.compile(r"\s+")
# 16:32:09, 16.32.09 (da, fi, id), 4시 32분 9초 (ko), 16時32分9秒; never a date's "15.03.20".
_TIME = re.compile(
    r"(?<![\d.:])(\d{1,2})[:.](\d{2})[:.](\d{2})(?![\d.:])"
    r"|(\d{1,2})\s*[시時]\s*(\d{1,2})\s*[분分]\s*(\d{1,2})\s*[초秒]"
)
_TOKENS = re.compile(r"\d+|[^\W\d_]+\.?")
_ZONE = re.compile(
    r"(?P<name>[^\W\d_]{1,6})?\s*(?:(?P<sign>[+\-\u2212])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)?", re.UNICODE
)
_CJK_DATE = re.compile(r"[年月日]")


@dataclass(frozen=True)
class ZoneReading:
    """How a written zone was read: for raw_metadata, so a person can check it."""

    written: str
    offset: timedelta
    zone: str | None
    source: str  # utc | offset | cldr | iana | retired | preferred | unresolved
    resolved: bool = True

    def as_metadata(self) -> dict[str, object]:
        return {
            "written": self.written,
            "offset": _format_offset(self.offset),
            "zone": self.zone,
            "source": self.source,
            "resolved": self.resolved,
        }


@dataclass(frozen=True)
class TakeoutTime:
    at: datetime  # UTC
    zone: ZoneReading
    date_order: str  # "month name" | "Y-M-D" | "D-M-Y"


def parse_takeout_time(text: str) -> TakeoutTime:
    """A watch time as Takeout writes it, in UTC; ValueError says what is wrong."""
    clean = _SPACES.sub(" ", text).strip()
    found = next(iter(reversed(list(_TIME.finditer(clean)))), None)  # the time follows the date
    if found is None:
        raise ValueError(f"no time of day (H:MM:SS) in {clean!r}")
    hour, minute, second = (int(g) for g in found.groups() if g is not None)
    before, after = clean[: found.start()], clean[found.end() :]
    period, before, after = _period(before, after)
    if period is not None:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} is not a 12-hour clock hour in {clean!r}")
        hour = hour % 12 + (12 if period == "pm" else 0)
    year, month, day, order = _date(before, clean)
    try:
        local = datetime(year, month, day, hour, minute, second)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"impossible date or time in {clean!r}: {exc}") from None
    zone = _zone_at(after.strip(" ,"), local, chinese=bool(_CJK_DATE.search(before)))
    try:
        at = (local - zone.offset).replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError(f"{clean!r} is outside the calendar in UTC") from None
    return TakeoutTime(at=at, zone=zone, date_order=order)


def month_numbers() -> dict[str, int]:
    """The month names parse_takeout_time knows (lower case, no trailing dot), by number."""
    return dict(_month_names())


def english_day(
    period_word: str, zone: str, year: int, month: int, day: int
) -> tuple[bool | None, ZoneReading] | None:
    """How parse_takeout_time reads every time of one day written in the columnar path's
    English forms, "Jan 13, 2024, 4:16:16 PM TRT" (period word "PM", zone "TRT") and
    "29 Nov 2021, 18:06:16 AEDT" (no period word): whether the times are PM (None for a
    24-hour time) and the zone's reading. None where it reads them otherwise: the word
    is no AM/PM word, or is one with the zone, or the zone's reading changes that day."""
    periods = _periods()
    if period_word:
        if _period_key(period_word + zone) in periods or _period_key(period_word) not in periods:
            return None
        pm: bool | None = periods[_period_key(period_word)] == "pm"
    else:
        if _period_key(zone) in periods or _period_key(f"{year},") in periods:
            return None
        pm = None
    try:
        reading = _day_zone(zone, date(year, month, day), chinese=False)
    except ValueError:
        return None
    return None if reading is None else (pm, reading)


# --- date ------------------------------------------------------------------------------


@cache
def _month_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for locale in LOCALES:
        for width in ("abbreviated", "wide"):
            for context in ("format", "stand-alone"):
                for number, name in get_month_names(width, context, locale).items():
                    key = name.lower().rstrip(".").strip()
                    if key and not any(ch.isdigit() for ch in key):
                        names[key] = number
    names["sept"] = 9
    return names


def _date(before: str, clean: str) -> tuple[int, int, int, str]:
    months = _month_names()
    numbers: list[str] = []
    month: int | None = None
    for token in _TOKENS.findall(before):
        if token[0].isdigit():
            numbers.append(token)
        elif month is None:
            month = months.get(token.lower().rstrip("."))
    if month is not None:
        if len(numbers) != 2:
            raise ValueError(f"expected a day and a year beside the month in {clean!r}")
        first, second = numbers
        day, year = (second, first) if len(first) == 4 else (first, second)
        return _year(year), month, int(day), "month name"
    if len(numbers) != 3:
        raise ValueError(f"not a date with a day, month and year in {clean!r}")
    if len(numbers[0]) == 4:
        return int(numbers[0]), int(numbers[1]), int(numbers[2]), "Y-M-D"
    return _year(numbers[2]), int(numbers[1]), int(numbers[0]), "D-M-Y"


def _year(text: str) -> int:
    """A two-digit year is this century's ("24"); "0001" is year 1, not 2001."""
    value = int(text)
    return value + 2000 if len(text) <= 2 else value


@cache
def _periods() -> dict[str, str]:
    words: dict[str, str] = {}
    for locale in LOCALES:
        for width in ("abbreviated", "wide", "narrow"):
            names = get_period_names(width, "format", locale)
            for key in ("am", "pm"):
                if key in names:
                    words[_period_key(names[key])] = key
    return words


def _period_key(word: str) -> str:
    return word.lower().replace(".", "").replace(" ", "")


def _period(before: str, after: str) -> tuple[str | None, str, str]:
    """AM/PM in any language, after the time ("6:23:45 PM", "p. m.") or before it
    ("오후 6:23:45", "下午4:32:09"); only whole words count, so "MSK" is no "M"."""
    periods = _periods()
    words = after.split()
    for count in (2, 1):
        if len(words) >= count and (key := _period_key("".join(words[:count]))) in periods:
            return periods[key], before, " ".join(words[count:])
    head = before.rstrip()
    for word in (head.rsplit(" ", 1)[-1], *_cjk_period(head)):
        if word and _period_key(word) in periods:
            return periods[_period_key(word)], head[: len(head) - len(word)], after
    return None, before, after


def _cjk_period(head: str) -> tuple[str, ...]:
    """Periods written without a space before the time ("日 下午4:32:09" has one; "日下午" not)."""
    return tuple(head[-n:] for n in (2, 1) if len(head) >= n and not head[-n:].isascii())


# --- zone ------------------------------------------------------------------------------


def _zone_at(text: str, local: datetime, *, chinese: bool) -> ZoneReading:
    """_zone, read once per zone and day where it reads the whole day alike: a history
    of a million watches holds a few thousand days, and reading a zone is most of the
    time a watch time takes."""
    reading = _day_zone(text, local.date(), chinese=chinese)
    return reading if reading is not None else _zone(text, local, chinese=chinese)


@lru_cache(maxsize=1 << 14)
def _day_zone(text: str, day: date, *, chinese: bool) -> ZoneReading | None:
    """The zone's reading on `day` when it is the same at the day's start, noon and end;
    None on a day it changes (where a zone's clocks change: read per time). A reading
    changes only where some zone's offset or name does, and none does so twice a day."""
    start = datetime.combine(day, time())
    readings = {
        _zone(text, start.replace(hour=h, minute=m, second=s), chinese=chinese) for h, m, s in _DAY_SAMPLES
    }
    return readings.pop() if len(readings) == 1 else None


_DAY_SAMPLES = ((0, 0, 0), (12, 0, 0), (23, 59, 59))


def _zone(text: str, local: datetime, *, chinese: bool) -> ZoneReading:
    match = _ZONE.fullmatch(text)
    if not text or match is None:
        return ZoneReading(text, timedelta(0), None, "unresolved", resolved=False)
    name = match["name"] or ""
    extra = timedelta(0)
    if match["sign"]:
        extra = timedelta(hours=int(match["h"]), minutes=int(match["m"] or 0))
        extra = -extra if match["sign"] in "-\u2212" else extra
    if not name or name.upper() in _UTC_NAMES:
        return ZoneReading(text, extra, None, "offset" if match["sign"] else "utc")
    reading = _abbreviation(name, local, chinese=chinese)
    if match["sign"] and reading.resolved:
        return ZoneReading(text, reading.offset + extra, reading.zone, reading.source)
    return ZoneReading(text, reading.offset, reading.zone, reading.source, reading.resolved)


def _abbreviation(name: str, local: datetime, *, chinese: bool) -> ZoneReading:
    upper = name.upper()
    if chinese and upper == "CST":
        return _in_zone(name, _CHINESE_CST, local, "preferred")
    cldr = _cldr_names().get(name) or _cldr_names().get(upper)
    if cldr is not None:
        return _in_metazone(name, cldr, local)
    offsets = _iana_offsets(upper, local)
    if (
        upper in PREFERRED_ZONES
        and (len(offsets) != 1 or PREFERRED_ZONES[upper] in offsets)
        and (offsets or upper in _iana_abbreviations())
    ):
        return _in_zone(name, PREFERRED_ZONES[upper], local, "preferred")
    if offsets:
        zone = sorted(offsets)[0]
        return ZoneReading(name, offsets[zone], zone, "iana")
    if upper in RETIRED_ABBREVIATIONS:
        return _in_zone(name, RETIRED_ABBREVIATIONS[upper], local, "retired")
    if zones := _iana_abbreviations().get(upper):
        return _in_zone(name, PREFERRED_ZONES.get(upper, zones[0]), local, "iana")
    return ZoneReading(name, timedelta(0), None, "unresolved", resolved=False)


def _in_zone(name: str, zone: str, local: datetime, source: str) -> ZoneReading:
    """The zone's offset under that name: "CST" is Chicago's standard time even when a
    summer date is written with it; the date's own offset when the zone never used it."""
    zone_info = _zoneinfo(zone)
    for moved in _same_year(local):
        aware = moved.replace(tzinfo=zone_info)
        if aware.tzname() == name.upper() and (offset := aware.utcoffset()) is not None:
            return ZoneReading(name, offset, zone, source)
    return ZoneReading(name, local.replace(tzinfo=zone_info).utcoffset() or timedelta(0), zone, source)


def _same_year(local: datetime) -> tuple[datetime, ...]:
    """The time itself, then midwinter and midsummer of its year: where a zone's standard
    and daylight names are both in use."""
    return local, local.replace(month=1, day=15), local.replace(month=7, day=15)


def _in_metazone(name: str, names: tuple[str, tuple[str, ...]], local: datetime) -> ZoneReading:
    """A CLDR name is a metazone's standard or daylight (or generic) time: the offset
    most of its zones have at that date in that kind of time."""
    kind, zones = names
    preferred = PREFERRED_ZONES.get(name.upper())
    if preferred in zones:
        return _in_zone(name, preferred, local, "cldr")
    counts: dict[timedelta, list[str]] = {}
    for moved in _same_year(local):
        for zone in zones:
            aware = moved.replace(tzinfo=_zoneinfo(zone))
            daylight = bool(aware.dst())
            if kind == "generic" or daylight == (kind == "daylight"):
                counts.setdefault(aware.utcoffset() or timedelta(0), []).append(zone)
        if counts:
            break
    if not counts:
        return _in_zone(name, zones[0], local, "cldr")
    offset, members = max(counts.items(), key=lambda item: len(item[1]))
    return ZoneReading(name, offset, _representative(name, members, local), "cldr")


def _representative(name: str, zones: list[str], local: datetime) -> str:
    """The zone to record for a metazone: one that itself calls that time `name`, and a
    populated one (not an Antarctic station) when there is a choice."""

    def rank(zone: str) -> tuple[bool, bool, str]:
        called = local.replace(tzinfo=_zoneinfo(zone)).tzname() == name.upper()
        return (not called, zone.startswith(("Antarctica/", "Arctic/", "Etc/")), zone)

    return min(zones, key=rank)


@cache
def _zoneinfo(zone: str) -> tzinfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@cache
def _cldr_names() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Short zone names of every CLDR metazone in every locale: (kind, its zones)."""
    zones_of: dict[str, list[str]] = {}
    for zone, metazone in get_global("meta_zones").items():
        zones_of.setdefault(metazone, []).append(zone)
    known = available_timezones()
    names: dict[str, tuple[str, tuple[str, ...]]] = {}
    for locale in LOCALES:
        for metazone, widths in Locale.parse(locale).meta_zones.items():
            zones = tuple(sorted(z for z in zones_of.get(metazone, []) if z in known))
            for kind, written in widths.get("short", {}).items():
                if not zones or written.upper().startswith(("GMT", "UTC")):
                    continue
                # A name that is some locale's standard or daylight time means that one.
                if written not in names or (names[written][0] == "generic" and kind != "generic"):
                    names[written] = (kind, zones)
    return names


@cache
def _iana_abbreviations() -> dict[str, tuple[str, ...]]:
    """Every alphabetic abbreviation in the tz database's zone files, to its zones."""
    found: dict[str, set[str]] = {}
    root = importlib.resources.files("tzdata.zoneinfo")
    for zone in available_timezones():
        try:
            data = root.joinpath(*zone.split("/")).read_bytes()
        except (OSError, ValueError):
            continue
        for abbreviation in _tzif_abbreviations(data):
            found.setdefault(abbreviation, set()).add(zone)
    return {name: tuple(sorted(zones)) for name, zones in found.items()}


def _tzif_abbreviations(data: bytes) -> set[str]:
    """The abbreviations of a TZif file (RFC 8536), read from its version-2 block."""
    if data[:4] != b"TZif":
        return set()
    header = struct.Struct(">6l")
    isut, isstd, leap, times, types, chars = header.unpack_from(data, 20)
    start = 44 + times * 5 + types * 6 + chars + leap * 8 + isstd + isut
    if data[4:5] >= b"2" and data[start : start + 4] == b"TZif":
        isut, isstd, leap, times, types, chars = header.unpack_from(data, start + 20)
        table = start + 44 + times * 9
    else:
        table = 44 + times * 5
    text = data[table + types * 6 : table + types * 6 + chars]
    names = {part.decode("ascii", "replace") for part in text.split(b"\0") if part}
    return {name for name in names if name.isalpha()}


def _iana_offsets(name: str, local: datetime) -> dict[str, timedelta]:
    """Offsets of the zones that called that local time `name`, one zone per offset."""
    return dict(_iana_offsets_on(name, local.replace(minute=0, second=0)))


@cache
def _iana_offsets_on(name: str, local: datetime) -> tuple[tuple[str, timedelta], ...]:
    by_offset: dict[timedelta, str] = {}
    for zone in _iana_abbreviations().get(name, ()):
        aware = local.replace(tzinfo=_zoneinfo(zone))
        offset = aware.utcoffset()
        if (
            aware.tzname() == name
            and offset is not None
            and (offset not in by_offset or zone == PREFERRED_ZONES.get(name))
        ):
            by_offset[offset] = zone
    return tuple((zone, offset) for offset, zone in by_offset.items())


def _format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
