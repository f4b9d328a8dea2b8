"""Plugin enrichment helpers: lookups of tags and metadata from external APIs."""
