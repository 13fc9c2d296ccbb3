"""Celery workers: enrich articles and bulk-index them into Elasticsearch."""
