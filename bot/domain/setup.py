"""The desk's setup made in Telegram, kept in the database so that every replica agrees: the
helpers' group, the announcement channels, who is an admin or organiser (roster roles), the
staff code of staff-only mode and who came with it. The environment's variables still work and
win (bot.config.Settings.with_desk)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.core import insert_new
from bot.domain.invites import ADMIN, ORGANISER
from bot.domain.models import (
    ChannelStatus,
    DeskChannel,
    DeskSetting,
    Helper,
    HelperRole,
    Staff,
    StaffPass,
    saved_id,
)

logger = logging.getLogger(__name__)

HELPERS_CHAT = "helpers_chat_id"
STAFF_CODE = "staff_code"
STAFF_PREFIX = "s"  # a staff code; invitations begin with "i" (bot.domain.invites)


@dataclass(frozen=True, slots=True)
class Links:
    """What the database adds to the environment's settings."""

    helpers_chat: int | None = None
    channels: tuple[int, ...] = ()
    admins: frozenset[int] = frozenset()
    organisers: frozenset[int] = frozenset()


async def _setting(session: AsyncSession, key: str) -> str | None:
    row = await session.get(DeskSetting, key)
    return row.value if row is not None else None


async def _put(session: AsyncSession, key: str, value: str, now: datetime) -> None:
    await session.exec(insert_new(session, DeskSetting).values(key=key, value=value,
                                                               updated_at=now))
    await session.exec(update(DeskSetting).where(col(DeskSetting.key) == key).values(
        value=value, updated_at=now))


async def links(*, session: AsyncSession) -> Links:
    chat = await _setting(session, HELPERS_CHAT)
    channels = (await session.exec(select(DeskChannel.chat_id).where(
        DeskChannel.status == ChannelStatus.ANNOUNCE).order_by(col(DeskChannel.id)))).all()
    roles = (await session.exec(select(HelperRole.helper_id, HelperRole.role).where(
        col(HelperRole.role).in_([ADMIN, ORGANISER])))).all()
    return Links(
        helpers_chat=int(chat) if chat else None, channels=tuple(channels),
        admins=frozenset(user for user, role in roles if role == ADMIN),
        organisers=frozenset(user for user, role in roles if role == ORGANISER))


async def is_admin(*, session: AsyncSession, user_id: int) -> bool:
    """An admin of the roster (the environment's admins are checked by the caller)."""
    return (await session.exec(select(HelperRole.role).where(
        HelperRole.helper_id == user_id, HelperRole.role == ADMIN))).first() is not None


async def link_helpers_group(*, session: AsyncSession, chat_id: int, now: datetime) -> None:
    await _put(session, HELPERS_CHAT, str(chat_id), now)
    await session.commit()
    logger.info("the helpers' group was linked")


# --- channels --------------------------------------------------------------------------------

async def offer_channel(*, session: AsyncSession, chat_id: int, asked: int, now: datetime
                        ) -> int | None:
    """The bot was made an admin of a channel: remember it and whom to ask. Returns the row to
    ask about, or None when it is already an announcement channel."""
    await session.exec(insert_new(session, DeskChannel).values(
        chat_id=chat_id, status=ChannelStatus.OFFERED, asked=asked, updated_at=now))
    row = (await session.exec(select(DeskChannel).where(DeskChannel.chat_id == chat_id))).one()
    if row.status == ChannelStatus.ANNOUNCE:
        await session.commit()
        return None
    row.status, row.asked, row.updated_at = ChannelStatus.OFFERED, asked, now
    session.add(row)
    await session.commit()
    return saved_id(row)


async def decide_channel(*, session: AsyncSession, offer_id: int, announce: bool,
                         admin_id: int, now: datetime) -> int | None:
    """The asked admin's answer; returns the channel's chat id, or None if no longer asked
    (or asked of someone else)."""
    row = await session.get(DeskChannel, offer_id)
    if row is None or row.status != ChannelStatus.OFFERED or row.asked != admin_id:
        await session.commit()
        return None
    row.status = ChannelStatus.ANNOUNCE if announce else ChannelStatus.DECLINED
    row.updated_at = now
    session.add(row)
    await session.commit()
    logger.info("a channel was %s", "linked for announcements" if announce else "declined")
    return row.chat_id


async def channel_gone(*, session: AsyncSession, chat_id: int) -> None:
    """The bot is no longer an admin there: it is no announcement channel any more."""
    await session.exec(delete(DeskChannel).where(col(DeskChannel.chat_id) == chat_id))
    await session.commit()


# --- who may ask (staff-only mode) -------------------------------------------------------------

async def staff_code(*, session: AsyncSession, now: datetime) -> str:
    """The staff code in use (made the first time it is needed)."""
    code = await _setting(session, STAFF_CODE)
    if code is None:
        await session.exec(insert_new(session, DeskSetting).values(
            key=STAFF_CODE, value=STAFF_PREFIX + secrets.token_urlsafe(12), updated_at=now))
        await session.commit()
        code = await _setting(session, STAFF_CODE)
        assert code is not None
    return code


async def rotate_staff_code(*, session: AsyncSession, now: datetime) -> str:
    """A new staff code: the old one lets nobody new in; those already in stay."""
    code = STAFF_PREFIX + secrets.token_urlsafe(12)
    await _put(session, STAFF_CODE, code, now)
    await session.commit()
    logger.info("the staff code was rotated")
    return code


def _same(a: str, b: str) -> bool:
    # Compared as digests: equal lengths, and no timing tells how much of a guess was right.
    return secrets.compare_digest(hashlib.sha256(a.encode()).digest(),
                                  hashlib.sha256(b.encode()).digest())


async def admit(*, session: AsyncSession, code: str, user_id: int, now: datetime) -> bool:
    """A person came with a code: admitted if it is the staff code in use."""
    current = await _setting(session, STAFF_CODE)
    if current is None or not _same(code, current):
        await session.commit()
        return False
    await session.exec(insert_new(session, StaffPass).values(telegram_id=user_id,
                                                             admitted_at=now))
    await session.commit()
    return True


async def admitted(*, session: AsyncSession, user_id: int) -> bool:
    """May ask in staff-only mode: came with the staff code, or is in the roster."""
    return await session.get(StaffPass, user_id) is not None \
        or await session.get(Helper, user_id) is not None


# --- teams for the new helper's buttons --------------------------------------------------------

def team_key(team: str) -> str:
    """A team's short key for a button (names may be long or have spaces)."""
    return hashlib.sha256(team.encode()).hexdigest()[:10]


STAFF_TEAM_SEEN = 2  # people who wrote a team with /team before it is offered as a button


async def known_teams(*, session: AsyncSession, limit: int = 8) -> list[str]:
    """The teams the desk knows, most common first: the roster's, and those at least
    STAFF_TEAM_SEEN staff members gave with /team (one person's typo or joke is no button on
    everyone's onboarding)."""
    helpers = [t for t in (await session.exec(select(Helper.team))).all() if t]
    counts: dict[str, int] = {}
    for team in [*helpers, *(await session.exec(select(Staff.team))).all()]:
        if team:
            counts[team] = counts.get(team, 0) + 1
    vouched = set(helpers)
    return sorted((t for t in counts if t in vouched or counts[t] >= STAFF_TEAM_SEEN),
                  key=lambda t: (-counts[t], t.casefold()))[:limit]


async def team_by_key(*, session: AsyncSession, key: str) -> str | None:
    return next((t for t in await known_teams(session=session, limit=1000)
                 if team_key(t) == key), None)


def keyed(teams: Iterable[str]) -> list[tuple[str, str]]:
    return [(team_key(t), t) for t in teams]
