"""Universal tags: genre, mood, topic and language for every item, whatever its platform.

Core runs a tagger after the plugin's own Enrich, so the tagger sees the plugin's tags
(Last.fm tags on plays, TMDB genres on Netflix titles, YouTube topics on videos). Two
taggers share one protocol and one output model:

- `OfflineTagger`, the default: no network, no model download, plain rules over the
  controlled vocabulary in `vocabulary.py`;
- `LlmTagger` (`llm_tagger.py`): an OpenAI-compatible chat completions endpoint, used
  when `MCA_LLM_BASE_URL` and `MCA_LLM_MODEL` are set (`choose_tagger`).

A tagger returns one entry per item, keyed by `item_key(item)`: `UniversalTags`, or a
string saying why that item could not be tagged (one bad item never fails the batch).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

from mca_pipeline.core.enrichment import EnrichmentCache
from mca_pipeline.core.models import MediaItem, MediaType
from mca_pipeline.enrich import vocabulary
from mca_pipeline.enrich.vocabulary import Facet

#: At most this many values per facet are kept (the strongest first).
MAX_PER_FACET = {"genre": 5, "mood": 3, "topic": 3}

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
#: Language codes that say "no language" or "unknown" rather than naming one.
_NO_LANGUAGE = frozenset({"zxx", "und", "mul", "mis", "xx"})


class UniversalTags(BaseModel):
    """The universal tags of one item: canonical lower-case names from the vocabulary.

    Values are lower-cased, de-duplicated and must be canonical names (`vocabulary.py`);
    `language` is an ISO 639 code ("ja") or None when it cannot be told.
    """

    model_config = ConfigDict(frozen=True)

    genre: list[str] = []
    mood: list[str] = []
    topic: list[str] = []
    language: str | None = None

    @field_validator("genre", "mood", "topic", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return list(dict.fromkeys(" ".join(str(v).lower().split()) for v in value))
        return value

    @field_validator("genre", "mood", "topic")
    @classmethod
    def _in_vocabulary(cls, value: list[str], info: Any) -> list[str]:
        facet: Facet = info.field_name
        unknown = [v for v in value if v not in vocabulary.CANONICAL[facet]]
        if unknown:
            raise ValueError(f"not in the {facet} vocabulary: {', '.join(map(repr, unknown))}")
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower() or None
        if isinstance(value, str) and not _LANGUAGE.fullmatch(value):
            raise ValueError(f"expected an ISO 639 code such as 'en', got {value!r}")
        return value


def item_key(item: MediaItem) -> str:
    """The key of an item in a tagger's answer: unique per stored item of one user."""
    return f"{item.platform}|{item.external_id}"


@runtime_checkable
class Tagger(Protocol):
    """Something that gives items universal tags."""

    @property
    def name(self) -> str: ...

    def tag(self, ctx_cache: EnrichmentCache, items: list[MediaItem]) -> dict[str, UniversalTags | str]:
        """Tags per `item_key`; a str value is why that item could not be tagged.

        May raise EnrichmentSkipped (cannot run now; items stay pending) or
        EnrichmentFailed (the backend failed as a whole).
        """
        ...


# --- offline tagger --------------------------------------------------------------------

# YouTube video categories (snippet.categoryId) as (genres, topics).
_YOUTUBE_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "1": ((), ("film",)),
    "2": ((), ("cars",)),
    "10": ((), ("music",)),
    "15": ((), ("nature",)),
    "17": ((), ("sports",)),
    "19": ((), ("travel",)),
    "20": ((), ("gaming",)),
    "23": (("comedy",), ("comedy",)),
    "25": ((), ("news", "politics")),
    "26": ((), ("education",)),
    "27": ((), ("education",)),
    "28": ((), ("science", "technology")),
    "30": ((), ("film",)),
    "35": (("documentary",), ()),
    "44": ((), ("film",)),
}

#: Platforms whose videos are films and series (their genres are film genres).
_FILM_PLATFORMS = frozenset({"netflix"})
_FILM_GENRES = frozenset(
    {
        "action",
        "adventure",
        "animation",
        "comedy",
        "crime",
        "documentary",
        "drama",
        "family",
        "fantasy",
        "horror",
        "mystery",
        "romance",
        "science fiction",
        "thriller",
        "war",
        "western",
        "reality",
        "talk show",
    }
)

# raw_metadata keys that hold plugin tags, genres or topics (a list of names, of
# {"name": ...} objects, or of Wikipedia topic URLs), directly or under "tmdb"/"youtube".
_TAG_KEYS = ("lastfm_tags", "tmdb_genres", "genres", "genre", "topics", "topic_categories", "youtube_topics")
_LANGUAGE_KEYS = (
    "original_language",
    "tmdb_original_language",
    "default_audio_language",
    "defaultAudioLanguage",
    "default_language",
    "defaultLanguage",
    "language",
)
_NESTED = ("tmdb", "youtube", "snippet")
_CATEGORY_KEYS = ("category_id", "youtube_category_id", "categoryId")


class OfflineTagger:
    """Rule-based tags from what the item already carries; no network, no model.

    Less capable than the LLM tagger: it knows only the vocabulary's words and synonyms,
    so it tags what the platform metadata and plugin tags spell out ("dream pop" ->
    indie, calm) and cannot infer anything from a title that does not name its subject
    (an untagged song title gets no genre; a podcast titled "Episode 12" gets no topic).

    Order of evidence: plugin tags and genres (item.tags and raw_metadata) first, then
    the YouTube category, then title words (title-safe terms only: topics, and
    "documentary"-like genres), with the creator's name searched too for podcasts,
    articles and videos (a show or channel name often names its subject). Music gets the
    topic "music", films and series the topic "film". Language comes from an explicit
    hint in raw_metadata (TMDB `original_language`, YouTube `defaultAudioLanguage`),
    else from the script of title and creator: kana -> ja, Hangul -> ko, Cyrillic -> ru,
    Arabic -> ar, Han without kana -> zh, a few more; Latin script alone -> None.
    """

    name = "offline"

    def tag(self, ctx_cache: EnrichmentCache, items: list[MediaItem]) -> dict[str, UniversalTags | str]:
        out: dict[str, UniversalTags | str] = {}
        for item in items:
            try:
                out[item_key(item)] = offline_tags(item)
            except Exception as exc:  # one bad item never fails the batch
                out[item_key(item)] = f"offline tagger failed: {type(exc).__name__}: {exc}"
        return out


def offline_tags(item: MediaItem) -> UniversalTags:
    """The offline tagger's answer for one item (see OfflineTagger)."""
    raw = item.raw_metadata if isinstance(item.raw_metadata, dict) else {}
    tags = list(dict.fromkeys(t for t in [*item.tags, *_raw_tags(raw)] if t.strip()))
    found: dict[Facet, list[str]] = {"genre": [], "mood": [], "topic": []}

    for tag in tags:
        for facet in found:
            found[facet] += vocabulary.find(facet, tag)

    category = _first_text(raw, _CATEGORY_KEYS)
    if category in _YOUTUBE_CATEGORIES:
        genres, topics = _YOUTUBE_CATEGORIES[category]
        found["genre"] += genres
        found["topic"] += topics

    texts = [item.title]
    if item.type in (MediaType.PODCAST, MediaType.ARTICLE, MediaType.VIDEO) and item.creator:
        texts.append(item.creator)
    for facet in ("topic", "genre"):
        if not found[facet] and not (facet == "genre" and item.type == MediaType.MUSIC):
            for text in texts:
                found[facet] += vocabulary.find(facet, text, titles=True)

    if item.type == MediaType.MUSIC:
        found["topic"].insert(0, "music")
    elif (
        item.type == MediaType.VIDEO
        and (item.platform in _FILM_PLATFORMS or any(g in _FILM_GENRES for g in found["genre"]))
        and "music" not in found["topic"]
    ):
        found["topic"].insert(0, "film")

    return UniversalTags(
        genre=_top(found["genre"], "genre"),
        mood=_top(found["mood"], "mood"),
        topic=_top(found["topic"], "topic"),
        language=_language_hint(raw) or script_language(" ".join(filter(None, (item.title, item.creator)))),
    )


def _top(values: Iterable[str], facet: str) -> list[str]:
    return list(dict.fromkeys(values))[: MAX_PER_FACET[facet]]


def _raw_tags(raw: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for source in (raw, *(raw.get(k) for k in _NESTED)):
        if not isinstance(source, dict):
            continue
        for key in _TAG_KEYS:
            names += _names(source.get(key))
    return names


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    names = []
    for entry in value:
        if isinstance(entry, dict):
            entry = entry.get("name")
        if isinstance(entry, str) and entry.strip():
            if entry.startswith(("http://", "https://")):  # a Wikipedia topic URL
                entry = unquote(urlsplit(entry).path.rstrip("/").rsplit("/", 1)[-1]).replace("_", " ")
            names.append(entry)
    return names


def _first_text(raw: dict[str, Any], keys: Iterable[str]) -> str | None:
    keys = tuple(keys)
    for source in (raw, *(raw.get(k) for k in _NESTED)):
        if isinstance(source, dict):
            for key in keys:
                value = source.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                    return str(value).strip()
    return None


def _language_hint(raw: dict[str, Any]) -> str | None:
    value = _first_text(raw, _LANGUAGE_KEYS)
    return normalise_language(value) if value else None


def normalise_language(value: str) -> str | None:
    """ "en-US" -> "en", "zh-Hans" -> "zh"; None for "und"/"zxx" and anything not a code."""
    primary = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    if not _LANGUAGE.fullmatch(primary) or primary in _NO_LANGUAGE:
        return None
    return primary


# Unicode script of a letter, from its character name (no extra dependency).
_SCRIPTS = (
    ("HIRAGANA", "kana"),
    ("KATAKANA", "kana"),
    ("HANGUL", "hangul"),
    ("CJK", "han"),
    ("CYRILLIC", "cyrillic"),
    ("ARABIC", "arabic"),
    ("HEBREW", "hebrew"),
    ("GREEK", "greek"),
    ("THAI", "thai"),
    ("DEVANAGARI", "devanagari"),
    ("LATIN", "latin"),
)
_SCRIPT_LANGUAGE = {
    "hangul": "ko",
    "cyrillic": "ru",
    "arabic": "ar",
    "hebrew": "he",
    "greek": "el",
    "thai": "th",
    "devanagari": "hi",
}


def script_language(text: str) -> str | None:
    """The language a non-Latin script points to; None for Latin or mixed-up text.

    Any kana means Japanese (Japanese mixes kana with Han); Han alone means Chinese. The
    non-Latin script with the most letters wins; Latin letters (romanised names, "feat.")
    do not count against it.
    """
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        for prefix, script in _SCRIPTS:
            if name.startswith(prefix):
                counts[script] = counts.get(script, 0) + 1
                break
    if counts.get("kana"):
        return "ja"
    others = {s: n for s, n in counts.items() if s != "latin"}
    if not others:
        return None
    script = max(others, key=lambda s: others[s])
    return "zh" if script == "han" else _SCRIPT_LANGUAGE.get(script)
