"""The helpers' side in Telegram: a forum topic and card per ticket (or private cards without a
forum), claim / reroute / close buttons, relaying both ways, ratings, phone calls, /queue, /mine,
/away, /back, /close, and the reminder sweep.

- `cards`: the card, the ticket's topic, the listing of new tickets (sent by the sender)
- `notes`: the other messages about a ticket: relayed copies and templated notices (sent by the
  sender)
- `buttons`: the card's buttons and the asker's (rating, phone)
- `commands`: the helpers' commands
- `relay`: messages in a ticket's topic, and the private-message dispatcher before intake
- `sla`: the sweep that queues reminders

Decisions live in bot.domain.tickets; these modules only talk to Telegram.
"""
