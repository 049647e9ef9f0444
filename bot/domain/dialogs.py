"""What the bot waits for from a person between two of their updates, kept in the database.

One row per chat and person (`Dialog`): which exchange is going on (`kind`: "newevent",
"join"…), its step, the answers so far, and when it lapses. Every update reads it, so an
exchange goes on where it was after a restart, or when its next update reaches the other
replica. Each step raises the row's version, and a step is taken only from the version it was
read at: two replicas handling two presses of one button take it once.

The API: `start`, `get`, `advance`, `finish`, `expire`. Answers are plain JSON; datetimes and
dates are kept as tagged ISO strings and come back as they went in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import outbox
from bot.domain.core import Unit, insert_new, run, table
from bot.domain.models import Dialog, OutboxKind, Priority

_DATETIME, _DATE = "__datetime__", "__date__"


@dataclass(frozen=True, slots=True)
class DialogView:
    """A dialog as read. `answers` is the caller's own copy: change it and `advance`."""

    chat_id: int
    user_id: int
    kind: str
    step: str
    language: str
    version: int
    expires_at: datetime
    expired: bool
    answers: dict[str, Any] = field(default_factory=dict)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {_DATE: value.isoformat()}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_DATETIME}:
            return datetime.fromisoformat(value[_DATETIME])
        if set(value) == {_DATE}:
            return date.fromisoformat(value[_DATE])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _view(row: Any, now: datetime) -> DialogView:
    """A row of the table (an ORM `Dialog` or a Core row of its columns) as read now."""
    return DialogView(chat_id=row.chat_id, user_id=row.user_id, kind=row.kind, step=row.step,
                      language=row.language, version=row.version, expires_at=row.expires_at,
                      expired=row.expires_at <= now, answers=_decode(row.answers or {}))


async def start(*, session: AsyncSession, chat_id: int, user_id: int, kind: str, step: str,
                now: datetime, ttl: timedelta, language: str = "fi",
                answers: Mapping[str, Any] | None = None) -> DialogView:
    """Begin an exchange, in place of whatever this person had going on in this chat. Its
    version goes on from the one it replaces, so that a step read from that one is not taken
    in this."""
    before = (await session.exec(delete(Dialog).where(
        col(Dialog.chat_id) == chat_id, col(Dialog.user_id) == user_id,
    ).returning(col(Dialog.version)))).first()
    row = Dialog(chat_id=chat_id, user_id=user_id, kind=kind, step=step,
                 answers=_encode(dict(answers or {})), language=language,
                 version=(before[0] if before else 0) + 1, expires_at=now + ttl, updated_at=now)
    # Two replicas starting one person's dialog at once: the first row stands.
    await session.exec(insert_new(session, Dialog).values(
        chat_id=row.chat_id, user_id=row.user_id, kind=row.kind, step=row.step,
        answers=row.answers, language=row.language, version=row.version,
        expires_at=row.expires_at, updated_at=row.updated_at))
    await session.commit()
    return _view(row, now)


async def get(*, session: Unit, chat_id: int, user_id: int, now: datetime
              ) -> DialogView | None:
    """The person's dialog in this chat (one that has lapsed too: `expired`), or None. Every
    private update reads it first: one statement, built once, on the primary key."""
    row = (await run(session, _ONE, {"chat_id": chat_id, "user_id": user_id})).first()
    return None if row is None else _view(row, now)


_DIALOG = table(Dialog).c
_ONE = sa_select(_DIALOG.chat_id, _DIALOG.user_id, _DIALOG.kind, _DIALOG.step,
                 _DIALOG.language, _DIALOG.version, _DIALOG.expires_at, _DIALOG.answers
                 ).where(_DIALOG.chat_id == bindparam("chat_id"),
                         _DIALOG.user_id == bindparam("user_id"))


async def advance(*, session: AsyncSession, dialog: DialogView, step: str, now: datetime,
                  ttl: timedelta, answers: Mapping[str, Any] | None = None
                  ) -> DialogView | None:
    """On to `step` with the answers so far (`dialog.answers` unless given); its clock starts
    again. None: the dialog moved on meanwhile (another update took this step, or it ended)."""
    kept = dict(dialog.answers if answers is None else answers)
    result = await session.exec(update(Dialog).where(
        col(Dialog.chat_id) == dialog.chat_id, col(Dialog.user_id) == dialog.user_id,
        col(Dialog.version) == dialog.version,
    ).values(step=step, answers=_encode(kept), version=dialog.version + 1,
             expires_at=now + ttl, updated_at=now))
    await session.commit()
    if result.rowcount != 1:
        return None
    return DialogView(chat_id=dialog.chat_id, user_id=dialog.user_id, kind=dialog.kind,
                      step=step, language=dialog.language, version=dialog.version + 1,
                      expires_at=now + ttl, expired=False, answers=kept)


async def finish(*, session: AsyncSession, dialog: DialogView, commit: bool = True) -> bool:
    """End the dialog as read. False: it had moved on already (taken by another update). With
    `commit=False` the end waits for the caller's commit, so that what the last step stores
    (a published event) and the end of the dialog are one: done once, whatever replica."""
    result = await session.exec(delete(Dialog).where(
        col(Dialog.chat_id) == dialog.chat_id, col(Dialog.user_id) == dialog.user_id,
        col(Dialog.version) == dialog.version))
    if commit:
        await session.commit()
    return bool(result.rowcount == 1)


async def forget(*, session: AsyncSession, user_id: int) -> None:
    """Every dialog of this person goes (/forget; in the caller's transaction): their answers
    so far may hold their words."""
    await session.exec(delete(Dialog).where(col(Dialog.user_id) == user_id))


async def expire(*, session: AsyncSession, now: datetime, notice: Iterable[str] = (),
                 limit: int = 200) -> list[DialogView]:
    """Lapsed dialogs ended, each once; for those of the kinds in `notice` the person is told
    (a "dialog_expired" note queued in the same transaction)."""
    told = set(notice)
    rows = list(await session.exec(select(Dialog).where(col(Dialog.expires_at) <= now)
                                   .order_by(col(Dialog.expires_at)).limit(limit)))
    ended = []
    for row in rows:
        view = _view(row, now)
        result = await session.exec(delete(Dialog).where(
            col(Dialog.chat_id) == row.chat_id, col(Dialog.user_id) == row.user_id,
            col(Dialog.version) == row.version))
        if result.rowcount != 1:
            continue
        if row.kind in told:
            outbox.add(session, kind=OutboxKind.NOTE, chat_id=row.chat_id, now=now,
                       priority=Priority.RELAY,
                       params={"template": "dialog_expired", "kind": row.kind,
                               "lang": row.language})
        ended.append(view)
    await session.commit()
    return ended
