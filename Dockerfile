# The Willay app image: `docker compose up` runs it beside Redis (see compose.yaml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY willay willay
COPY ussd ussd
COPY ivr ivr
COPY sms sms
COPY recommender recommender
COPY audio_cache audio_cache
COPY telemetry telemetry
COPY content content
RUN pip install --no-cache-dir . && useradd --system willay && mkdir -p /app/var && chown willay /app/var
USER willay
ENV WILLAY_HOST=0.0.0.0 WILLAY_CONTENT_DIR=/app/content
EXPOSE 8000
CMD ["willay", "serve"]
