"""The LLM tagger against a fake OpenAI-compatible chat completions server."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mca_pipeline.core import ErrorCode, MediaItem
from mca_pipeline.core.enrichment import EnrichmentCache, EnrichmentFailed, EnrichmentSkipped
from mca_pipeline.enrich.llm_tagger import BUDGET_EXHAUSTED, CACHE_KIND, LlmTagger
from mca_pipeline.enrich.universal_tags import Tagger, UniversalTags, item_key

BASE = "http://llm.test/v1"
MODEL = "llama3.1:8b"
SECRET = "sk-test-Zq81nB7vV0"
WHEN = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)

Answer = Callable[[list[dict[str, Any]]], Any]


def good_entry(sent: dict[str, Any]) -> dict[str, Any]:
    """What a sensible model answers: rock music in English."""
    return {
        "key": sent["key"],
        "genre": ["rock"],
        "mood": ["energetic"],
        "topic": ["music"],
        "language": "en",
    }


class FakeLlm:
    """POST /v1/chat/completions, answering like OpenAI / Ollama's compatible API.

    `answer` gets the items of the request (the user message, parsed) and returns the
    message content: a dict is sent as JSON text, a str as it is. `status` / `headers`
    set an error reply instead.
    """

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer: Answer = answer or (lambda items: {"items": [good_entry(i) for i in items]})
        self.requests: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []
        self.status = 200
        self.reply_headers: dict[str, str] = {}
        self.error_body: Any = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url == f"{BASE}/chat/completions"
        body = json.loads(request.content)
        self.requests.append(body)
        self.headers.append(request.headers)
        if self.status != 200:
            return httpx.Response(self.status, headers=self.reply_headers, json=self.error_body)
        items = json.loads(body["messages"][1]["content"])["items"]
        content = self.answer(items)
        if not isinstance(content, str):
            content = json.dumps(content)
        n = len(self.requests)
        return httpx.Response(
            200,
            json={
                "id": f"chatcmpl-9xQ{n:04d}",
                "object": "chat.completion",
                "created": 1714593600 + n,
                "model": body["model"],
                "system_fingerprint": "fp_ollama",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 412, "completion_tokens": 57, "total_tokens": 469},
            },
        )

    @property
    def batches(self) -> list[list[dict[str, Any]]]:
        return [json.loads(r["messages"][1]["content"])["items"] for r in self.requests]


def make_tagger(fake: FakeLlm, **options: Any) -> LlmTagger:
    client = httpx.Client(transport=httpx.MockTransport(fake.handler), timeout=httpx.Timeout(5.0))
    return LlmTagger(BASE, MODEL, SECRET, client=client, **options)


def song(n: int, **fields: Any) -> MediaItem:
    values: dict[str, Any] = {
        "platform": "spotify",
        "type": "music",
        "title": f"Song {n}",
        "creator": "Marla Venn",
        "consumed_at": WHEN,
        "external_id": f"play-{n}",
        "tags": ("rock",),
    }
    values.update(fields)
    return MediaItem(**values)


ROCK = UniversalTags(genre=["rock"], mood=["energetic"], topic=["music"], language="en")


def test_batches_request_shape_and_answers() -> None:
    fake = FakeLlm()
    tagger = make_tagger(fake, batch_size=20)
    items = [song(n) for n in range(45)]
    # The same song played again (another play, same content) is sent once.
    items.append(song(0, external_id="play-0-again", consumed_at=WHEN + timedelta(days=1)))
    cache = EnrichmentCache()

    answer = tagger.tag(cache, items)

    assert [len(b) for b in fake.batches] == [20, 20, 5]
    assert answer == {item_key(i): ROCK for i in items}
    assert cache.calls == 3
    request = fake.requests[0]
    assert request["model"] == MODEL
    assert request["response_format"] == {"type": "json_object"}
    assert request["temperature"] == 0
    system = request["messages"][0]
    assert system["role"] == "system"
    assert "science fiction" in system["content"] and "calm" in system["content"]
    assert '"items"' in system["content"]
    assert fake.batches[0][0] == {
        "key": "1",
        "title": "Song 0",
        "creator": "Marla Venn",
        "type": "music",
        "tags": ["rock"],
    }
    assert fake.headers[0]["authorization"] == f"Bearer {SECRET}"
    assert isinstance(tagger, Tagger)


def test_no_api_key_sends_no_authorization_header() -> None:
    fake = FakeLlm()
    client = httpx.Client(transport=httpx.MockTransport(fake.handler), timeout=httpx.Timeout(5.0))
    LlmTagger(BASE, MODEL, "", client=client).tag(EnrichmentCache(), [song(1)])
    assert "authorization" not in fake.headers[0]


def test_rerun_with_same_cache_makes_no_calls() -> None:
    fake = FakeLlm()
    cache = EnrichmentCache()
    items = [song(n) for n in range(5)]
    first = make_tagger(fake).tag(cache, items)
    assert len(fake.requests) == 1
    assert all(kind == CACHE_KIND for kind, _ in cache.new_entries())
    assert len(cache.new_entries()) == 5

    # The same cache, and a cache loaded from what the first run wrote (as core does).
    for again in (cache, EnrichmentCache(cache.new_entries())):
        calls_before = again.calls
        assert make_tagger(fake).tag(again, items) == first
        assert again.calls == calls_before
    assert len(fake.requests) == 1


def test_garbage_answer_is_retried_then_succeeds() -> None:
    answers = iter(["Sure! Here are the tags you asked for:", None])

    def answer(items: list[dict[str, Any]]) -> Any:
        text = next(answers)
        return text if text is not None else {"items": [good_entry(i) for i in items]}

    fake = FakeLlm(answer)
    result = make_tagger(fake).tag(EnrichmentCache(), [song(1), song(2)])
    assert len(fake.requests) == 2
    assert list(result.values()) == [ROCK, ROCK]


def test_garbage_fails_only_its_batch_after_two_retries() -> None:
    def answer(items: list[dict[str, Any]]) -> Any:
        if any(i["title"] == "Glitch" for i in items):
            return '{"items": "rock, energetic"'  # truncated, not JSON
        return {"items": [good_entry(i) for i in items]}

    fake = FakeLlm(answer)
    cache = EnrichmentCache()
    items = [song(1), song(2, title="Glitch"), song(3), song(4)]
    result = make_tagger(fake, batch_size=2).tag(cache, items)

    assert len(fake.requests) == 3 + 1  # the first batch: once and twice again; the second: once
    assert result[item_key(items[2])] == ROCK and result[item_key(items[3])] == ROCK
    for failed in items[:2]:
        reason = result[item_key(failed)]
        assert isinstance(reason, str)
        assert reason.startswith("LLM answer malformed after 3 attempts: the answer is not JSON")
    # Failures are not cached: a later run asks again.
    assert len(cache.new_entries()) == 2


def test_missing_and_invalid_entries_are_retried_for_those_items_only() -> None:
    def answer(items: list[dict[str, Any]]) -> Any:
        entries = []
        for i in items:
            if i["title"] == "Forgotten":
                continue  # the model leaves this one out, every time
            if i["title"] == "Wobbly" and len(items) == 3:
                entries.append({"key": i["key"], "genre": 5, "mood": [], "topic": []})  # bad, once
                continue
            entries.append(good_entry(i))
        return {"items": entries}

    fake = FakeLlm(answer)
    items = [song(1), song(2, title="Forgotten"), song(3, title="Wobbly")]
    result = make_tagger(fake).tag(EnrichmentCache(), items)

    assert [[i["title"] for i in b] for b in fake.batches] == [
        ["Song 1", "Forgotten", "Wobbly"],
        ["Forgotten", "Wobbly"],
        ["Forgotten"],
    ]
    assert result[item_key(items[0])] == ROCK
    assert result[item_key(items[2])] == ROCK
    reason = result[item_key(items[1])]
    assert reason == "LLM answer malformed after 3 attempts: no valid entry for key(s) 1"


def test_wrong_shape_and_broken_envelope_count_as_malformed() -> None:
    shapes = iter([[{"key": "1"}], {"tags": []}, "   "])
    fake = FakeLlm(lambda items: next(shapes))
    result = make_tagger(fake).tag(EnrichmentCache(), [song(1)])
    assert len(fake.requests) == 3
    assert (
        result[item_key(song(1))]
        == "LLM answer malformed after 3 attempts: the answer had no message content"
    )


def test_out_of_vocabulary_values_are_mapped_or_dropped() -> None:
    def answer(items: list[dict[str, Any]]) -> Any:
        return {
            "items": [
                {
                    "key": items[0]["key"],
                    "genre": ["Hip-Hop", "vaporwave", "Sci-Fi", "hip hop"],
                    "mood": ["chill", "bittersweet"],
                    "topic": "Tech",
                    "language": "English",
                    "confidence": 0.9,
                }
            ]
        }

    result = make_tagger(FakeLlm(answer)).tag(EnrichmentCache(), [song(1)])
    assert result[item_key(song(1))] == UniversalTags(
        genre=["hip hop", "science fiction"], mood=["calm"], topic=["technology"], language="en"
    )


def test_budget_stops_sending_and_leaves_the_rest_pending() -> None:
    fake = FakeLlm()
    cache = EnrichmentCache()
    tagger = make_tagger(fake, max_items=3, batch_size=2)
    items = [song(n) for n in range(5)]
    result = tagger.tag(cache, items)
    assert [len(b) for b in fake.batches] == [2, 1]
    assert [result[item_key(i)] for i in items] == [ROCK, ROCK, ROCK, BUDGET_EXHAUSTED, BUDGET_EXHAUSTED]
    # The budget is per run (per tagger): a second call on the same tagger sends nothing new,
    # though cached items still come back.
    again = tagger.tag(cache, items)
    assert len(fake.requests) == 2
    assert [again[item_key(i)] for i in items] == [ROCK, ROCK, ROCK, BUDGET_EXHAUSTED, BUDGET_EXHAUSTED]


def test_rate_limit_raises_with_retry_after() -> None:
    fake = FakeLlm()
    fake.status = 429
    fake.reply_headers = {"Retry-After": "17"}
    fake.error_body = {
        "error": {
            "message": "Rate limit reached for requests",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    cache = EnrichmentCache()
    with pytest.raises(EnrichmentFailed) as caught:
        make_tagger(fake).tag(cache, [song(1)])
    error = caught.value.error
    assert error.code == ErrorCode.RATE_LIMIT
    assert error.after == timedelta(seconds=17)
    assert error.retry
    assert "rate_limit_exceeded" in (error.raw or "")
    assert cache.calls == 1
    assert SECRET not in str(error) and SECRET not in (error.raw or "")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_upstream(status: int) -> None:
    fake = FakeLlm()
    fake.status = status
    fake.error_body = {"error": {"message": "model is loading", "type": "server_error"}}
    with pytest.raises(EnrichmentFailed) as caught:
        make_tagger(fake).tag(EnrichmentCache(), [song(1)])
    assert caught.value.error.code == ErrorCode.UPSTREAM
    assert caught.value.error.details["http_status"] == status


def test_timeout_is_upstream() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.Client(transport=httpx.MockTransport(handler), timeout=httpx.Timeout(5.0))
    with pytest.raises(EnrichmentFailed) as caught:
        LlmTagger(BASE, MODEL, SECRET, client=client).tag(EnrichmentCache(), [song(1)])
    assert caught.value.error.code == ErrorCode.UPSTREAM
    assert caught.value.error.retry


def test_bad_key_is_permission_denied_and_masked() -> None:
    fake = FakeLlm()
    fake.status = 401
    fake.error_body = {
        "error": {"message": f"Incorrect API key provided: {SECRET}", "code": "invalid_api_key"}
    }
    with pytest.raises(EnrichmentFailed) as caught:
        make_tagger(fake).tag(EnrichmentCache(), [song(1)])
    error = caught.value.error
    assert error.code == ErrorCode.PERMISSION_DENIED
    assert not error.retry
    assert SECRET not in (error.raw or "") and "[REDACTED]" in (error.raw or "")


def test_not_configured_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCA_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("MCA_LLM_MODEL", raising=False)
    fake = FakeLlm()
    client = httpx.Client(transport=httpx.MockTransport(fake.handler), timeout=httpx.Timeout(5.0))
    with pytest.raises(EnrichmentSkipped, match="MCA_LLM_BASE_URL and MCA_LLM_MODEL not set"):
        LlmTagger(client=client).tag(EnrichmentCache(), [song(1)])
    assert fake.requests == []


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCA_LLM_BASE_URL", BASE + "/")
    monkeypatch.setenv("MCA_LLM_MODEL", MODEL)
    monkeypatch.setenv("MCA_LLM_API_KEY", SECRET)
    fake = FakeLlm()
    client = httpx.Client(transport=httpx.MockTransport(fake.handler), timeout=httpx.Timeout(5.0))
    assert LlmTagger(client=client).tag(EnrichmentCache(), [song(1)]) == {item_key(song(1)): ROCK}
    assert fake.headers[0]["authorization"] == f"Bearer {SECRET}"
