FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY dam ./dam
RUN pip install --no-cache-dir .
COPY taxonomy ./taxonomy
ENV DAM_TAXONOMY_DIR=/app/taxonomy DAM_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
CMD ["dam", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
