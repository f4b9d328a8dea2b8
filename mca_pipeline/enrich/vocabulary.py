"""The controlled vocabulary of universal tags: genres, moods and topics with synonyms.

Every universal tag is one of the canonical lower-case names below. Synonyms map the
many ways platforms and people write a tag ("hip-hop", "rap" -> "hip hop"; "sci-fi" ->
"science fiction") to that name. Text is compared as words: lower-cased, accents kept,
split on anything that is not a letter, digit or "&", so "Hip-Hop" and "hip hop" are the
same phrase and "pop" is found in "dream pop" but never in "popcorn".

Some terms are safe to look for in free text (a podcast title saying "cooking") and some
are not ("House of Cards" is not electronic music), so each term says whether titles may
be searched for it (`in_titles`); tags are always searched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Facet = Literal["genre", "mood", "topic"]

_WORD = re.compile(r"[^\W_]+(?:&[^\W_]+)*|&", re.UNICODE)


@dataclass(frozen=True)
class Term:
    """One canonical tag and the other ways of writing it."""

    name: str
    synonyms: tuple[str, ...] = ()
    in_titles: bool = False

    def phrases(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)


def _terms(
    entries: Iterable[tuple[str, tuple[str, ...]]], *, in_titles: Iterable[str] = ()
) -> tuple[Term, ...]:
    titled = set(in_titles)
    return tuple(Term(name, synonyms, name in titled) for name, synonyms in entries)


GENRES: tuple[Term, ...] = _terms(
    [
        # music
        ("rock", ("rock and roll", "rock n roll", "alternative rock", "hard rock", "post rock", "grunge")),
        ("pop", ("k pop", "j pop", "synthpop", "synth pop", "electropop", "dance pop", "europop")),
        ("hip hop", ("hiphop", "rap", "trap", "grime", "drill", "boom bap")),
        (
            "electronic",
            (
                "electronica",
                "edm",
                "house",
                "techno",
                "trance",
                "dubstep",
                "drum and bass",
                "dnb",
                "idm",
                "electro",
                "synthwave",
            ),
        ),
        ("dance", ("disco", "eurodance")),
        ("jazz", ("bebop", "swing", "smooth jazz", "jazz fusion")),
        ("classical", ("classic music", "orchestral", "opera", "baroque", "symphony", "piano concerto")),
        ("folk", ("folk rock", "americana", "singer songwriter", "acoustic")),
        ("metal", ("heavy metal", "death metal", "black metal", "metalcore", "thrash metal")),
        ("punk", ("punk rock", "post punk", "hardcore punk", "emo")),
        ("r&b", ("rnb", "r and b", "rhythm and blues", "soul", "neo soul", "funk", "motown")),
        ("blues", ("delta blues", "blues rock")),
        ("country", ("country music", "bluegrass", "alt country")),
        ("reggae", ("dub", "ska", "dancehall")),
        ("latin", ("reggaeton", "salsa", "bossa nova", "latin pop", "cumbia")),
        ("ambient", ("dark ambient", "drone", "new age")),
        ("indie", ("indie rock", "indie pop", "dream pop", "shoegaze", "lo fi", "lofi", "bedroom pop")),
        ("soundtrack", ("score", "film score", "ost", "original soundtrack")),
        ("world", ("world music", "afrobeat", "afrobeats")),
        # film and tv
        ("action", ("martial arts",)),
        ("adventure", ()),
        ("animation", ("animated", "anime", "cartoon", "cartoons")),
        (
            "comedy",
            ("comedies", "sitcom", "stand up", "standup", "stand up comedy", "parody", "sketch comedy"),
        ),
        ("crime", ("true crime", "heist", "gangster")),
        ("documentary", ("documentaries", "docuseries", "docu series")),
        ("drama", ("dramas", "melodrama", "soap")),
        ("family", ("kids", "children", "children's")),
        ("fantasy", ("sword and sorcery",)),
        ("history", ("historical", "period drama")),
        ("horror", ("slasher", "supernatural horror", "zombie")),
        ("mystery", ("whodunit", "detective")),
        ("romance", ("romantic comedy", "rom com", "romcom", "romantic drama")),
        ("science fiction", ("sci fi", "scifi", "sf", "space opera", "cyberpunk")),
        ("thriller", ("thrillers", "suspense", "psychological thriller")),
        ("war", ("war film", "war drama")),
        ("western", ("westerns", "spaghetti western")),
        ("reality", ("reality tv", "reality show")),
        ("talk show", ("talk", "late night")),
        ("musical", ("musicals",)),
        ("news", ("tv news",)),
    ],
    in_titles=("documentary", "animation"),
)

MOODS: tuple[Term, ...] = _terms(
    [
        (
            "calm",
            (
                "chill",
                "chillout",
                "chill out",
                "relaxing",
                "relax",
                "mellow",
                "peaceful",
                "soothing",
                "dreamy",
                "dream pop",
                "lo fi",
                "lofi",
                "ambient",
                "sleep",
                "meditation",
            ),
        ),
        ("energetic", ("energy", "upbeat", "party", "workout", "driving", "high energy", "hype")),
        ("happy", ("feel good", "uplifting", "cheerful", "joyful", "fun", "summer")),
        ("sad", ("melancholy", "melancholic", "depressing", "heartbreak", "sorrow")),
        ("dark", ("gloomy", "sinister", "bleak", "noir", "gothic", "goth")),
        ("romantic", ("love", "love songs", "sensual", "sexy")),
        ("angry", ("aggressive", "rage", "furious")),
        ("nostalgic", ("nostalgia", "retro", "oldies")),
        ("epic", ("cinematic", "anthemic", "majestic")),
        ("tense", ("suspenseful", "intense", "thrilling")),
        ("funny", ("humor", "humour", "hilarious", "comedic")),
    ],
)

TOPICS: tuple[Term, ...] = _terms(
    [
        (
            "technology",
            (
                "tech",
                "software",
                "programming",
                "coding",
                "computers",
                "gadgets",
                "artificial intelligence",
                "ai",
            ),
        ),
        ("science", ("physics", "biology", "chemistry", "astronomy", "space", "neuroscience", "mathematics")),
        ("politics", ("political", "election", "elections", "government", "policy", "society")),
        ("history", ("historical", "ancient", "world war", "archaeology")),
        (
            "sports",
            (
                "sport",
                "football",
                "soccer",
                "basketball",
                "baseball",
                "tennis",
                "cricket",
                "olympics",
                "nba",
                "nfl",
            ),
        ),
        ("gaming", ("video game", "video games", "games", "gameplay", "esports", "let's play", "minecraft")),
        ("cooking", ("cook", "cooks", "recipe", "recipes", "food", "baking", "kitchen", "chef", "cuisine")),
        ("travel", ("travelling", "traveling", "trip", "tourism", "travel & events")),
        (
            "business",
            ("economics", "economy", "finance", "investing", "startup", "startups", "entrepreneurship"),
        ),
        ("health", ("fitness", "nutrition", "wellness", "mental health", "medicine", "exercise")),
        ("education", ("learning", "lecture", "tutorial", "how to", "howto", "explained", "course")),
        ("news", ("news & politics", "current affairs", "headlines", "daily news")),
        ("art", ("arts", "painting", "drawing", "visual art", "design", "photography")),
        ("music", ("musician", "songs", "album", "music video", "concert", "live music")),
        ("film", ("film & animation", "films", "movie", "movies", "cinema", "television", "tv", "trailer")),
        ("nature", ("wildlife", "animals", "pets & animals", "environment", "climate", "outdoors")),
        ("literature", ("books", "book", "reading", "novel", "novels", "poetry", "writing")),
        ("religion", ("faith", "spirituality", "theology", "christianity", "islam", "buddhism")),
        ("comedy", ("humor", "humour", "jokes", "stand up")),
        ("fashion", ("style", "beauty", "makeup", "clothing")),
        (
            "lifestyle",
            ("society & culture", "relationships", "parenting", "self improvement", "productivity"),
        ),
        ("cars", ("autos & vehicles", "automotive", "car", "motorsport", "formula 1", "f1")),
        ("true crime", ("murder", "serial killer", "crime stories")),
    ],
    in_titles=(
        "technology",
        "science",
        "politics",
        "history",
        "sports",
        "gaming",
        "cooking",
        "travel",
        "business",
        "health",
        "education",
        "news",
        "art",
        "music",
        "film",
        "nature",
        "literature",
        "religion",
        "comedy",
        "fashion",
        "cars",
        "true crime",
    ),
)

VOCABULARY: dict[Facet, tuple[Term, ...]] = {"genre": GENRES, "mood": MOODS, "topic": TOPICS}

#: Words too ambiguous to count when found inside running text (titles), though fine as a whole tag.
_TITLE_STOPWORDS = frozenset(
    {"ai", "tv", "style", "space", "design", "book", "car", "cook", "course", "trip"}
)


def words(text: str) -> tuple[str, ...]:
    """`text` as lower-case words: "Hip-Hop/R&B" -> ("hip", "hop", "r&b")."""
    return tuple(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def _phrase(text: str) -> str:
    return " ".join(words(text))


# phrase -> canonical, per facet; canonical names win over synonyms of other terms.
_INDEX: dict[Facet, dict[str, str]] = {}
_TITLE_INDEX: dict[Facet, dict[str, str]] = {}
for _facet, _terms_of in VOCABULARY.items():
    exact: dict[str, str] = {}
    titled: dict[str, str] = {}
    for _term in _terms_of:
        exact[_phrase(_term.name)] = _term.name
    for _term in _terms_of:
        for _syn in _term.phrases():
            exact.setdefault(_phrase(_syn), _term.name)
            if _term.in_titles and _phrase(_syn) not in _TITLE_STOPWORDS:
                titled.setdefault(_phrase(_syn), _term.name)
    _INDEX[_facet] = exact
    _TITLE_INDEX[_facet] = titled
_LONGEST = max(len(p.split()) for index in _INDEX.values() for p in index)

CANONICAL: dict[Facet, frozenset[str]] = {f: frozenset(t.name for t in ts) for f, ts in VOCABULARY.items()}


def normalise(facet: Facet, value: str) -> str | None:
    """The canonical tag for a whole value ("Sci-Fi" -> "science fiction"), else None."""
    if not isinstance(value, str):
        return None
    return _INDEX[facet].get(_phrase(value))


def find(facet: Facet, text: str, *, titles: bool = False) -> list[str]:
    """Canonical tags of `facet` whose phrases occur as whole words in `text`, in order.

    The whole text is tried first ("dream pop" is a mood phrase of its own), then every
    run of words, longest first, so "indie rock" counts as indie and not also as rock
    unless "rock" occurs elsewhere. With `titles=True` only title-safe terms count.
    """
    index = _TITLE_INDEX[facet] if titles else _INDEX[facet]
    tokens = words(text)
    if not tokens:
        return []
    whole = index.get(" ".join(tokens))
    if whole is not None:
        return [whole]
    found: list[tuple[int, str]] = []
    used = [False] * len(tokens)
    for size in range(min(_LONGEST, len(tokens)), 0, -1):
        for start in range(len(tokens) - size + 1):
            if any(used[start : start + size]):
                continue
            name = index.get(" ".join(tokens[start : start + size]))
            if name is not None:
                found.append((start, name))
                for i in range(start, start + size):
                    used[i] = True
    return list(dict.fromkeys(name for _, name in sorted(found)))


def describe(facet: Facet) -> str:
    """The canonical names of a facet, comma-separated (for the LLM prompt)."""
    return ", ".join(t.name for t in VOCABULARY[facet])
