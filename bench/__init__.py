"""Benchmarks of the running stack (``make bench``, ``make bench-quick``; docs/BENCHMARKS.md).

Every throughput is reported beside a baseline measured in the same run (the enrichment code in
a plain loop, a raw ``_bulk``, a ``match_all`` search), because the machine is shared and the
absolute figures move with whatever else runs on it. ``python -m bench --help`` lists the
options; ``bench/embeddings.py`` is a separate, older comparison of embedding back ends.
"""
