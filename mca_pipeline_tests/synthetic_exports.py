"""Synthetic Spotify Extended Streaming History files, shaped like the real export.

Used where a test or benchmark needs volume (thousands to millions of plays) rather than
the hand-checked oddities of the fixtures. Deterministic for a given seed.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

_ARTISTS = [f"Artist {i:04d}" for i in range(2000)]
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def extended_plays(n: int, *, seed: int = 1, start: datetime | None = None) -> list[dict[str, object]]:
    """n plays, newer schema, about three minutes apart, a few podcast episodes among them."""
    rng = random.Random(seed)
    t = start or datetime(2019, 1, 1, tzinfo=UTC)
    plays: list[dict[str, object]] = []
    for _ in range(n):
        t += timedelta(seconds=rng.randint(60, 400))
        ms = rng.randint(1_000, 300_000)
        artist = rng.choice(_ARTISTS)
        track_id = "".join(rng.choice(_B62) for _ in range(22))
        episode = rng.random() < 0.05
        plays.append(
            {
                "ts": (t + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "platform": rng.choice(["android", "ios", "windows", "osx"]),
                "ms_played": ms,
                "conn_country": rng.choice(["GB", "DE", "US", "SE"]),
                "ip_addr": "198.51.100.23",
                "master_metadata_track_name": None if episode else f"Song {rng.randint(1, 20000)}",
                "master_metadata_album_artist_name": None if episode else artist,
                "master_metadata_album_album_name": None if episode else f"Album {rng.randint(1, 5000)}",
                "spotify_track_uri": None if episode else f"spotify:track:{track_id}",
                "episode_name": f"Episode {rng.randint(1, 300)}" if episode else None,
                "episode_show_name": f"Show {rng.randint(1, 40)}" if episode else None,
                "spotify_episode_uri": f"spotify:episode:{track_id}" if episode else None,
                "audiobook_title": None,
                "audiobook_uri": None,
                "audiobook_chapter_uri": None,
                "audiobook_chapter_title": None,
                "reason_start": rng.choice(["trackdone", "clickrow", "fwdbtn"]),
                "reason_end": rng.choice(["trackdone", "endplay", "fwdbtn"]),
                "shuffle": rng.random() < 0.5,
                "skipped": rng.random() < 0.2,
                "offline": False,
                "offline_timestamp": None,
                "incognito_mode": False,
            }
        )
    return plays


def write_extended_history(folder: Path, n: int, *, files: int = 1, seed: int = 1) -> list[Path]:
    """Split n plays over `files` files named like a real export; return their paths.
    Each file is generated on its own, so 5,000,000 plays need no more memory than one file."""
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-n // files)
    paths = []
    start = datetime(2014, 1, 1, tzinfo=UTC)
    for index in range(files):
        count = min(per_file, n - index * per_file)
        if count <= 0:
            break
        plays = extended_plays(count, seed=seed * 1000 + index, start=start + timedelta(days=120 * index))
        path = folder / f"Streaming_History_Audio_2014-2024_{index}.json"
        path.write_text(json.dumps(plays, ensure_ascii=False, indent=1), encoding="utf-8")
        paths.append(path)
    return paths


# --- the other file plugins' exports, shaped like the fixtures of each ------------------
# Minutes apart, so that a million records span years, not centuries (a timestamp
# before 1970 is no save time for Instapaper).


def _watches(n: int, seed: int) -> Iterator[tuple[datetime, str, str, str, str]]:
    """(time, video id, title, channel, channel id) of n watches, newest first, as Takeout lists them."""
    rng = random.Random(seed)
    t = datetime(2025, 1, 1, tzinfo=UTC)
    for _ in range(n):
        t -= timedelta(seconds=rng.randint(20, 600), milliseconds=rng.randint(0, 999))
        video = "".join(rng.choice(_B62) for _ in range(11))
        channel = rng.randint(1, 3000)
        yield (
            t,
            video,
            f"Video {rng.randint(1, 10**6)} about things",
            f"Channel {channel}",
            f"UC{channel:022d}",
        )


def write_takeout_json(folder: Path, n: int, *, seed: int = 1) -> Path:
    """watch-history.json of n watches (one ad in fifty, left out by the plugin)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "watch-history.json"
    with path.open("w", encoding="utf-8") as f:
        f.write("[")
        for i, (t, video, title, channel, channel_id) in enumerate(_watches(n, seed)):
            entry: dict[str, object] = {
                "header": "YouTube",
                "title": f"Watched {title}",
                "titleUrl": f"https://www.youtube.com/watch?v={video}",
                "subtitles": [{"name": channel, "url": f"https://www.youtube.com/channel/{channel_id}"}],
                "time": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
                "products": ["YouTube"],
                "activityControls": ["YouTube watch history"],
            }
            if i % 50 == 49:
                entry["details"] = [{"name": "From Google Ads"}]
            # Takeout writes the "=" of a URL as \u003d
            text = json.dumps(entry, ensure_ascii=False, indent=2).replace("?v=", "?v\\u003d")
            f.write(("," if i else "") + text)
        f.write("]")
    return path


_HTML_HEAD = '<html><head><meta charset="UTF-8"><title>History</title></head><body><div class="mdl-grid">'
_HTML_ENTRY = (
    '<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">'
    '<div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">YouTube<br></p></div>'
    '<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">Watched&nbsp;'
    '<a href="https://www.youtube.com/watch?v={video}">{title}</a><br>'
    '<a href="https://www.youtube.com/channel/{channel_id}">{channel}</a><br>{when}<br></div>'
    '<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1 mdl-typography--text-right"></div>'
    '<div class="content-cell mdl-cell mdl-cell--12-col mdl-typography--caption"><b>Products:</b><br>'
    "&emsp;YouTube<br>{details}<b>Why is this here?</b><br>&emsp;This activity was saved to your Google Account "
    "because the following settings were on:&nbsp;YouTube watch history.&nbsp;</div></div></div>"
)


def write_takeout_html(folder: Path, n: int, *, seed: int = 1) -> Path:
    """watch-history.html of the same n watches as write_takeout_json (US English, UTC),
    the same ads included."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "watch-history.html"
    with path.open("w", encoding="utf-8") as f:
        f.write(_HTML_HEAD)
        for i, (t, video, title, channel, channel_id) in enumerate(_watches(n, seed)):
            details = "<b>Details:</b><br>&emsp;From Google Ads<br>" if i % 50 == 49 else ""
            hour = t.hour % 12 or 12
            when = f"{t:%b} {t.day}, {t.year}, {hour}:{t:%M:%S}\u202f{'AM' if t.hour < 12 else 'PM'} UTC"
            f.write(
                _HTML_ENTRY.format(
                    video=video,
                    title=title,
                    channel=channel,
                    channel_id=channel_id,
                    when=when,
                    details=details,
                )
            )
        f.write("</div></body></html>")
    return path


def write_viewing_activity(folder: Path, n: int, *, seed: int = 1) -> Path:
    """Netflix ViewingActivity.csv of n rows (one trailer in twenty, left out by the plugin)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ViewingActivity.csv"
    rng = random.Random(seed)
    t = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(VIEWING_ACTIVITY_HEADER)
        for i in range(n):
            t -= timedelta(seconds=rng.randint(60, 600))
            minutes = rng.randint(1, 59)
            show = rng.randint(1, 2000)
            if i % 20 == 19:
                row = ["Alex", f"{t:%Y-%m-%d %H:%M:%S}", "00:00:06", "Autoplayed: user action: None; ",
                       f"Show {show}: Season 1 (Trailer)", "TRAILER", "Chrome PC (Cadmium)", "00:00:06",
                       "Not latest view", "DE (Germany)"]  # fmt: skip
            else:
                row = ["Alex", f"{t:%Y-%m-%d %H:%M:%S}", f"00:{minutes:02d}:10", "",
                       f"Show {show}: Season {rng.randint(1, 5)}: Part {i} (Episode {rng.randint(1, 10)})", "",
                       "Samsung 2019 UHD TV (Tizen)", f"00:{minutes:02d}:12", "Not latest view", "DE (Germany)"]  # fmt: skip
            out.writerow(row)
    return path


VIEWING_ACTIVITY_HEADER = [
    "Profile Name", "Start Time", "Duration", "Attributes", "Title", "Supplemental Video Type",
    "Device Type", "Bookmark", "Latest Bookmark", "Country",
]  # fmt: skip


def write_tiktok(folder: Path, n: int, *, seed: int = 1) -> Path:
    """user_data_tiktok.json (2024+ layout) with n videos watched."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "user_data_tiktok.json"
    rng = random.Random(seed)
    t = datetime(2025, 1, 1, tzinfo=UTC)
    videos = []
    for _ in range(n):
        t -= timedelta(seconds=rng.randint(5, 600))
        videos.append(
            {
                "Date": f"{t:%Y-%m-%d %H:%M:%S}",
                "Link": f"https://www.tiktokv.com/share/video/{rng.randint(7 * 10**18, 8 * 10**18)}/",
            }
        )
    data = {"Your Activity": {"Watch History": {"VideoList": videos}}}
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def write_instapaper(folder: Path, n: int, *, seed: int = 1) -> Path:
    """instapaper-export.csv (URL,Title,Selection,Folder,Timestamp) of n saved articles."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "instapaper-export.csv"
    rng = random.Random(seed)
    stamp = 1_735_689_600
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["URL", "Title", "Selection", "Folder", "Timestamp"])
        for i in range(n):
            stamp -= rng.randint(10, 300)
            site = rng.randint(1, 5000)
            out.writerow([f"https://site{site}.example.com/articles/{i}?utm_source=x", f"Article {i}, on things",
                          "", rng.choice(["Unread", "Archive"]), stamp])  # fmt: skip
    return path
