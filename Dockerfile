# followup: `docker run IMAGE` runs `followup serve`; `docker run IMAGE worker` a relay worker.
# Without REDIS_URL, serve starts an embedded redis-server under DATA_DIR, so the
# slim image ships Debian's redis-server for that case (docker-compose.yml uses
# a separate Redis instead).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    PORT=3000

RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 followup \
    && useradd --system --uid 10001 --gid followup --home-dir /app --shell /usr/sbin/nologin followup \
    && mkdir -p /data \
    && chown followup:followup /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install .

USER followup
VOLUME ["/data"]
EXPOSE 3000
ENTRYPOINT ["followup"]
CMD ["serve"]
