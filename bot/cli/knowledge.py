"""`peerdesk knowledge list|export|import|edit|publish|discard`: the self-service answers in the
database, and their drafts."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot import LANGUAGES
from bot.config import Settings
from bot.domain import answers
from bot.domain.knowledge import KnowledgeError, load_knowledge
from bot.domain.models import AnswerStatus
from bot.storage import Database, migrate


def add_to(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    knowledge = commands.add_parser("knowledge", help="the self-service answers in the database")
    knowledge.set_defaults(verb=knowledge_command)
    knowledge_commands = knowledge.add_subparsers(dest="action", required=True)
    listed = knowledge_commands.add_parser("list", help="answers and drafts with their state")
    listed.add_argument("--drafts", action="store_true", help="only the drafts")
    exported = knowledge_commands.add_parser("export", help="published answers as YAML")
    exported.add_argument("--output", "-o", type=Path, help="file (default: standard output)")
    imported = knowledge_commands.add_parser("import", help="publish the answers of a YAML file")
    imported.add_argument("file", type=Path)
    edit = knowledge_commands.add_parser("edit", help="a draft's text or trigger in a language")
    edit.add_argument("answer_id")
    edit.add_argument("--lang", required=True, choices=LANGUAGES)
    edit.add_argument("--text")
    edit.add_argument("--trigger", action="append", help="trigger words; repeat for more")
    for action in ("publish", "discard"):
        knowledge_commands.add_parser(action, help=f"{action} a draft").add_argument("answer_id")


def knowledge_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_knowledge(args, settings))


async def _knowledge(args: argparse.Namespace, settings: Settings) -> int:
    """The answers in the database: seeded from the knowledge folder on first use; running bots
    see a publication within a minute."""
    knowledge = load_knowledge(settings.knowledge_dir)
    text = None
    if args.action == "import":
        try:
            text = args.file.read_text(encoding="utf-8")
        except OSError as exc:
            raise KnowledgeError(f"{args.file}: {exc.strerror}") from None
    await migrate(settings.database_url)
    db = Database(settings.database_url)
    now = datetime.now(UTC)
    try:
        async with db.session() as session:
            await answers.seed(session=session, knowledge=knowledge, now=now)
            if args.action == "list":
                status = AnswerStatus.DRAFT if args.drafts else None
                for row in await answers.listing(session=session, status=status):
                    missing = ",".join(answers.missing_languages(row)) or "-"
                    print(f"{row.id}\t{row.status}\t{row.topic}\tmissing:{missing}")
            elif args.action == "export":
                data = answers.export_yaml(await answers.listing(session=session))
                if args.output:
                    args.output.write_text(data, encoding="utf-8")
                    print(f"wrote {args.output}")
                else:
                    print(data, end="")
            elif args.action == "import":
                assert text is not None
                count = await answers.import_yaml(session=session, knowledge=knowledge,
                                                  text=text, now=now)
                print(f"published {count} answers from {args.file.name}")
            elif args.action == "edit":
                row = None
                if args.text:
                    row = await answers.set_text(session=session, answer_id=args.answer_id,
                                                 language=args.lang, text=args.text, now=now)
                if args.trigger:
                    row = await answers.set_triggers(session=session, answer_id=args.answer_id,
                                                     language=args.lang, triggers=args.trigger,
                                                     now=now)
                if row is None:
                    raise KnowledgeError(f"{args.answer_id}: no such answer, or nothing to set")
                print(f"{row.id}: missing {','.join(answers.missing_languages(row)) or 'nothing'}")
            elif args.action == "publish":
                row, lacking = await answers.publish(session=session, router=None,
                                                     answer_id=args.answer_id, now=now)
                if row is None:
                    raise KnowledgeError(f"{args.answer_id}: no such answer")
                if lacking:
                    raise KnowledgeError(f"{args.answer_id}: add {', '.join(lacking)} first")
                print(f"{row.id} published; running bots use it within a minute")
            elif not await answers.discard(session=session, router=None,
                                           answer_id=args.answer_id, now=now):
                raise KnowledgeError(f"{args.answer_id}: no such answer")
            else:
                print(f"{args.answer_id} discarded")
    finally:
        await db.dispose()
    return 0
