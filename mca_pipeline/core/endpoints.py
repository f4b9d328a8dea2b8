"""Where each platform is reached: base URLs from documented environment variables.

The defaults are the real platforms. A deployment points one elsewhere (a recording
proxy, a regional endpoint, a local test double for a soak test of the real deployment)
by setting its variable; it is read when a plugin or an enrichment is built, so the
daemon, the runs and the web app of one environment agree.

| variable | default | used for |
|---|---|---|
| MCA_SPOTIFY_API_URL | https://api.spotify.com | Spotify Web API |
| MCA_SPOTIFY_ACCOUNTS_URL | https://accounts.spotify.com | Spotify authorize and token |
| MCA_LASTFM_API_URL | https://ws.audioscrobbler.com | Last.fm plugin and tags |
| MCA_LISTENBRAINZ_API_URL | https://api.listenbrainz.org | ListenBrainz |
| MCA_YOUTUBE_API_URL | https://www.googleapis.com/youtube/v3 | YouTube plugin and video details |
| MCA_GOOGLE_OAUTH_URL | https://accounts.google.com | Google consent page |
| MCA_GOOGLE_TOKEN_URL | https://oauth2.googleapis.com | Google token and revocation |
| MCA_TMDB_API_URL | https://api.themoviedb.org/3 | TMDB |
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

SPOTIFY_API = ("MCA_SPOTIFY_API_URL", "https://api.spotify.com")
SPOTIFY_ACCOUNTS = ("MCA_SPOTIFY_ACCOUNTS_URL", "https://accounts.spotify.com")
LASTFM_API = ("MCA_LASTFM_API_URL", "https://ws.audioscrobbler.com")
LISTENBRAINZ_API = ("MCA_LISTENBRAINZ_API_URL", "https://api.listenbrainz.org")
YOUTUBE_API = ("MCA_YOUTUBE_API_URL", "https://www.googleapis.com/youtube/v3")
GOOGLE_OAUTH = ("MCA_GOOGLE_OAUTH_URL", "https://accounts.google.com")
GOOGLE_TOKEN = ("MCA_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com")
TMDB_API = ("MCA_TMDB_API_URL", "https://api.themoviedb.org/3")


class EndpointError(ValueError):
    """A base-URL variable that is not an http(s) URL: refused, not silently ignored."""


def base_url(endpoint: tuple[str, str]) -> str:
    """The endpoint's base URL: its variable when set, else the real platform's; no
    trailing slash."""
    env, default = endpoint
    value = os.environ.get(env, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EndpointError(f"{env} must be an http(s) URL, not {value!r}")
    return value.rstrip("/")
