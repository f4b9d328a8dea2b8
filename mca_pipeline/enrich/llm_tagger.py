"""Universal tags from an OpenAI-compatible chat completions endpoint.

Configuration from the environment: `MCA_LLM_BASE_URL` (e.g. `http://localhost:11434/v1`
for Ollama, `https://api.openai.com/v1`), `MCA_LLM_MODEL`, and `MCA_LLM_API_KEY` (optional;
local servers need none). Without base URL and model, `tag` raises EnrichmentSkipped.

One request per batch (default 20 items): `POST {base}/chat/completions` with a system
prompt listing the vocabulary, a user message holding the items as JSON (title, creator,
type and the platform's tags only, under a batch-local key "1", "2", ...), JSON mode
(`response_format: {"type": "json_object"}`) and temperature 0. The answer must be
`{"items": [{"key", "genre", "mood", "topic", "language"}]}`; each entry is validated
with pydantic, values outside the vocabulary are mapped through its synonyms or
dropped. Items missing from a malformed answer (not JSON, wrong shape, missing keys) are
sent again, at most `max_retries` (2) times, then get a failure reason; the rest of the
batch keeps its tags.

Answers are cached per item under kind "llm:tags", keyed by the sha256 of the model
name and the fields sent, so identical items (a thousand plays of one song, across
users) cost one answer and a re-run costs nothing. At most `max_items` (500) items are
sent per tagger instance, i.e. per run; the rest come back as "budget exhausted" and
stay pending. HTTP 429 raises EnrichmentFailed(rate_limit, after Retry-After); 5xx,
timeouts and connection errors raise EnrichmentFailed(upstream); 401/403
EnrichmentFailed(permission_denied), other 4xx EnrichmentFailed(invalid_data). Batches
answered before such a failure are already in the cache, so the retry does not pay for
them again. The API key is sent as a Bearer header only and is
masked in every message and excerpt.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from mca_pipeline.clients.http import PlatformHttp, excerpt, redact
from mca_pipeline.core.enrichment import EnrichmentCache, EnrichmentFailed, EnrichmentSkipped
from mca_pipeline.core.models import ErrorCode, MediaItem, PluginError
from mca_pipeline.enrich import vocabulary
from mca_pipeline.enrich.universal_tags import MAX_PER_FACET, UniversalTags, item_key, normalise_language
from mca_pipeline.enrich.vocabulary import Facet

CACHE_KIND = "llm:tags"
ENV_BASE_URL = "MCA_LLM_BASE_URL"
ENV_MODEL = "MCA_LLM_MODEL"
ENV_API_KEY = "MCA_LLM_API_KEY"

#: Wait after a 429 that carries no usable Retry-After.
RATE_LIMIT_WAIT = timedelta(seconds=30)
#: Characters of a response body kept in PluginError.raw and in failure reasons.
RAW_CHARS = 300
BUDGET_EXHAUSTED = "budget exhausted"

#: Common language names an LLM may answer instead of a code.
_LANGUAGE_NAMES = {
    "english": "en",
    "japanese": "ja",
    "korean": "ko",
    "chinese": "zh",
    "mandarin": "zh",
    "cantonese": "zh",
    "russian": "ru",
    "arabic": "ar",
    "spanish": "es",
    "french": "fr",
    "german": "de",
    "italian": "it",
    "portuguese": "pt",
    "dutch": "nl",
    "swedish": "sv",
    "hindi": "hi",
    "turkish": "tr",
    "polish": "pl",
}

SYSTEM_PROMPT = """You tag media items (songs, videos, films, series, podcasts, articles).
For every item you are given, answer with its genres, moods, topics and language.
Use ONLY these values (lower case, exactly as written):
genre: {genres}
mood: {moods}
topic: {topics}
language: the ISO 639-1 code of the item's language (e.g. "en", "ja"), or null if unsure.
Give at most 5 genres, 3 moods and 3 topics; use an empty list when none fits.
Answer with one JSON object and nothing else, in this shape:
{{"items": [{{"key": "<the item's key>", "genre": [], "mood": [], "topic": [], "language": null}}]}}
with exactly one entry for every item key you were given."""


class _Entry(BaseModel):
    """One entry of the model's answer, before mapping onto the vocabulary."""

    model_config = ConfigDict(extra="ignore")

    key: str | int
    genre: list[str] | str | None = None
    mood: list[str] | str | None = None
    topic: list[str] | str | None = None
    language: str | None = None


class _Answer(BaseModel):
    items: list[Any]


class _Malformed(Exception):
    """The model's answer cannot be read (as a whole)."""


class LlmTagger:
    """Universal tags from an LLM behind an OpenAI-compatible chat completions API."""

    name = "llm"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        *,
        client: httpx.Client | None = None,
        batch_size: int = 20,
        max_items: int = 500,
        max_retries: int = 2,
        timeout_s: float = 120.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if max_items < 0 or max_retries < 0:
            raise ValueError("max_items and max_retries must not be negative")
        self.base_url = (base_url if base_url is not None else os.environ.get(ENV_BASE_URL, "")).strip()
        self.model = (model if model is not None else os.environ.get(ENV_MODEL, "")).strip()
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY, "")
        self._secret = (key or "").strip()
        self.batch_size = batch_size
        self.max_items = max_items
        self.max_retries = max_retries
        self._api = PlatformHttp("the LLM endpoint", self.base_url, client, timeout_s)
        self.sent = 0  # unique items sent so far (the budget counter)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    def tag(self, ctx_cache: EnrichmentCache, items: list[MediaItem]) -> dict[str, UniversalTags | str]:
        if not self.configured:
            missing = [n for n, v in ((ENV_BASE_URL, self.base_url), (ENV_MODEL, self.model)) if not v]
            raise EnrichmentSkipped(f"LLM tagging skipped: {' and '.join(missing)} not set")
        out: dict[str, UniversalTags | str] = {}
        # content hash -> (fields sent, keys of the items with that content)
        pending: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for item in items:
            key = item_key(item)
            fields = _fields(item)
            digest = self._digest(fields)
            if digest in pending:
                pending[digest][1].append(key)
                continue
            cached = ctx_cache.get(CACHE_KIND, digest)
            if cached is not EnrichmentCache.MISSING:
                try:
                    out[key] = UniversalTags.model_validate(cached)
                    continue
                except ValidationError:
                    pass  # an entry from an older vocabulary: ask again
            pending[digest] = (fields, [key])

        todo: list[str] = []
        for digest in pending:
            if self.sent < self.max_items:
                self.sent += 1
                todo.append(digest)
            else:
                for key in pending[digest][1]:
                    out[key] = BUDGET_EXHAUSTED

        for batch in _chunks(todo, self.batch_size):
            answers = self._ask(ctx_cache, [(d, pending[d][0]) for d in batch])
            for digest in batch:
                answer = answers[digest]
                if isinstance(answer, UniversalTags):
                    ctx_cache.put(CACHE_KIND, digest, answer.model_dump())
                for key in pending[digest][1]:
                    out[key] = answer
        return out

    # --- one batch -------------------------------------------------------------------

    def _ask(
        self, cache: EnrichmentCache, batch: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, UniversalTags | str]:
        """Tags per content hash for one batch, retrying the items a bad answer left out."""
        results: dict[str, UniversalTags | str] = {}
        waiting = list(batch)
        problem = ""
        for _attempt in range(self.max_retries + 1):
            local = {str(n): digest for n, (digest, _) in enumerate(waiting, 1)}
            sent = [{"key": str(n), **fields} for n, (_, fields) in enumerate(waiting, 1)]
            content = self._post(cache, sent)
            try:
                entries = _read_entries(content)
            except _Malformed as exc:
                problem = str(exc)
                continue
            bad: list[str] = []
            for key, entry in entries.items():
                digest = local.get(key)
                if digest is None or digest in results:
                    continue
                try:
                    results[digest] = _to_tags(entry)
                except (ValidationError, ValueError) as exc:
                    bad.append(f"key {key}: {_first_error(exc)}")
            waiting = [(d, f) for d, f in waiting if d not in results]
            if not waiting:
                break
            missing = [k for k, d in local.items() if d not in results]
            problem = "; ".join(bad) or f"no valid entry for key(s) {', '.join(missing)}"
        for digest, _ in waiting:
            results[digest] = self._mask(
                f"LLM answer malformed after {self.max_retries + 1} attempts: {problem}"
            )[: RAW_CHARS + 100]
        return results

    def _post(self, cache: EnrichmentCache, sent: list[dict[str, Any]]) -> str:
        """The message content of one chat completion; raises EnrichmentFailed for HTTP trouble."""
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system_prompt()},
                {"role": "user", "content": json.dumps({"items": sent}, ensure_ascii=False)},
            ],
            "response_format": {"type": "json_object"},
            "temperature": 0,
        }
        headers = {"Content-Type": "application/json"}
        if self._secret:
            headers["Authorization"] = f"Bearer {self._secret}"
        url = self.base_url.rstrip("/") + "/chat/completions"
        cache.count_call()
        secrets = [self._secret]
        details = {"model": self.model}
        response = self._api.request(
            "POST", url, what="chat completions", secrets=secrets, json=body, headers=headers
        )
        error = self._api.common_error(
            response, "chat completions", default_wait=RATE_LIMIT_WAIT, secrets=secrets, details=details
        )
        if error is not None:
            raise EnrichmentFailed(error)
        status = response.status_code
        if status in (401, 403):
            raise self._failed(
                ErrorCode.PERMISSION_DENIED,
                f"the LLM endpoint refused the request (HTTP {status}); check {ENV_API_KEY}",
                response,
            )
        if not 200 <= status < 300:
            raise self._failed(
                ErrorCode.INVALID_DATA,
                f"the LLM endpoint rejected the request (HTTP {status}); check {ENV_MODEL} and {ENV_BASE_URL}",
                response,
            )
        try:
            payload = response.json()
            content = payload["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return ""  # an unreadable envelope counts as a malformed answer (retried)
        return content if isinstance(content, str) else ""

    # --- helpers ---------------------------------------------------------------------

    def _digest(self, fields: dict[str, Any]) -> str:
        text = json.dumps({"model": self.model, **fields}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def _mask(self, text: str) -> str:
        return redact(text, [self._secret])

    def _failed(self, code: ErrorCode, message: str, response: httpx.Response) -> EnrichmentFailed:
        """A refusal the endpoint will repeat (credentials, model): not retried."""
        return EnrichmentFailed(
            PluginError(
                code=code,
                message=self._mask(message),
                retry=False,
                raw=excerpt(response.text, [self._secret]),
                details={"model": self.model, "http_status": response.status_code},
            )
        )


def system_prompt() -> str:
    return SYSTEM_PROMPT.format(
        genres=vocabulary.describe("genre"),
        moods=vocabulary.describe("mood"),
        topics=vocabulary.describe("topic"),
    )


def _fields(item: MediaItem) -> dict[str, Any]:
    """What the model sees of an item (and what its cache key is made of)."""
    return {
        "title": item.title,
        "creator": item.creator,
        "type": item.type.value,
        "tags": list(item.tags),
    }


def _read_entries(content: str) -> dict[str, Any]:
    """The answer's entries by key; raises _Malformed for an answer that is not usable."""
    if not content.strip():
        raise _Malformed("the answer had no message content")
    try:
        data = json.loads(content)
    except ValueError:
        raise _Malformed(f"the answer is not JSON: {content[:80]!r}") from None
    try:
        answer = _Answer.model_validate(data)
    except ValidationError:
        raise _Malformed(f'the answer is not {{"items": [...]}}: {content[:80]!r}') from None
    entries: dict[str, Any] = {}
    for entry in answer.items:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str | int):
            entries.setdefault(str(entry["key"]), entry)
    return entries


def _to_tags(raw: Any) -> UniversalTags:
    entry = _Entry.model_validate(raw)
    return UniversalTags(
        genre=_map("genre", entry.genre),
        mood=_map("mood", entry.mood),
        topic=_map("topic", entry.topic),
        language=_language(entry.language),
    )


def _map(facet: Facet, values: list[str] | str | None) -> list[str]:
    """Vocabulary names for the model's values: synonyms mapped, the rest dropped."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    mapped = [vocabulary.normalise(facet, v) for v in values]
    return list(dict.fromkeys(m for m in mapped if m))[: MAX_PER_FACET[facet]]


def _language(value: str | None) -> str | None:
    if not value:
        return None
    named = _LANGUAGE_NAMES.get(value.strip().lower())
    return named or normalise_language(value)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc)


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
