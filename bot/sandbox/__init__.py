"""A local Bot-API-compatible server: try peerdesk in a browser, test it without Telegram."""

from bot.sandbox.server import SANDBOX_TOKEN, Sandbox

__all__ = ["SANDBOX_TOKEN", "Sandbox"]
