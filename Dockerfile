FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY knowledge ./knowledge
COPY data/helpers.example.yaml ./data/
RUN pip install --no-cache-dir -e . && python -m compileall -q bot
ENV PEERDESK_KNOWLEDGE_DIR=/app/knowledge PEERDESK_LEMMA_DIR=/app/lemmas
# The bot's own bytecode is compiled above: running as nobody, it could not be written at start,
# and every start would compile it all again (some 0.4 s of CPU).
# The lemmatizer's dictionaries, built once into the image (the bot runs as nobody).
RUN python -m bot.domain.lemmas /app/lemmas
# The router's need model, trained on knowledge/training into the same folder, and its word
# table (bot.domain.wordtable).
RUN peerdesk route train
USER nobody
EXPOSE 8080
CMD ["sh", "-c", "peerdesk migrate && exec peerdesk serve"]
