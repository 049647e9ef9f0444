"""The helpers' roster: who helps, in which roles, team and languages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import LANGUAGES, ROLES
from bot.domain.core import run, table
from bot.domain.invites import INVITE_ROLES
from bot.domain.models import Helper, HelperRole, Staff


class RosterError(Exception):
    """The roster file cannot be used; the message says where and why."""


class HelperSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    telegram_id: int = Field(gt=0)
    name: str = Field(min_length=1, max_length=128)
    roles: list[str] = Field(min_length=1)
    team: str | None = Field(default=None, max_length=128)
    languages: list[str] = Field(default_factory=lambda: ["fi"])

    @field_validator("roles", "languages")
    @classmethod
    def _known(cls, values: list[str], info: ValidationInfo) -> list[str]:
        allowed = INVITE_ROLES if info.field_name == "roles" else LANGUAGES
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            what = (info.field_name or "value").rstrip("s")
            raise ValueError(f"unknown {what} {', '.join(unknown)} (known: {', '.join(allowed)})")
        return sorted(set(values)) if info.field_name == "roles" else values


def read_roster(path: Path) -> list[HelperSpec]:
    """Parse and validate a roster YAML file (see data/helpers.example.yaml)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RosterError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("helpers"), list):
        raise RosterError(f"{path}: expected a list under 'helpers:'")
    specs = []
    for number, item in enumerate(data["helpers"], start=1):
        try:
            specs.append(HelperSpec.model_validate(item))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "entry"
            message = problem["msg"].removeprefix("Value error, ")
            raise RosterError(f"{path}: helper {number}, {where}: {message}") from None
    ids = [s.telegram_id for s in specs]
    if len(ids) != len(set(ids)):
        raise RosterError(f"{path}: a telegram_id appears twice")
    return specs


async def import_helpers(*, session: AsyncSession, specs: list[HelperSpec]) -> int:
    """Create or update each helper and replace their roles; returns how many were imported.
    The same few statements however long the roster (one read, one delete, the writes); of
    two entries for one person the last counts."""
    specs = list({spec.telegram_id: spec for spec in specs}.values())
    ids = [spec.telegram_id for spec in specs]
    known = {helper.telegram_id: helper for helper in await session.exec(
        select(Helper).where(col(Helper.telegram_id).in_(ids)))}
    await session.exec(delete(HelperRole).where(col(HelperRole.helper_id).in_(ids)))
    for spec in specs:
        helper = known.get(spec.telegram_id) or Helper(telegram_id=spec.telegram_id,
                                                       name=spec.name)
        helper.name, helper.team, helper.languages = spec.name, spec.team, spec.languages
        session.add(helper)
        session.add_all(HelperRole(helper_id=spec.telegram_id, role=role) for role in spec.roles)
    await session.commit()
    return len(specs)


@dataclass(frozen=True, slots=True)
class HelperView:
    """A helper as the domain and the adapters see them (the queue's too); roles sorted,
    languages in the order given."""

    telegram_id: int
    name: str
    team: str | None
    roles: tuple[str, ...]
    languages: tuple[str, ...]
    available: bool
    chosen_language: str | None = None  # with /lang (Staff.language)
    telegram_language: str | None = None  # their Telegram app's, as last seen

    def language(self, default: str) -> str:
        """The one language the bot speaks to this helper in, privately and in their commands:
        their /lang choice, else their Telegram app's if it is one of ours, else the first
        language they help in, else `default` (the helpers' language)."""
        return spoken_language(self.chosen_language, self.telegram_language, self.languages,
                               default)

    @property
    def is_helper(self) -> bool:
        """Answers tickets (a lead only reads the reports)."""
        return any(role in ROLES for role in self.roles)


def spoken_language(chosen: str | None, telegram_language: str | None,
                    languages: Sequence[str], default: str) -> str:
    """`HelperView.language` from its parts (a private card reads them with the ticket)."""
    if chosen in LANGUAGES:
        return chosen
    code = (telegram_language or "")[:2].lower()
    if code in LANGUAGES:
        return code
    return languages[0] if languages else default


async def helper_views(session: AsyncSession, *where: Any, order_by: tuple[Any, ...] = ()
                       ) -> list[HelperView]:
    """Helpers with all their roles, in one query; `where` chooses the helpers."""
    rows = await session.exec(select(Helper, HelperRole.role, Staff.language,
                                     Staff.telegram_language).outerjoin(
        HelperRole, col(HelperRole.helper_id) == col(Helper.telegram_id),
    ).outerjoin(Staff, col(Staff.telegram_id) == col(Helper.telegram_id),
                ).where(*where).order_by(*order_by))
    return _views((h.telegram_id, h.name, h.team, h.languages, h.available, role, chosen, code)
                  for h, role, chosen, code in rows)


def _views(rows: Iterable[Sequence[Any]]) -> list[HelperView]:
    """(telegram_id, name, team, languages, available, role, chosen language, Telegram
    language) rows, a helper's roles together, as views in the order the helpers first come."""
    found: dict[int, Sequence[Any]] = {}
    roles: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row[0], row)
        held = roles.setdefault(row[0], [])
        if row[5] is not None:
            held.append(row[5])
    return [HelperView(telegram_id=h[0], name=h[1], team=h[2], roles=tuple(sorted(roles[h[0]])),
                       languages=tuple(h[3] or ()), available=h[4], chosen_language=h[6],
                       telegram_language=h[7])
            for h in found.values()]


# The look-ups each question and each card make, built once (bot.domain.core): a helper by id,
# and the helpers of a role, each with all their roles.
_HELPER, _ROLE, _STAFF = table(Helper), table(HelperRole), table(Staff)
_WITH_ROLES = sa_select(_HELPER.c.telegram_id, _HELPER.c.name, _HELPER.c.team,
                        _HELPER.c.languages, _HELPER.c.available, _ROLE.c.role,
                        _STAFF.c.language, _STAFF.c.telegram_language).select_from(
    _HELPER.outerjoin(_ROLE, _ROLE.c.helper_id == _HELPER.c.telegram_id)
    .outerjoin(_STAFF, _STAFF.c.telegram_id == _HELPER.c.telegram_id))
_ONE = _WITH_ROLES.where(_HELPER.c.telegram_id == bindparam("user_id"))
_HOLDING = _ROLE.alias("holding")
_OF_ROLE = _WITH_ROLES.where(_HELPER.c.telegram_id.in_(
    sa_select(_HOLDING.c.helper_id).where(_HOLDING.c.role == bindparam("role"))))
_EVERYONE = _WITH_ROLES


async def roster(*, session: AsyncSession) -> list[HelperView]:
    """Everyone in the roster, by Telegram id."""
    return await helper_views(session, order_by=(col(Helper.telegram_id),))


async def helpers_with_role(*, session: AsyncSession, role: str) -> list[HelperView]:
    """The role's helpers, by name, each with all their roles."""
    return await helper_views(session, col(Helper.telegram_id).in_(
        select(HelperRole.helper_id).where(HelperRole.role == role)),
        order_by=(col(Helper.name),))


async def with_role(session: AsyncSession, role: str | None) -> list[HelperView]:
    """The role's helpers (None: everyone on the roster), each with all their roles, in no
    particular order; one statement built once."""
    if role is None:
        return _views(await run(session, _EVERYONE))
    return _views(await run(session, _OF_ROLE, {"role": role}))


async def helper(*, session: AsyncSession, user_id: int) -> HelperView | None:
    """The helper (or lead) with this Telegram id; None when they are not on the roster."""
    found = _views(await run(session, _ONE, {"user_id": user_id}))
    return found[0] if found else None


async def set_available(*, session: AsyncSession, helper_id: int, available: bool,
                        commit: bool = True) -> bool:
    """/away and /back (and an admin's button): whether new tickets call this helper. One
    conditional UPDATE: True when it changed something (two presses at once: one does).
    `commit=False` leaves the transaction open for what goes with the change."""
    changed = await session.exec(update(Helper).where(
        col(Helper.telegram_id) == helper_id, col(Helper.available) != available,
    ).values(available=available))
    if commit:
        await session.commit()
    return changed.rowcount == 1
