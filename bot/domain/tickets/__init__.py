"""A ticket's life, one idea a module (each imports only those above it):

- `views`: the value types (Desk, TicketView, results of a change) and the read models;
- `messages`: which Telegram message (card, copy, acknowledgement, topic) belongs to which ticket;
- `notices`: who hears what, queued as outbox rows in the caller's transaction;
- `changes`: claim, answer, follow-up, close, rate, comment, reroute, release, hand over…;
- `sweep`: the reminders that come due, and the questions whose asker never chose;
- `conversation`: which question an asker's message joins, and what becomes of it there.

Import the module and call through it (`changes.claim(...)`), so that the call says where it lives.
"""
