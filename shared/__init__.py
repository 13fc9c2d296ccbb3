"""What ingest, worker and web share: settings, article schema, index definition, clients."""
