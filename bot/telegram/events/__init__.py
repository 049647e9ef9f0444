"""Events in Telegram, by who uses them (each module imports only `render` of its siblings):

- `render`: the announcement's text and buttons, an event listed in a person's own chat
- `sending`: the sender's renderer for announcements, reminders, bulletins and the messages to
  one attendee (a place offered, materials, the feedback question)
- `staff`: answering an announcement, a place offered, "I'm here", the rating and a reply to
  the feedback question, /events with calendar files and materials
- `hosts`: /attendees (/feedback): who is coming, who came, what they thought
- `organisers`: the /newevent, /bulletin and /materials dialogs
- `follow_up`: the job after events (feedback asked, offers lapsed passed on)

What is sent when lives in bot.domain.events (the outbox); these modules render and send.
"""
