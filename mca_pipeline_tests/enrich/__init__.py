"""Tests of the enrichment helpers."""
