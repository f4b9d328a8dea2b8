"""The offline tagger, the vocabulary and the tagger choice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from mca_pipeline.core import MediaItem
from mca_pipeline.core.enrichment import EnrichmentCache
from mca_pipeline.enrich import vocabulary
from mca_pipeline.enrich.llm_tagger import LlmTagger
from mca_pipeline.enrich.tagger_choice import choose_tagger
from mca_pipeline.enrich.universal_tags import (
    OfflineTagger,
    Tagger,
    UniversalTags,
    item_key,
    script_language,
)

WHEN = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


def item(**fields: Any) -> MediaItem:
    fields.setdefault("external_id", f"id-{fields['title']}")
    return MediaItem(consumed_at=WHEN, **fields)


SPOTIFY_PLAY = item(
    platform="spotify",
    type="music",
    title="Lantern Street",
    creator="Marla Venn",
    tags=("dream pop", "indie"),
    raw_metadata={
        "lastfm_tags": [{"name": "dream pop", "count": 100}, {"name": "indie", "count": 41}],
        "lastfm_tags_source": "track",
    },
)
NETFLIX_EPISODE = item(
    platform="netflix",
    type="video",
    title="The Glass Orchard: Season 1: The Harvest (Episode 4)",
    tags=("Drama", "Mystery"),
    raw_metadata={"series": "The Glass Orchard", "season": "Season 1", "original_language": "en"},
)
YOUTUBE_VIDEO = item(
    platform="youtube",
    type="video",
    title="How does a CPU cache work?",
    creator="Branch Education",
    tags=("Technology",),
    raw_metadata={
        "video_id": "aB3dE5fG7hJ",
        "category_id": "28",
        "topic_categories": ["https://en.wikipedia.org/wiki/Technology"],
    },
)
JAPANESE_SONG = item(platform="spotify_export", type="music", title="夜に駆ける", creator="YOASOBI")
COOKING_PODCAST = item(
    platform="spotify_export",
    type="podcast",
    title="Salt, fat and a weeknight pasta",
    creator="The Home Cooking Hour",
)


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        # "dream pop" is an indie style and a calm one; "indie" says indie again.
        (SPOTIFY_PLAY, UniversalTags(genre=["indie"], mood=["calm"], topic=["music"], language=None)),
        # TMDB genres as they are; a Netflix title is film/tv; TMDB says English.
        (NETFLIX_EPISODE, UniversalTags(genre=["drama", "mystery"], mood=[], topic=["film"], language="en")),
        # The topic tag, then category 28 "Science & Technology"; Latin title -> no language.
        (YOUTUBE_VIDEO, UniversalTags(genre=[], mood=[], topic=["technology", "science"], language=None)),
        # No tags at all: music by type, Japanese by the kana in the title.
        (JAPANESE_SONG, UniversalTags(genre=[], mood=[], topic=["music"], language="ja")),
        # The show's name says what it is about.
        (COOKING_PODCAST, UniversalTags(genre=[], mood=[], topic=["cooking"], language=None)),
    ],
    ids=["spotify-lastfm", "netflix-tmdb", "youtube-topic", "japanese", "podcast"],
)
def test_offline_tags_of_realistic_items(media: MediaItem, expected: UniversalTags) -> None:
    answer = OfflineTagger().tag(EnrichmentCache(), [media])
    assert answer == {item_key(media): expected}


def test_offline_tagger_makes_no_lookups_and_keys_every_item() -> None:
    cache = EnrichmentCache()
    items = [SPOTIFY_PLAY, NETFLIX_EPISODE, YOUTUBE_VIDEO, JAPANESE_SONG, COOKING_PODCAST]
    answer = OfflineTagger().tag(cache, items)
    assert list(answer) == [f"{i.platform}|{i.external_id}" for i in items]
    assert (cache.calls, cache.hits, cache.misses) == (0, 0, 0)
    assert isinstance(OfflineTagger(), Tagger)


def test_synonyms_and_multi_genre_tags() -> None:
    media = item(
        platform="lastfm",
        type="music",
        title="Run the Block",
        creator="DJ Kettle",
        tags=("Hip-Hop", "rap", "chill", "Electronica", "seen live", "female vocalists"),
    )
    tags = OfflineTagger().tag(EnrichmentCache(), [media])[item_key(media)]
    assert tags == UniversalTags(genre=["hip hop", "electronic"], mood=["calm"], topic=["music"])


def test_tmdb_tv_genres_split_into_both_genres() -> None:
    media = item(
        platform="netflix", type="video", title="Orbit Nine", tags=("Sci-Fi & Fantasy", "Action & Adventure")
    )
    tags = OfflineTagger().tag(EnrichmentCache(), [media])[item_key(media)]
    assert tags.genre == ["science fiction", "fantasy", "action", "adventure"]
    assert tags.topic == ["film"]


def test_titles_never_give_music_genres() -> None:
    # "House of Cards" is not electronic music, and a song called "Rock Bottom" is not rock.
    show = item(platform="netflix", type="video", title="House of Cards: Season 1: Chapter 1")
    song = item(platform="spotify", type="music", title="Rock Bottom", creator="Marla Venn")
    answer = OfflineTagger().tag(EnrichmentCache(), [show, song])
    assert answer[item_key(show)] == UniversalTags(topic=["film"])
    assert answer[item_key(song)] == UniversalTags(topic=["music"])


def test_youtube_language_hint_and_category_without_topics() -> None:
    media = item(
        platform="youtube_takeout",
        type="video",
        title="Speedrun any% world record",
        creator="Pixel Runner",
        raw_metadata={"youtube": {"categoryId": "20", "defaultAudioLanguage": "en-GB"}},
    )
    assert OfflineTagger().tag(EnrichmentCache(), [media])[item_key(media)] == UniversalTags(
        topic=["gaming"], language="en"
    )


def test_article_topics_from_title() -> None:
    media = item(
        platform="instapaper",
        type="article",
        title="The economics of a startup's first year",
        creator="example.com",
    )
    assert OfflineTagger().tag(EnrichmentCache(), [media])[item_key(media)].topic == ["business"]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("夜に駆ける YOASOBI", "ja"),
        ("東京事変", "zh"),  # Han without kana
        ("봄날 BTS", "ko"),
        ("Группа крови", "ru"),
        ("سلام عليكم", "ar"),
        ("Lantern Street (feat. Ana)", None),
        ("Café del Mar", None),
        ("", None),
    ],
)
def test_script_language(text: str, language: str | None) -> None:
    assert script_language(text) == language


def test_universal_tags_are_normalised_and_checked() -> None:
    assert UniversalTags(genre=["Rock", "rock", " Hip  Hop "], language="JA") == UniversalTags(
        genre=["rock", "hip hop"], language="ja"
    )
    with pytest.raises(ValidationError, match="not in the genre vocabulary"):
        UniversalTags(genre=["vaporwave"])
    with pytest.raises(ValidationError, match="ISO 639"):
        UniversalTags(language="English")


def test_vocabulary_size_and_synonyms() -> None:
    assert len(vocabulary.GENRES) >= 40
    assert len(vocabulary.TOPICS) >= 20
    assert len(vocabulary.MOODS) >= 10
    assert vocabulary.normalise("genre", "Sci-Fi") == "science fiction"
    assert vocabulary.normalise("genre", "EDM") == "electronic"
    assert vocabulary.normalise("genre", "techno") == "electronic"
    assert vocabulary.normalise("genre", "hip-hop") == "hip hop"
    assert vocabulary.normalise("mood", "Relaxing") == "calm"
    assert vocabulary.normalise("genre", "popcorn") is None
    assert vocabulary.find("genre", "k-pop and post-punk") == ["pop", "punk"]


def test_choose_tagger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCA_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("MCA_LLM_MODEL", raising=False)
    assert isinstance(choose_tagger(), OfflineTagger)
    monkeypatch.setenv("MCA_LLM_BASE_URL", "http://localhost:11434/v1")
    assert isinstance(choose_tagger(), OfflineTagger)  # no model: still offline
    monkeypatch.setenv("MCA_LLM_MODEL", "llama3.1:8b")
    tagger = choose_tagger()
    assert isinstance(tagger, LlmTagger)
    assert (tagger.base_url, tagger.model) == ("http://localhost:11434/v1", "llama3.1:8b")
