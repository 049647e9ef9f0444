"""Command line: `peerdesk run | serve | migrate | route | helpers | invite | events | calendar |
knowledge | report`. Each group of verbs is a module of this package named after it; this one
puts them on the parser, in the order `peerdesk --help` lists them, and runs the chosen verb.

Usage:
    peerdesk run                      # long polling; with no token, the local sandbox
    peerdesk serve                    # webhook server with /healthz /readyz /metrics
    peerdesk migrate                  # upgrade the database schema
    peerdesk route "question"         # the routing decision as JSON
    peerdesk route --jsonl < file     # one question per line in, one JSON line out
    peerdesk route --explain "question"   # the decision, each role's probability, the words
    peerdesk route train              # train the need model (knowledge/training), once a machine
    peerdesk helpers import FILE      # load the helpers' roster
    peerdesk helpers list | remove ID # the roster as it is now; take someone out of it
    peerdesk invite ROLE…             # a one-time invitation link (e.g. the first admin)
    peerdesk events add|list|cancel|import|materials   # webinars, cafés, meetings (see --help)
    peerdesk calendar import FILE_OR_URL | list   # the school's breaks and training days
    peerdesk knowledge list|export|import|edit|publish|discard   # the self-service answers
    peerdesk report [--month 2026-11 | --from D --to D] [--team T] [--format text|csv|json|png]
"""

from __future__ import annotations

import argparse
import sys

from bot.cli import calendar, events, knowledge, migrate, people, report, route, running
from bot.cli.logs import configure_logging, secrets_of
from bot.config import ConfigError, load_settings
from bot.domain.events.views import EventError
from bot.domain.knowledge import KnowledgeError
from bot.domain.lemmas import LemmaError
from bot.domain.reports import PeriodError
from bot.domain.roster import RosterError
from bot.domain.schoolyear import CalendarError

# Every group of verbs, in the order of `peerdesk --help`: each module's `add_to` adds its
# verbs, and each verb names the function that runs it (`verb`, a function of the arguments
# and the settings that returns the exit code).
GROUPS = (running, migrate, route, people, events, calendar, knowledge, report)

# What a verb may raise to say, in words for whoever typed it, why it could not be done
# (exit code 2); anything else is a bug and shows its traceback.
REFUSALS = (ConfigError, KnowledgeError, LemmaError, RosterError, PeriodError, EventError,
            CalendarError)


def parser() -> argparse.ArgumentParser:
    """`peerdesk`'s parser: every verb of every group."""
    parser = argparse.ArgumentParser(prog="peerdesk", description="Peer-support helpdesk bot")
    parser.set_defaults(verb=running.run_command)  # `peerdesk` alone runs the bot
    commands = parser.add_subparsers(dest="command")
    for group in GROUPS:
        group.add_to(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format, secrets_of(settings))
        return args.verb(args, settings)
    except REFUSALS as exc:
        print(f"peerdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
