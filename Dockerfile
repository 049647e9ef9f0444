FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY knowledge ./knowledge
COPY data/helpers.example.yaml ./data/
RUN pip install --no-cache-dir -e .
ENV PEERDESK_KNOWLEDGE_DIR=/app/knowledge
USER nobody
EXPOSE 8080
CMD ["sh", "-c", "peerdesk migrate && exec peerdesk serve"]
