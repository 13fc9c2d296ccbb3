"""Quality evaluation of the enrichment on real text (``python -m quality``)."""
