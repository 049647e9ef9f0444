"""A poster for the staff room: an A4 page in Finnish, Swedish and English with the QR code to
the bot, one line on what each role helps with, and that one may ask anonymously. PDF to print
and PNG to share, drawn with matplotlib (a Figure of its own, no pyplot state: safe in a thread);
the QR code from segno."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from io import BytesIO

from bot import LANGUAGES, ROLES
from bot.i18n import gettext
from bot.services import Services

A4 = (8.27, 11.69)  # inches
INK = "#1d3557"


@dataclass(frozen=True, slots=True)
class Poster:
    pdf: bytes
    png: bytes


def qr_png(link: str, scale: int = 8) -> bytes:
    """The link's QR code as a PNG (for a chat)."""
    import segno  # only when a code is drawn: the running bot seldom needs it

    buffer = BytesIO()
    segno.make(link, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def _blocks(services: Services) -> list[tuple[str, list[str], str]]:
    """Per language: the heading, a line per role, and the closing line."""
    found = []
    for lang in LANGUAGES:
        lines = [f"{services.role_name(r, lang)}: {services.knowledge.roles[r].helps_with[lang]}"
                 for r in ROLES]
        found.append((
            gettext(lang, "Questions about work? Ask a colleague."), lines,
            gettext(lang, "Scan the code and write in Telegram. You may ask anonymously."),
        ))
    return found


def make_poster(services: Services, link: str) -> Poster:
    """The poster for `link` (the bot, or the staff code's link in staff-only mode)."""
    import segno
    from matplotlib.figure import Figure  # slow to import: only when a poster is drawn

    figure = Figure(figsize=A4, dpi=150)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, A4[0])
    axes.set_ylim(0, A4[1])
    axes.axis("off")
    matrix = [[0 if cell else 1 for cell in row]
              for row in segno.make(link, error="m").matrix_iter(scale=1, border=2)]
    side = 2.6
    left = (A4[0] - side) / 2
    axes.imshow(matrix, cmap="gray", interpolation="nearest", vmin=0, vmax=1,
                extent=(left, left + side, A4[1] - 0.5 - side, A4[1] - 0.5))
    axes.text(A4[0] / 2, A4[1] - 0.75 - side, link, ha="center", va="top", fontsize=10,
              color=INK)
    y = A4[1] - 1.25 - side
    for heading, lines, closing in _blocks(services):
        axes.text(0.6, y, heading, fontsize=15, fontweight="bold", color=INK, va="top")
        y -= 0.36
        for line in lines:
            for number, part in enumerate(textwrap.wrap(line, 92)):
                axes.text(0.75 if number else 0.6, y, ("• " if not number else "") + part,
                          fontsize=9, va="top", color="#222222")
                y -= 0.19
        axes.text(0.6, y - 0.02, closing, fontsize=10, fontstyle="italic", color=INK,
                  va="top")
        y -= 0.5
    pdf, png = BytesIO(), BytesIO()
    figure.savefig(pdf, format="pdf")
    figure.savefig(png, format="png", dpi=110)
    return Poster(pdf.getvalue(), png.getvalue())
