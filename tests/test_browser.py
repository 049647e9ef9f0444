"""The sandbox page in a real browser (Debian's Chromium driven by Playwright): what a newcomer
does after `make run` — ask, answer as a helper, press a button, reply, send a photo, restart.

One browser for the whole session; one `make run` (in this process, in a folder of its own) for
all the stories, the last of which stops it and starts it again. Set PEERDESK_SCREENSHOTS=<folder>
to keep the README's screenshots of the conversation."""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.test_sandbox import free_port, make_run

CHROMIUM = os.environ.get("PEERDESK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = os.environ.get("PEERDESK_SCREENSHOTS")
WAIT = 15_000  # ms: the bot answers in well under a second; this is for a busy machine

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - the dev extra installs it
    async_playwright = None  # type: ignore[assignment]


def _why_no_browser() -> str | None:
    if async_playwright is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return (f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y "
                "chromium) or set PEERDESK_CHROMIUM; `playwright install` is not used")
    return None


# One worker runs them all (`--dist loadgroup`): one Chromium, one `make run`.
pytestmark = [pytest.mark.skipif(_why_no_browser() is not None, reason=_why_no_browser() or ""),
              pytest.mark.xdist_group("browser")]


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


class MakeRun:
    """The stories' `make run`, in a folder of its own, which a story may stop and start again."""

    def __init__(self, folder: Path, template: Path) -> None:
        self.folder, self.template, self.port = folder, template, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._run: AbstractAsyncContextManager[str] | None = None

    async def start(self) -> None:
        # Not the machine's first start (tests/test_sandbox.py has that): a migrated copy.
        self._run = make_run(self.folder, self.port, migrated=self.template)
        await self._run.__aenter__()

    async def stop(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            await run.__aexit__(None, None, None)


@pytest_asyncio.fixture(scope="module")
async def make_run_page(tmp_path_factory: pytest.TempPathFactory,
                        sqlite_template: Path) -> AsyncIterator[MakeRun]:
    run = MakeRun(tmp_path_factory.mktemp("make-run"), sqlite_template)
    await run.start()
    try:
        yield run
    finally:
        await run.stop()


@pytest.fixture
def sandbox_url(make_run_page: MakeRun) -> str:
    return make_run_page.url


@pytest_asyncio.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    page = await context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    await context.close()
    assert not errors, errors


async def as_staff(page: Page, url: str, user_id: int, name: str = "Sanna") -> None:
    await page.goto(url)
    await page.fill("#name", name)
    await page.fill("#uid", str(user_id))
    await page.dispatch_event("#uid", "change")


async def ask(page: Page, text: str) -> None:
    bot_answers = page.locator("#log .msg.bot")
    before = await bot_answers.count()
    await page.fill("#text", text)
    await page.press("#text", "Enter")
    await expect(bot_answers).to_have_count(before + 1, timeout=WAIT)


async def as_helper(page: Page, helper_id: int, topic: str) -> None:
    await page.select_option("#helper", str(helper_id))
    await page.click(f"#topics li:has-text('{topic}')")


def png(width: int = 48, height: int = 32) -> bytes:
    """A small red picture, as a phone would send one."""
    raw = b"".join(b"\x00" + bytes([200, 60, 50]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


async def test_a_question_is_claimed_and_answered_from_the_page(page: Page,
                                                                 sandbox_url: str) -> None:
    await as_staff(page, sandbox_url, 5101)
    await ask(page, "Miten arvioin ammattitaidon näyttöä työpaikalla?")
    await expect(page.locator("#log .msg.bot").last).to_contain_text("#")
    ticket = re.search(r"#(\d+)", await page.locator("#log .msg.bot").last.inner_text())
    assert ticket is not None
    await as_helper(page, 1001, f"#{ticket[1]} ·")
    topic = page.locator("#topics li.sel")
    await expect(topic.locator(".state")).to_have_text("waiting")
    await expect(page.locator("#glog .msg.bot").first).to_contain_text("näyttöä")
    await page.click("#glog button.kb:has-text('Ota')")  # Claim, in Mari's Finnish
    await expect(topic.locator(".state")).to_have_text("in hand", timeout=WAIT)
    answer = "Sovi arvioinnista työpaikkaohjaajan kanssa ennen näyttöä; autan mielelläni."
    await page.fill("#gtext", answer)
    await page.press("#gtext", "Enter")
    await expect(page.locator("#log .msg.bot").last).to_contain_text(answer, timeout=WAIT)
    # The staff member sees it as Telegram shows a reply: quoting their question.
    await expect(page.locator("#log .msg.bot").last.locator(".quote")).to_contain_text("näyttöä")
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        await page.fill("#text", "Kiitos, tämä auttoi!")
        await page.press("#text", "Enter")
        await expect(page.locator("#glog .msg").last).to_contain_text("Kiitos", timeout=WAIT)
        await page.screenshot(path=str(folder / "sandbox-desktop.png"))
        await page.set_viewport_size({"width": 380, "height": 760})
        await page.locator("#helpers").scroll_into_view_if_needed()
        await page.screenshot(path=str(folder / "sandbox-phone.png"), full_page=True)


async def test_a_button_answer_shows_as_a_toast(page: Page, sandbox_url: str) -> None:
    await as_staff(page, sandbox_url, 5102)
    await ask(page, "Tiimipalaverit venyvät aina ja työnjako on epäselvä")
    await page.click("#log button.kb:has-text('Tee tästä kysymyksestä nimetön')")
    toast = page.locator("#staff .toast")
    await expect(toast).to_have_text("Tehty: auttajat eivät näe nimeäsi.", timeout=WAIT)


async def test_a_reply_to_the_acknowledgement_reaches_the_helpers(page: Page,
                                                                   sandbox_url: str) -> None:
    await as_staff(page, sandbox_url, 5103)
    await ask(page, "Tiimimme palaverikäytännöt kaipaavat selkeyttä, miten aloittaisimme?")
    ticket = re.search(r"#(\d+)", await page.locator("#log .msg.bot").last.inner_text())
    assert ticket is not None
    await page.locator("#log .msg.bot").last.locator(".reply-action").click()
    await expect(page.locator("#replying")).to_be_visible()
    await page.fill("#text", "Lisäksi: tiimissä on kahdeksan opettajaa.")
    await page.press("#text", "Enter")
    mine = page.locator("#log .msg.me").last
    await expect(mine.locator(".quote")).to_contain_text("#" + ticket[1])
    await expect(page.locator("#replying")).to_be_hidden()
    await as_helper(page, 1003, f"#{ticket[1]} ·")
    await expect(page.locator("#glog")).to_contain_text("kahdeksan opettajaa", timeout=WAIT)


async def test_a_photo_from_the_file_picker_is_shown(page: Page, sandbox_url: str) -> None:
    await page.set_viewport_size({"width": 900, "height": 420})  # the chat overflows
    await as_staff(page, sandbox_url, 5104)
    await page.set_input_files("#file", files=[
        {"name": "naytto.png", "mimeType": "image/png", "buffer": png()}])
    photo = page.locator("#log .msg.me img")
    await expect(photo).to_be_visible(timeout=WAIT)
    assert await photo.evaluate("img => img.naturalWidth") == 48
    await expect(page.locator("#log .msg.bot")).to_have_count(1, timeout=WAIT)  # answered
    # The chat follows its newest message, also when a picture loads after the scroll (as on
    # opening the page again).
    await page.reload()
    await expect(page.locator("#log .msg.bot")).to_have_count(1, timeout=WAIT)
    await page.wait_for_function("() => { const log = document.getElementById('log'); "
                                 "return log.scrollHeight > log.clientHeight && "
                                 "log.scrollHeight - log.scrollTop - log.clientHeight < 2; }",
                                 timeout=WAIT)


async def test_a_new_person_opens_an_invitation_from_the_page(page: Page,
                                                               sandbox_url: str) -> None:
    """Anna, the sandbox's admin, invites with /invite tvt in her private chat; a new person on
    the left opens the link (the button sends /start <code> as them) and is welcomed."""
    await page.goto(sandbox_url)
    await page.click("#newPerson")
    await page.select_option("#helper", "1003")
    await page.click("button.tab[data-tab='private']")
    await page.fill("#gtext", "/invite tvt")
    await page.press("#gtext", "Enter")
    await page.click("#glog button.kb:has-text('Avaa kutsu')", timeout=WAIT)
    welcome = page.locator("#log .msg.bot").last
    await expect(welcome).to_contain_text("TVT", timeout=WAIT)
    await page.click("#log button.kb:has-text('Svenska')")
    await expect(page.locator("#log button.kb:has-text('✓ Svenska')")).to_have_count(
        1, timeout=WAIT)
    # …and the new helper can be chosen on the right within seconds.
    new = await page.input_value("#uid")
    await expect(page.locator(f"#helper option[value='{new}']")).to_have_count(1, timeout=WAIT)


async def test_the_page_fits_a_phone_and_speaks_swedish(page: Page, sandbox_url: str) -> None:
    await page.set_viewport_size({"width": 380, "height": 760})
    await as_staff(page, sandbox_url, 5105)
    await page.select_option("#pagelang", "sv")
    await expect(page.locator("#send")).to_have_text("Skicka")
    await expect(page.locator("#topics li").first).to_contain_text("Allmänt")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380


async def test_after_a_restart_the_bot_answers_and_the_talk_is_still_there(
        page: Page, make_run_page: MakeRun) -> None:
    await as_staff(page, make_run_page.url, 5201)
    await ask(page, "Miten HOKS päivitetään?")
    first = re.search(r"#(\d+)", await page.locator("#log .msg.bot").last.inner_text())
    assert first is not None
    await make_run_page.stop()  # Ctrl-C, and `make run` again, with the page left open
    await expect(page.locator(".offline-note")).to_contain_text("trying again", timeout=WAIT)
    await make_run_page.start()
    await expect(page.locator(".offline-note")).to_be_hidden(timeout=WAIT)  # by itself
    await expect(page.locator("#log .msg.me")).to_contain_text("Miten HOKS päivitetään?")
    await ask(page, "Tiimipalaverit venyvät aina")  # another matter: add to the first, or new?
    await expect(page.locator("#log .msg.bot").last).to_contain_text(f"#{first[1]}")
    await page.click("#log button.kb:has-text('Uusi kysymys')")
    await expect(page.locator("#log .msg.bot").last).to_contain_text(
        re.compile(rf"#(?!{first[1]}\b)\d+"))  # a ticket of its own


async def _publish_in(run: MakeRun, title: str) -> None:
    """An organiser's event in the running `make run`'s database, announced in its channel."""
    from datetime import UTC, datetime, timedelta

    from bot.domain.events import schedule, spec
    from bot.runner import SANDBOX_CHANNEL
    from bot.storage import Database

    start = (datetime.now(UTC) + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    db = Database(f"sqlite+aiosqlite:///{run.folder / 'peerdesk.db'}")
    try:
        async with db.session() as session:
            await schedule.publish_event(session=session, now=datetime.now(UTC), spec=(
                spec.validate_spec(dict(kind="cafe", title=title, start=start,
                                        end=start + timedelta(minutes=90), place="Auditorio B",
                                        channels=[SANDBOX_CHANNEL], capacity=20))))
    finally:
        await db.dispose()


async def test_a_staff_member_answers_an_invitation_from_events(
        page: Page, make_run_page: MakeRun) -> None:
    await _publish_in(make_run_page, "Pedagoginen kahvila: palaute")
    await as_staff(page, make_run_page.url, 5106)
    await page.fill("#text", "/events")
    await page.press("#text", "Enter")
    coming = page.locator("#log .msg.bot").filter(has_text="palaute").locator(
        "button.kb:has-text('Tulen (')").first
    await expect(coming).to_be_visible(timeout=WAIT)
    await coming.click()
    await expect(page.locator("#staff .toast")).to_contain_text("Tervetuloa", timeout=WAIT)
    await expect(page.locator("#log button.kb:has-text('✅ Tulen (1)')")).to_be_visible(
        timeout=WAIT)
    # The staff side reads the announcement channel too: the answer is counted there.
    await page.click("[data-stafftab=channel]")
    await expect(page.locator("#f")).to_be_hidden()
    announcement = page.locator("#log .msg.bot").filter(has_text="Pedagoginen kahvila: palaute")
    await expect(announcement.locator("button.kb:has-text('Tulen (1)')")).to_be_visible(
        timeout=WAIT)


async def test_a_lead_opens_the_report(page: Page, sandbox_url: str) -> None:
    await page.goto(sandbox_url)
    await page.select_option("#helper", "1004")  # Leena, a head of education
    await page.click("[data-tab=private]")
    await page.fill("#gtext", "/report")
    await page.press("#gtext", "Enter")
    await expect(page.locator("#glog .msg.bot").filter(has_text="Raportti")).to_be_visible(
        timeout=WAIT)
    chart = page.locator("#glog .msg.bot img").last
    await expect(chart).to_be_visible(timeout=WAIT)
    assert await chart.evaluate("img => img.naturalWidth") == 900
