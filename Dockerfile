FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY knowledge ./knowledge
COPY data/helpers.example.yaml ./data/
# The bot's own bytecode, compiled here: running as nobody, the bot could not write it, and
# every start would compile it all again (some 0.4 s of CPU).
RUN pip install --no-cache-dir -e . && python -m compileall -q bot
ENV PEERDESK_KNOWLEDGE_DIR=/app/knowledge PEERDESK_LEMMA_DIR=/app/lemmas
# The lemmatizer's dictionaries, built once into the image (the bot runs as nobody).
RUN python -m bot.domain.lemmas /app/lemmas
# The router's need model, trained on knowledge/training into the same folder, and its word
# table (bot.domain.wordtable).
RUN peerdesk route train
USER nobody
EXPOSE 8080
CMD ["sh", "-c", "peerdesk migrate && exec peerdesk serve"]
