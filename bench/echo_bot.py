"""The ceiling for benchmark 1: a minimal python-telegram-bot 22 echo bot.

Usage (started by bench/throughput.py): python bench/echo_bot.py API_URL TOKEN
"""

from __future__ import annotations

import sys

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(update.effective_message.text)


def main() -> None:
    api, token = sys.argv[1], sys.argv[2]
    # PTB's defaults: one update at a time. With `concurrent_updates(True)` and PTB 22's pool of
    # 256 connections, httpcore's pool bookkeeping took over half of its CPU (py-spy: 12 ms per
    # update against 3.8 ms) and the baseline would flatter peerdesk.
    application = Application.builder().token(token).base_url(f"{api}/bot").build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(poll_interval=0, timeout=10)


if __name__ == "__main__":
    main()
