"""The web layer: thin aiohttp views over the domain — the Telegram webhook, health, readiness
and metrics, reports for the school's dashboards, and the events calendar.

Views take what they need from `request.app[SERVICES]`; nothing here knows about Telegram.
"""

from __future__ import annotations

import secrets

from aiohttp import web
from telegram.ext import Application

from bot.calendar import calendar
from bot.domain.events.views import upcoming
from bot.domain.reports import Period, PeriodError, fold, monthly_report
from bot.report_formats import as_csv, as_json
from bot.services import Services

SERVICES = web.AppKey("services", Services)
APPLICATION = web.AppKey("application", Application)
MAX_UPDATE_BYTES = 1_000_000


async def webhook_view(request: web.Request) -> web.Response:
    """/telegram/webhook: Telegram's POST. The secret header is checked in constant time; the
    update is stored before the 200, and one seen before is not handled again."""
    services, application = request.app[SERVICES], request.app[APPLICATION]
    secret = services.settings.webhook_secret
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if secret is None or not secrets.compare_digest(given.encode(),
                                                    secret.get_secret_value().encode()):
        raise web.HTTPForbidden(text="wrong or missing secret token")
    if request.content_length and request.content_length > MAX_UPDATE_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPDATE_BYTES,
                                            actual_size=request.content_length)
    try:
        payload = await request.json()
        update_id = int(payload["update_id"])
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="not a Telegram update") from None
    update = await application.bot_data["inbox"].receive(
        {**payload, "update_id": update_id}, application.bot)
    if update is not None:
        await application.update_queue.put(update)
    return web.Response(text="ok")


async def healthz(_: web.Request) -> web.Response:
    """Alive: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers, its schema is current, and the bot is running."""
    services = request.app[SERVICES]
    problems = []
    try:
        if not await services.db.schema_is_current():
            problems.append("database schema is not at the newest migration")
    except Exception as exc:  # any failure to reach the database
        problems.append(f"database unreachable ({type(exc).__name__})")
    application = request.app.get(APPLICATION)
    if application is not None and not application.running:
        problems.append("bot not running")
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


async def metrics_view(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.db.reading() as session:
        body = await services.metrics.render(session, services.clock(), services.forum)
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def _authorised(request: web.Request, services: Services) -> None:
    """The report token, only in the `Authorization: Bearer` header: a token in the address
    would be written to every proxy's access log."""
    token = services.settings.report_token
    if token is None:
        raise web.HTTPNotFound(text="reports over the web are not enabled")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode(), token.get_secret_value().encode()):
        raise web.HTTPUnauthorized(
            text="send the report token as Authorization: Bearer TOKEN",
            headers={"WWW-Authenticate": 'Bearer realm="peerdesk reports"'})


async def report_view(request: web.Request) -> web.Response:
    """/reports/2026-11.json or .csv: a month's figures, small ones folded."""
    services = request.app[SERVICES]
    _authorised(request, services)
    try:
        period = Period.month(request.match_info["period"], services.settings.tz)
    except PeriodError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    async with services.db.reading() as session:
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
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics_view, name="metrics")
    app.router.add_get(r"/reports/{period}.{format:json|csv}", report_view, name="report")
    app.router.add_get("/calendar.ics", calendar_view, name="calendar")
    if APPLICATION in app:
        app.router.add_post("/telegram/webhook", webhook_view, name="webhook")


def init_app(services: Services, application: Application | None = None) -> web.Application:
    """The one web application: health, metrics, reports, calendar, and — given the bot's
    Application — the Telegram webhook."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[SERVICES] = services
    if application is not None:
        app[APPLICATION] = application
    setup_routes(app)
    return app
