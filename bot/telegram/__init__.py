"""The Telegram adapter: thin handlers over the domain, built on python-telegram-bot."""
