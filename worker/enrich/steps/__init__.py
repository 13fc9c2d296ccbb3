"""One module per enrichment step: the step's function and its ``STEP`` declaration
(worker/enrich/step.py says what a step declares; worker/enrich/registry.py lists them in order).
The work itself lives in the modules beside this package (dateline.py, entities.py, ...)."""
