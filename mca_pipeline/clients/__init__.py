"""A module per platform for what its source plugin and its enrichment share."""
