"""The domain: routing, tickets, helpers. Plain async Python over the database; no Telegram here."""
