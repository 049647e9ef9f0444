"""The web layer: thin aiohttp views over the domain (reports for the school's dashboards, the
events calendar).

Views take what they need from `request.app[SERVICES]`; nothing here knows about Telegram.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from bot.calendar import calendar
from bot.domain.events import upcoming
from bot.domain.reports import Period, PeriodError, fold, monthly_report
from bot.report_formats import as_csv, as_json
from bot.services import Services

SERVICES = web.AppKey("services", Services)


def _authorised(request: web.Request, services: Services) -> None:
    token = services.settings.report_token
    if token is None:
        raise web.HTTPNotFound(text="reports over the web are not enabled")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() \
        or request.query.get("token", "")
    if not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise web.HTTPForbidden(text="a valid report token is needed")


async def report_view(request: web.Request) -> web.Response:
    """/reports/2026-11.json or .csv: a month's figures, small ones folded."""
    services = request.app[SERVICES]
    _authorised(request, services)
    try:
        period = Period.month(request.match_info["period"], services.settings.tz)
    except PeriodError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    async with services.db.session() as session:
        report = fold(await monthly_report(session=session, period=period),
                      services.settings.report_min_count)
    if request.match_info["format"] == "csv":
        return web.Response(
            body=as_csv(report, services, services.settings.helpers_language),
            content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="peerdesk-{period.label}.csv"'})
    return web.Response(text=as_json(report), content_type="application/json")


async def calendar_view(request: web.Request) -> web.Response:
    """/calendar.ics: every upcoming event, to subscribe to in a calendar app."""
    services = request.app[SERVICES]
    async with services.db.session() as session:
        events = await upcoming(session=session, now=services.clock(), limit=500)
    return web.Response(body=calendar(events, "peerdesk"), content_type="text/calendar",
                        charset="utf-8")


def setup_routes(app: web.Application) -> None:
    app.router.add_get(r"/reports/{period}.{format:json|csv}", report_view, name="report")
    app.router.add_get("/calendar.ics", calendar_view, name="calendar")


def init_app(services: Services) -> web.Application:
    app = web.Application()
    app[SERVICES] = services
    setup_routes(app)
    return app
