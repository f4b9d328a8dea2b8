"""Synthetic Spotify Extended Streaming History files, shaped like the real export.

Used where a test or benchmark needs volume (thousands to millions of plays) rather than
the hand-checked oddities of the fixtures. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
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
    """Split n plays over `files` files named like a real export; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    plays = extended_plays(n, seed=seed)
    per_file = -(-n // files)
    paths = []
    for index in range(files):
        chunk = plays[index * per_file : (index + 1) * per_file]
        path = folder / f"Streaming_History_Audio_2019-2024_{index}.json"
        path.write_text(json.dumps(chunk, ensure_ascii=False, indent=1), encoding="utf-8")
        paths.append(path)
    return paths
