"""Changes to the roster made in Telegram (/helpers, a new helper's own buttons): roles,
languages, team, away, removal. Each takes effect at once: every check reads the roster."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import LANGUAGES
from bot.domain import outbox, roster
from bot.domain.invites import INVITE_ROLES
from bot.domain.models import (
    Helper,
    HelperRole,
    Invite,
    OutboxKind,
    Priority,
    Ticket,
    TicketStatus,
    utcnow,
)
from bot.domain.roster import HelperView, helper_views
from bot.domain.tickets import changes
from bot.domain.tickets.views import Desk

logger = logging.getLogger(__name__)


async def person(*, session: AsyncSession, user_id: int) -> HelperView | None:
    found = await helper_views(session, col(Helper.telegram_id) == user_id)
    return found[0] if found else None


async def everyone(*, session: AsyncSession) -> list[HelperView]:
    """The roster by name."""
    return sorted(await helper_views(session), key=lambda h: (h.name.casefold(), h.telegram_id))


async def only_admin(*, session: AsyncSession, user_id: int) -> bool:
    """Is the person the roster's one admin? (An admin of the environment is counted by the
    caller.) Removing them, or taking their admin role, would leave nobody to manage the desk
    from Telegram."""
    admins = set((await session.exec(select(HelperRole.helper_id).where(
        col(HelperRole.role) == "admin"))).all())
    return admins == {user_id}


async def toggle_role(*, session: AsyncSession, user_id: int, role: str) -> HelperView | None:
    """Give the role, or take it away (never the last one: remove the person instead)."""
    if role not in INVITE_ROLES or await session.get(Helper, user_id) is None:
        await session.commit()
        return None
    roles = set((await session.exec(select(HelperRole.role).where(
        HelperRole.helper_id == user_id))).all())
    if role in roles and len(roles) > 1:
        await session.exec(delete(HelperRole).where(col(HelperRole.helper_id) == user_id,
                                                    col(HelperRole.role) == role))
        if role == "admin":  # what they could grant goes with what they may do
            await _revoke_their_invitations(session, user_id)
        logger.info("a roster role was taken away: %s", role)
    elif role not in roles:
        session.add(HelperRole(helper_id=user_id, role=role))
        logger.info("a roster role was given: %s", role)
    await session.commit()
    return await person(session=session, user_id=user_id)


async def toggle_language(*, session: AsyncSession, user_id: int, language: str
                          ) -> HelperView | None:
    """Add or drop a language the helper answers in (never the last one)."""
    helper = await session.get(Helper, user_id)
    if helper is None or language not in LANGUAGES:
        await session.commit()
        return None
    chosen = list(helper.languages or [])
    if language in chosen and len(chosen) > 1:
        chosen.remove(language)
    elif language not in chosen:
        chosen.append(language)
    helper.languages = [code for code in LANGUAGES if code in chosen]
    session.add(helper)
    await session.commit()
    return await person(session=session, user_id=user_id)


async def set_team(*, session: AsyncSession, user_id: int, team: str | None) -> bool:
    helper = await session.get(Helper, user_id)
    if helper is None:
        await session.commit()
        return False
    helper.team = " ".join(team.split())[:128] if team else None
    session.add(helper)
    await session.commit()
    return True


async def set_away(*, session: AsyncSession, user_id: int, away: bool, by: int,
                   now: datetime) -> bool:
    """An admin (`by`) marks someone away or back. A helper other than the admin is told, in
    the transaction that marks them (they would wonder why no question calls them); an
    organiser or an admin without a helper's role is asked nothing by questions anyway. True
    when it changed something."""
    changed = await roster.set_available(session=session, helper_id=user_id,
                                         available=not away, commit=False)
    if changed:
        view = await roster.helper(session=session, user_id=user_id)
        if view is not None and view.is_helper and user_id != by:
            outbox.add(session, kind=OutboxKind.NOTE, chat_id=user_id, now=now,
                       priority=Priority.ALERT,
                       params={"template": "marked_away" if away else "marked_back"})
        logger.info("a helper was marked %s by an admin", "away" if away else "available")
    await session.commit()
    return changed


async def remove(*, session: AsyncSession, user_id: int, now: datetime, desk: Desk
                 ) -> list[int] | None:
    """Take the person out of the roster: every ticket they hold goes back to the queue (its
    role is called again and the asker is told), then their roles and row go. Returns the
    tickets released; None if they were not in the roster."""
    row = await session.get(Helper, user_id)
    if row is None:
        await session.commit()
        return None
    name = row.name  # for the notices of the tickets released: the roster will not have it
    view = await roster.helper(session=session, user_id=user_id)
    lang = view.language("") if view is not None else ""  # their notice's ("": the helpers')
    # Their roles go first, in a transaction of their own: from then on no replica counts them
    # as a helper, so no claim can slip in between the release and the removal. The
    # invitations they made go too (an admin removed could otherwise come back by their own).
    await session.exec(delete(HelperRole).where(col(HelperRole.helper_id) == user_id))
    await _revoke_their_invitations(session, user_id)
    await session.commit()
    held = (await session.exec(select(Ticket.id).where(
        col(Ticket.status) == TicketStatus.CLAIMED, col(Ticket.claimed_by) == user_id))).all()
    await session.commit()
    released = []
    for ticket_id in held:
        assert ticket_id is not None
        if await changes.release(session=session, ticket_id=ticket_id, helper_id=user_id,
                                 now=now, desk=desk, removed=name) is not None:
            released.append(ticket_id)
    await session.exec(delete(Helper).where(col(Helper.telegram_id) == user_id))
    outbox.add(session, kind=OutboxKind.NOTE, chat_id=user_id, now=now, priority=Priority.ALERT,
               params={"template": "off_roster", "lang": lang})  # told, with the removal
    await session.commit()
    logger.info("a person was removed from the roster; %d tickets back in the queue",
                len(released))
    return released


async def _revoke_their_invitations(session: AsyncSession, user_id: int) -> None:
    """The open invitations the person made can no longer be used (in the caller's
    transaction)."""
    await session.exec(update(Invite).where(
        col(Invite.created_by) == user_id, col(Invite.used_at).is_(None),
        col(Invite.revoked_at).is_(None)).values(revoked_at=utcnow()))
