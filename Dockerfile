# atlas-orchestrator: one image for the server (API, page, listener) and the worker.
# Stage 1 builds the wheel (it carries the SQL migrations and the page as package data);
# stage 2 installs it, and nothing is installed when a container starts.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY listener ./listener
COPY webhooks ./webhooks
COPY synthetic ./synthetic
COPY sql ./sql
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 atlas
USER atlas
WORKDIR /home/atlas
ENV PYTHONUNBUFFERED=1
EXPOSE 8765
# readiness answers without a token: 503 (so urlopen raises and the check fails) while the
# database is unreachable, the listener lags, a job is stuck or an alert is dead-lettered
# (docs/health-and-alerts.md, "Readiness"); /api/health/live only says the process answers
HEALTHCHECK --interval=10s --timeout=6s --start-period=60s --retries=6 \
    CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8765/api/health/ready', timeout=5)"
CMD ["atlas-orch", "serve", "--host", "0.0.0.0", "--port", "8765"]
