"""Invitations by link: an admin chooses roles, and whoever opens the link first is put in the
roster with exactly those roles. A code works once, for seven days, can be revoked, and only
its SHA-256 is stored: the database never holds a link that works. The admin who made it
cannot use it up themselves (a tap to check it would turn the colleague away), and is told
when it has been used."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import col, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import LANGUAGES, LEAD, ROLES
from bot.domain import outbox
from bot.domain.models import Helper, HelperRole, Invite, OutboxKind, Priority, saved_id

logger = logging.getLogger(__name__)

ADMIN = "admin"  # invites, manages the roster, links the chats
ORGANISER = "organiser"  # publishes events and bulletins
INVITE_ROLES: tuple[str, ...] = (*ROLES, LEAD, ORGANISER, ADMIN)
VALID_FOR = timedelta(days=7)
PREFIX = "i"  # an invitation's code; the staff code has its own (bot.domain.setup)
# Telegram's deep-link payload: 1–64 of A-Z a-z 0-9 _ -.
PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Refusal(StrEnum):
    UNKNOWN = "unknown"  # never issued (mistyped, forged)
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    OWN = "own"  # its maker opened it: it is for someone else, and stays open for them


@dataclass(frozen=True, slots=True)
class Enrolled:
    invite_id: int
    roles: tuple[str, ...]  # everything the person now has
    granted: tuple[str, ...]  # what this invitation gave


@dataclass(frozen=True, slots=True)
class OpenInvite:
    id: int
    roles: tuple[str, ...]
    expires_at: datetime


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def parse_roles(words: Iterable[str]) -> tuple[str, ...] | None:
    """The roles named, each once in the usual order; None if any is unknown or none is named."""
    chosen = {word.strip().lower().strip(",") for word in words if word.strip(" ,")}
    if not chosen or not chosen <= set(INVITE_ROLES):
        return None
    return tuple(role for role in INVITE_ROLES if role in chosen)


def is_invitation(payload: str) -> bool:
    return payload.startswith(PREFIX)


async def create(*, session: AsyncSession, roles: Iterable[str], created_by: int | None,
                 now: datetime) -> str:
    """A new invitation for `roles`; returns its code (shown once, never stored)."""
    chosen = parse_roles(roles)
    if chosen is None:
        raise ValueError("unknown roles")
    code = PREFIX + secrets.token_urlsafe(18)  # 24 random characters, 144 bits
    session.add(Invite(code_hash=code_hash(code), roles=list(chosen), created_by=created_by,
                       created_at=now, expires_at=now + VALID_FOR))
    await session.commit()
    logger.info("an invitation was created for %s", ", ".join(chosen))
    return code


async def redeem(*, session: AsyncSession, code: str, user_id: int, name: str, language: str,
                 now: datetime) -> Enrolled | Refusal:
    """Use the invitation: taken with one conditional UPDATE (two people pressing at once:
    one wins), then the person is in the roster with its roles, in the same transaction."""
    if not PAYLOAD.match(code):
        return Refusal.UNKNOWN
    hashed = code_hash(code)
    taken = await session.exec(update(Invite).where(
        col(Invite.code_hash) == hashed, col(Invite.used_at).is_(None),
        col(Invite.revoked_at).is_(None), col(Invite.expires_at) > now,
        or_(col(Invite.created_by).is_(None), col(Invite.created_by) != user_id),
    ).values(used_at=now, used_by=user_id))
    invite = (await session.exec(select(Invite).where(Invite.code_hash == hashed))).first()
    if taken.rowcount != 1 or invite is None:
        await session.commit()
        if invite is None:
            logger.info("an unknown invitation code was refused")
            return Refusal.UNKNOWN
        why = Refusal.USED if invite.used_at is not None else (
            Refusal.REVOKED if invite.revoked_at is not None else
            Refusal.EXPIRED if invite.expires_at <= now else Refusal.OWN)
        logger.info("invitation %d refused: %s", saved_id(invite), why)
        return why
    helper = await session.get(Helper, user_id)
    if helper is None:
        helper = Helper(telegram_id=user_id, name=(name.strip() or "?")[:128],
                        languages=[language if language in LANGUAGES else LANGUAGES[0]])
        session.add(helper)
    had = set((await session.exec(select(HelperRole.role).where(
        HelperRole.helper_id == user_id))).all())
    granted = tuple(invite.roles)
    session.add_all(HelperRole(helper_id=user_id, role=role) for role in granted
                    if role not in had)
    if invite.created_by is not None:  # its maker hears who came, with the enrolment
        outbox.add(session, kind=OutboxKind.NOTE, chat_id=invite.created_by, now=now,
                   priority=Priority.ALERT, params={"template": "invite_used",
                                                    "helper": user_id, "roles": list(granted)})
    await session.commit()
    logger.info("invitation %d used: %s granted", saved_id(invite), ", ".join(granted))
    return Enrolled(saved_id(invite), tuple(r for r in INVITE_ROLES if r in had | set(granted)),
                    granted)


async def used_by(*, session: AsyncSession, invite_id: int) -> int | None:
    """Who used the invitation (their buttons of the welcome carry its id)."""
    invite = await session.get(Invite, invite_id)
    return invite.used_by if invite is not None else None


async def open_invites(*, session: AsyncSession, now: datetime) -> list[OpenInvite]:
    """Invitations not used, revoked or expired, oldest first."""
    rows = await session.exec(select(Invite).where(
        col(Invite.used_at).is_(None), col(Invite.revoked_at).is_(None),
        col(Invite.expires_at) > now).order_by(col(Invite.id)))
    return [OpenInvite(saved_id(r), tuple(r.roles), r.expires_at) for r in rows]


async def revoke(*, session: AsyncSession, invite_id: int, now: datetime) -> bool:
    """Revoke an open invitation; False if it was no longer open."""
    result = await session.exec(update(Invite).where(
        col(Invite.id) == invite_id, col(Invite.used_at).is_(None),
        col(Invite.revoked_at).is_(None)).values(revoked_at=now))
    await session.commit()
    if result.rowcount == 1:
        logger.info("invitation %d revoked", invite_id)
    return result.rowcount == 1
