"""Enrichment as Dagster assets, per user, downstream of the sources: first each
plugin's Enrich (Last.fm tags, TMDB genres, YouTube topics), then the universal tagger.

Only pending items are read, a batch at a time, and lookups go through a cache shared
across users and runs, so a re-run costs nothing. A missing API key skips that
enrichment with a reason (the items stay pending); a platform failing as a whole is
handled by the same error policy as sync; one bad item is marked failed on its own.
"""

from collections import Counter

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    RetryPolicy,
    asset,
)
from pydantic import Field

from mca_pipeline.auth import CredentialStore
from mca_pipeline.core import (
    Credentials,
    EnrichmentCache,
    EnrichmentFailed,
    EnrichmentSkipped,
    MediaItem,
    PluginRegistry,
    SyncContext,
)
from mca_pipeline.defs.automation import after_any_update
from mca_pipeline.defs.downstream_batches import downstream_backfill_policy, for_each_user
from mca_pipeline.defs.error_policy import raise_for
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.enrich.tagger_choice import choose_tagger
from mca_pipeline.enrich.universal_tags import UniversalTags
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.enrichment import (
    enrichment_counts,
    items_for_plugin_enrichment,
    items_for_universal_tags,
    load_cache,
    platforms_to_enrich,
    reset_enrichment,
    save_cache,
    save_plugin_enrichment,
    save_universal_tags,
)

#: A tagger's reason for an item it did not get to this run: the item stays pending.
BUDGET_EXHAUSTED = "budget exhausted"


class EnrichConfig(Config):
    reenrich: bool = Field(
        default=False, description="Enrich every item of the user again, not only pending ones."
    )
    batch_size: int = Field(default=2000, ge=1, description="Items read and written per batch.")


def build_enrichment_assets(
    registry: PluginRegistry, source_names: list[str], retry_policy: RetryPolicy
) -> list[AssetsDefinition]:
    @asset(
        name="plugin_enrichment",
        partitions_def=users_partitions,
        group_name="enrichment",
        kinds={"duckdb"},
        deps=source_names,
        automation_condition=after_any_update(),
        retry_policy=retry_policy,
        backfill_policy=downstream_backfill_policy(),
        description="Each source's own Enrich on the user's pending items (Last.fm tags, TMDB genres, YouTube topics).",
    )
    def plugin_enrichment(
        context: AssetExecutionContext,
        config: EnrichConfig,
        warehouse: WarehouseResource,
        credentials: ResourceParam[CredentialStore],
    ) -> MaterializeResult:
        def enrich(user_id: str) -> dict[str, MetadataValue]:
            wh = warehouse.warehouse()
            with wh.connect() as con:
                if config.reenrich and context.retry_number == 0:
                    context.log.info(f"re-enriching {reset_enrichment(con, user_id):,} items of {user_id}")
                cache = load_cache(con)
                pending = platforms_to_enrich(con, user_id)
            ctx = SyncContext(user_id=user_id, cache=cache)
            outcome: Counter[str] = Counter()
            skipped: dict[str, str] = {}
            for plugin in (p for p in registry if p.name in pending):
                creds = credentials.load(user_id, plugin.name) or Credentials()
                while True:
                    with wh.connect() as con:
                        batch = items_for_plugin_enrichment(con, user_id, plugin.name, config.batch_size)
                    if not batch:
                        break
                    try:
                        returned = plugin.enrich(ctx, creds, batch)
                    except EnrichmentSkipped as exc:
                        skipped[plugin.name] = str(exc)
                        context.log.info(f"{plugin.name}: {exc}")
                        break
                    except EnrichmentFailed as exc:
                        _save_cache(wh, cache)
                        raise_for(exc.error, plugin.name, user_id, retry_policy)
                    done = _complete(batch, returned)
                    failures = {
                        i.external_id: str(i.raw_metadata["enrichment_error"])
                        for i in done
                        if i.raw_metadata.get("enrichment_error")
                    }
                    with wh.connect() as con:
                        save_plugin_enrichment(con, user_id, done, failures)
                        save_cache(con, cache)
                    outcome["enriched"] += len(done) - len(failures)
                    outcome["failed"] += len(failures)
                    context.log.info(f"{plugin.name}: {outcome['enriched']:,} items enriched so far")
            return _metadata(outcome, skipped, cache, wh, user_id)

        return for_each_user(context, enrich)

    @asset(
        name="universal_tags",
        partitions_def=users_partitions,
        group_name="enrichment",
        kinds={"duckdb"},
        deps=["plugin_enrichment"],
        automation_condition=after_any_update(),
        retry_policy=retry_policy,
        backfill_policy=downstream_backfill_policy(),
        description="Normalised genre, mood, topic and language tags on every pending item (LLM or offline).",
    )
    def universal_tags(
        context: AssetExecutionContext, config: EnrichConfig, warehouse: WarehouseResource
    ) -> MaterializeResult:
        def tag(user_id: str) -> dict[str, MetadataValue]:
            wh = warehouse.warehouse()
            tagger = choose_tagger()
            with wh.connect() as con:
                cache = load_cache(con)
            outcome: Counter[str] = Counter()
            skipped: dict[str, str] = {}
            after = ""
            while True:
                with wh.connect() as con:
                    batch = items_for_universal_tags(con, user_id, after, config.batch_size)
                if not batch:
                    break
                after = f"{batch[-1].platform}|{batch[-1].external_id}"
                try:
                    results = tagger.tag(cache, batch)
                except EnrichmentSkipped as exc:
                    skipped[tagger.name] = str(exc)
                    break
                except EnrichmentFailed as exc:
                    _save_cache(wh, cache)
                    raise_for(exc.error, tagger.name, user_id, retry_policy)
                tagged: dict[tuple[str, str], dict[str, object]] = {}
                failed: dict[tuple[str, str], str] = {}
                for key, result in results.items():
                    platform, _, external_id = key.partition("|")
                    if isinstance(result, UniversalTags):
                        tagged[(platform, external_id)] = result.model_dump()
                    elif result == BUDGET_EXHAUSTED:
                        outcome["over budget"] += 1
                    else:
                        failed[(platform, external_id)] = result
                with wh.connect() as con:
                    save_universal_tags(con, user_id, tagged, failed)
                    save_cache(con, cache)
                outcome["tagged"] += len(tagged)
                outcome["failed"] += len(failed)
            context.log.info(f"{user_id}: {outcome['tagged']:,} items tagged with {tagger.name}")
            metadata = _metadata(outcome, skipped, cache, wh, user_id)
            metadata["tagger"] = MetadataValue.text(tagger.name)
            return metadata

        return for_each_user(context, tag)

    return [plugin_enrichment, universal_tags]


def _complete(batch: list[MediaItem], returned: list[MediaItem]) -> list[MediaItem]:
    """Every item of the batch, enriched where the plugin returned it: an item a plugin
    dropped would otherwise be picked up again forever."""
    by_id = {item.external_id: item for item in returned}
    return [by_id.get(item.external_id, item) for item in batch]


def _save_cache(warehouse: Warehouse, cache: EnrichmentCache) -> None:
    """Keep what was looked up before a failure: the retry will not pay for it again."""
    with warehouse.connect() as con:
        save_cache(con, cache)


def _metadata(
    outcome: Counter[str], skipped: dict[str, str], cache: EnrichmentCache, warehouse: Warehouse, user_id: str
) -> dict[str, MetadataValue]:
    with warehouse.connect() as con:
        status = enrichment_counts(con, user_id)
    metadata: dict[str, MetadataValue] = {
        f"items/{name}": MetadataValue.int(count) for name, count in sorted(outcome.items())
    }
    metadata |= {
        "calls": MetadataValue.int(cache.calls),
        "cache_hit_rate": MetadataValue.float(round(cache.hit_rate, 3)),
        "status": MetadataValue.json(status),
        "skipped": MetadataValue.md(
            "\n".join(f"- **{name}**: {reason}" for name, reason in sorted(skipped.items()))
            or "nothing skipped"
        ),
    }
    return metadata
