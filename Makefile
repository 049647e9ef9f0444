# The README's two commands: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test postgres-cover lint messages route route-eval screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The router's need model is trained once per machine (bot/domain/needs.py), here rather than by
# every test worker or at the bot's first start.
# The bot's bytecode is compiled here (only what changed): a shell with PYTHONDONTWRITEBYTECODE
# would otherwise have the bot compile it all at every start, 0.4 s of CPU.
run: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 bot
	$(BIN)/peerdesk route train
	$(BIN)/peerdesk run

# Most tests wait on a bot, a sandbox or a database rather than compute: four workers on two
# cores. Each test goes to whichever worker is free, longest first (tests/conftest.py), except
# the browser tests, which share one worker and its one Chromium (xdist_group "browser").
# Bytecode is compiled once, here, for the workers and every bot process a test starts; a shell
# that sets PYTHONDONTWRITEBYTECODE would have each of them compile it all again (2 s of CPU).
test: export PYTHONDONTWRITEBYTECODE :=
test: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 bot
	$(BIN)/peerdesk route train
	$(BIN)/pytest -n 4 --dist loadgroup

# Which PostgreSQL variants `make test` may leave out: those whose database code the others run.
postgres-cover: $(STAMP)
	$(BIN)/python -m tests.postgres_cover

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy

# Re-extract the texts shown to people and merge them into the fi/sv/en catalogs.
messages: $(STAMP)
	$(BIN)/pybabel extract --no-default-keywords -k gettext:2 -k ngettext:2,3 -k _ --no-location \
		--project peerdesk -o bot/locale/peerdesk.pot bot
	$(BIN)/pybabel update --no-fuzzy-matching -D peerdesk -i bot/locale/peerdesk.pot -d bot/locale

route: $(STAMP)
	$(BIN)/peerdesk route --jsonl

# The router's figures on the labelled sets (bench/route_eval.py; --misses lists what went wrong).
route-eval: $(STAMP)
	$(BIN)/peerdesk route train
	$(BIN)/python bench/route_eval.py tests/data/routing_dev2.tsv tests/data/routing_after.tsv \
		tests/data/routing_after2.tsv tests/data/routing_after3.tsv tests/data/routing_after4.tsv \
		tests/data/routing_after5.tsv tests/data/routing_after6.tsv \
		tests/data/routing_after7.tsv tests/data/routing_after8.tsv \
		tests/data/routing_after9.tsv

# The README's pictures of the sandbox page, taken by the browser test of a whole conversation,
# and the lead's report chart for a busy and a quiet month.
screenshots: $(STAMP)
	PEERDESK_SCREENSHOTS=docs $(BIN)/pytest -q tests/test_browser.py -k claimed_and_answered
	PEERDESK_SCREENSHOTS=docs $(BIN)/pytest -q -p no:xdist tests/test_reports.py -k "glance and sqlite"

clean:
	rm -rf $(VENV) .pytest_cache
