"""Helpers' corrections teach the router.

When a helper passes a ticket to another role or topic, the question's basic forms are kept with
the role and topic it went to, and from then on count as evidence for them: a later question with
mostly the same words is routed where the helper sent the first one. Kept are the forms only:
never the question's text, nor a word written with a capital that the knowledge does not know
(a name, most likely). A person's /forget removes the corrections learnt from their questions.
"""

from __future__ import annotations

import re

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain.models import RoutingCorrection, Ticket, TopicLog, utcnow
from bot.domain.routing import Correction, Router

KEEP = 2000  # the router learns from this many latest corrections
MAX_FORMS = 24
_WORD = re.compile(r"[^\W\d_]+")


def _maybe_name(router: Router, word: str, language: str) -> bool:
    """A word written with a capital that the knowledge does not know: `Matti`, not `Moodlessa`
    or `Tiimipalaveri` (acronyms such as `HOKS` are no names)."""
    if not word[0].isupper() or word.isupper():
        return False
    lowered = word.lower()
    base = router.lemmas.lemma(lowered, language)
    return not any(len(f) >= 5 or f in (lowered, base)
                   for f in router.seen_forms(lowered, language))


def question_forms(router: Router, text: str, language: str) -> list[str]:
    """The question's content words in their basic forms, without names or numbers."""
    kept = [w for w in _WORD.findall(text) if not _maybe_name(router, w, language)]
    return router.content_forms(" ".join(kept), language)[:MAX_FORMS]


async def learn(*, session: AsyncSession, router: Router, ticket_id: int) -> bool:
    """A helper rerouted the ticket: keep its forms for its new role and topic (one correction
    per ticket, the latest), and let this router use it at once."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not ticket.text:
        return False
    forms = question_forms(router, ticket.text, ticket.language)
    if not forms:
        return False
    log = (await session.exec(select(TopicLog).where(TopicLog.ticket_id == ticket_id))).first()
    from_role = (log.rerouted_from_role if log and log.rerouted_from_role else ticket.role)
    row = (await session.exec(select(RoutingCorrection).where(
        RoutingCorrection.ticket_id == ticket_id))).first() or RoutingCorrection(
        ticket_id=ticket_id, language=ticket.language, from_role=from_role, role=ticket.role,
        topic=ticket.topic)
    row.at, row.role, row.topic, row.forms = utcnow(), ticket.role, ticket.topic, forms
    session.add(row)
    await session.commit()
    await refresh(session=session, router=router)
    return True


async def refresh(*, session: AsyncSession, router: Router) -> None:
    """The router uses the latest corrections from now on (at start, after each reroute, and
    periodically for corrections made by another process)."""
    rows = await session.exec(select(RoutingCorrection).order_by(
        col(RoutingCorrection.at).desc(), col(RoutingCorrection.id).desc()).limit(KEEP))
    router.set_corrections([Correction(r.role, r.topic, frozenset(r.forms)) for r in rows])


async def forget_asker(*, session: AsyncSession, telegram_id: int) -> None:
    """/forget: the corrections learnt from the person's questions go (in the caller's
    transaction)."""
    ids = list(await session.exec(select(Ticket.id).where(col(Ticket.asker_id) == telegram_id)))
    if ids:
        await session.exec(delete(RoutingCorrection).where(
            col(RoutingCorrection.ticket_id).in_(ids)))
