# The Willay app image: `docker compose up` runs it beside Redis (see compose.yaml).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY willay willay
COPY dialogue dialogue
COPY shell shell
COPY ussd ussd
COPY ivr ivr
COPY sms sms
COPY recommender recommender
COPY audio_cache audio_cache
COPY telemetry telemetry
COPY studio studio
COPY alerts alerts
COPY app app
COPY content content
# the studio writes recordings and sign-offs into content/ (mount a volume there to keep them)
RUN pip install --no-cache-dir . && useradd --system willay && mkdir -p /app/var \
    && chown willay /app/var /app/content /app/content/recordings
USER willay
ENV WILLAY_HOST=0.0.0.0 WILLAY_CONTENT_DIR=/app/content \
    WILLAY_RECORDINGS_DIR=/app/content/recordings WILLAY_AUDIO_DIR=/app/var/audio \
    WILLAY_EVENTS_FILE=/app/var/events.jsonl WILLAY_SPOOL_DIR=/app/var/spool \
    WILLAY_STUDIO_DIR=/app/var/studio
EXPOSE 8000
# the audio cache is built on first start (a volume keeps it), then the app serves
CMD ["sh", "-c", "willay audio build --if-missing && willay serve"]
