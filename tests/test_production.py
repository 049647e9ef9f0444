"""Production: `peerdesk serve` behind a webhook, health and metrics, durable updates, data
protection, and the compose file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import pytest
import pytest_asyncio
import yaml
from sqlmodel import select

from bot.config import PROJECT_ROOT, load_settings
from bot.domain import privacy
from bot.domain.models import InboundUpdate, Rsvp, Staff, Ticket, TicketMessage, TopicLog
from bot.runner import run_webhook
from bot.sandbox.server import SANDBOX_TOKEN, Sandbox, serve
from bot.services import Services
from tests.conftest import Running
from tests.test_bot_helpers import free_port

SECRET = "webhook-secret_123"


@dataclass
class Served:
    sandbox: Sandbox
    url: str
    services_url: str


@pytest_asyncio.fixture
async def served(database_url: str) -> AsyncIterator[Served]:
    """`peerdesk serve` (run_webhook) in this process, against the sandbox, on a real port."""
    sandbox = Sandbox()
    runner = await serve(sandbox, "127.0.0.1", 0)
    api = f"http://127.0.0.1:{runner.addresses[0][1]}"
    port = free_port()
    settings = load_settings(
        database_url=database_url, telegram_token=SANDBOX_TOKEN, telegram_api_url=api,
        webhook_url=f"http://127.0.0.1:{port}", webhook_secret=SECRET, web_port=port)
    stop = asyncio.Event()
    task = asyncio.create_task(run_webhook(settings, stop))
    try:  # starting includes a migration in a child process: slow on a busy machine
        await sandbox.wait_until(lambda: sandbox.webhook is not None, timeout=60)
        yield Served(sandbox, f"http://127.0.0.1:{port}", database_url)
    finally:
        stop.set()
        await task
        await runner.cleanup()


def update(update_id: int, text: str, user: int = 7001) -> dict:
    person = {"id": user, "is_bot": False, "first_name": "Eva", "language_code": "fi"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1795420800, "from": person, "text": text,
        "chat": {"id": user, "type": "private", "first_name": "Eva"}}}


async def rows(database_url: str, model: type) -> list:
    from bot.storage import Database

    db = Database(database_url)
    try:
        async with db.session() as session:
            return list(await session.exec(select(model)))
    finally:
        await db.dispose()


async def test_serve_registers_the_webhook_and_answers_through_it(served: Served) -> None:
    assert served.sandbox.webhook == {"url": f"{served.url}/telegram/webhook",
                                      "secret_token": SECRET}
    served.sandbox.user(7001, "Eva")
    await served.sandbox.send(7001, "Miten tiimin työnjako kannattaa sopia?")
    (ack,) = await served.sandbox.wait_for(7001)
    assert ack["text"].startswith("Kiitos! Kysymyksesi on tallennettu numerolla #1.")
    assert served.sandbox.webhook_answers == [200]


async def test_a_wrong_or_missing_secret_gets_403_and_stores_nothing(served: Served) -> None:
    async with aiohttp.ClientSession() as client:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with client.post(f"{served.url}/telegram/webhook", json=update(50, "Hei"),
                                   headers=headers) as response:
                assert response.status == 403
        async with client.post(f"{served.url}/telegram/webhook", data=b"{not json",
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            assert response.status == 400
    assert await rows(served.services_url, InboundUpdate) == []
    assert await rows(served.services_url, Ticket) == []


@pytest.mark.races
async def test_the_same_update_twice_is_handled_once(served: Served) -> None:
    served.sandbox.user(7001, "Eva")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession() as client:
        answers = await asyncio.gather(*(
            client.post(f"{served.url}/telegram/webhook",
                        json=update(77, "Projektori ei näytä kuvaa"), headers=headers)
            for _ in range(3)))
    assert [a.status for a in answers] == [200, 200, 200]
    await served.sandbox.wait_for(7001)
    await asyncio.sleep(0.3)
    assert len(served.sandbox.bot_messages(7001)) == 1
    (stored,) = await rows(served.services_url, InboundUpdate)
    assert (stored.update_id, stored.status, stored.payload) == (77, "done", None)
    assert len(await rows(served.services_url, Ticket)) == 1


async def test_health_readiness_and_metrics(served: Served) -> None:
    served.sandbox.user(7001, "Eva")
    await served.sandbox.send(7001, "Unohdin Wilman salasanan")
    await served.sandbox.wait_for(7001)
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{served.url}/healthz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})
        async with client.get(f"{served.url}/readyz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ready"})
        async with client.get(f"{served.url}/metrics") as response:
            text = await response.text()
    assert "peerdesk_questions_total 1.0" in text
    assert 'peerdesk_tickets{state="offered"} 1.0' in text
    assert "peerdesk_outbox_backlog 0.0" in text
    assert SANDBOX_TOKEN not in text


async def test_readiness_fails_when_the_schema_is_behind(services: Services) -> None:
    from aiohttp.test_utils import TestServer
    from alembic import command

    from bot.storage.db import alembic_config
    from bot.web import init_app

    # The database says it is one migration behind the code.
    await asyncio.to_thread(command.stamp, alembic_config(services.settings.database_url),
                            "0004")
    async with TestServer(init_app(services)) as server, aiohttp.ClientSession() as client:
        async with client.get(server.make_url("/readyz")) as response:
            body = await response.json()
    assert response.status == 503
    assert body["problems"] == ["database schema is not at the newest migration"]


async def test_mydata_and_forget_leave_no_personal_data(running: Running) -> None:
    await running.ask(7001, "/team Tekniikka", first_name="Eva")
    await running.ask(7001, "Miten tiimin työnjako kannattaa sopia?")
    async with running.services.db.session() as session:
        session.add(Rsvp(event_id=1, user_id=7001, answer="yes"))
        await session.commit()
    mine = await running.ask(7001, "/mydata")
    assert "Nimi: Eva" in mine["text"] and "tiimi: Tekniikka" in mine["text"]
    assert "“Miten tiimin työnjako kannattaa sopia?”" in mine["text"]
    confirm = await running.ask(7001, "/forget")
    await running.sandbox.press(7001, 7001, confirm["message_id"], "forget:yes")
    await running.sandbox.wait_until(lambda: confirm["text"].startswith("Valmis"))
    async with running.services.db.session() as session:
        assert await session.get(Staff, 7001) is None
        (ticket,) = await session.exec(select(Ticket))
        assert (ticket.asker_id, ticket.asker_chat_id, ticket.text) == (None, None, None)
        assert list(await session.exec(select(TicketMessage))) == []
        assert list(await session.exec(select(Rsvp))) == []
        (log,) = await session.exec(select(TopicLog))  # the figure stays
        assert log.topic == "division_of_work"
        payloads = [u.payload for u in await session.exec(select(InboundUpdate))
                    if u.status == "done"]
        assert payloads and all(p is None for p in payloads)
    nothing = await running.ask(7001, "/mydata")
    assert nothing["text"] == "Sinusta ei ole tallennettu mitään."


async def test_retention_erases_old_texts_and_keeps_the_figures(services: Services) -> None:
    now = services.clock()
    async with services.db.session() as session:
        session.add_all([
            Ticket(asker_id=1, text="vanha", phone="+358", feedback="kiitos", language="fi",
                   topic="hoks", role="vertaisvalmentaja", confidence=1,
                   created_at=now - timedelta(days=400), updated_at=now),
            Ticket(asker_id=1, text="uusi", language="fi", topic="hoks",
                   role="vertaisvalmentaja", confidence=1, created_at=now - timedelta(days=10),
                   updated_at=now),
        ])
        await session.commit()
        assert await privacy.purge_texts(session=session, now=now, days=365) == 1
        old, new = await session.exec(select(Ticket).order_by(Ticket.id))
    assert (old.text, old.phone, old.feedback, old.topic) == (None, None, None, "hoks")
    assert new.text == "uusi"


def test_the_compose_file_is_well_formed() -> None:
    """No compose tool or engine runs here, so the file is checked against the parts of the
    Compose specification it uses."""
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert set(compose) <= {"services", "volumes", "networks", "secrets", "configs", "name"}
    bot, postgres = compose["services"]["bot"], compose["services"]["postgres"]
    assert bot["build"] == {"context": "."} or bot["build"] == "."
    assert "peerdesk migrate" in " ".join(bot["command"]) and "peerdesk serve" in " ".join(
        bot["command"])
    assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert bot["env_file"] == [".env"] or bot["env_file"] == ".env"
    assert bot["environment"]["PEERDESK_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert set(postgres["healthcheck"]) >= {"test", "interval", "retries"}
    assert postgres["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    env_example = (PROJECT_ROOT / ".env.example").read_text()
    from bot.config import Settings

    for name in Settings.model_fields:
        assert f"PEERDESK_{name.upper()}=" in env_example, f"{name} missing from .env.example"


async def test_a_question_stored_but_never_acknowledged_is_acknowledged_when_it_comes_again(
    running: Running,
) -> None:
    from bot.domain import intake

    running.sandbox.user(7001, "Eva")
    # The bot stored the question and stopped before answering it.
    async with running.services.db.session() as session:
        await intake.submit_question(session=session, router=running.services.router,
                                     asker_id=7001, chat_id=7001, message_id=1,
                                     text="Miten tiimin työnjako kannattaa sopia?",
                                     desk=running.services.desk)
    # Telegram delivers the same message again (it was never confirmed).
    message = await running.sandbox.send(7001, "Miten tiimin työnjako kannattaa sopia?")
    assert message["message_id"] == 1
    (ack,) = await running.sandbox.wait_for(7001)
    assert ack["text"].startswith("Kiitos! Kysymyksesi on tallennettu numerolla #1.")
    await running.sandbox._push({"message": dict(message)})  # and once more
    await asyncio.sleep(0.5)
    assert len(running.sandbox.bot_messages(7001)) == 1
    assert len(await rows(running.services.settings.database_url, Ticket)) == 1
