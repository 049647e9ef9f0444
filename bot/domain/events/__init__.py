"""Events and bulletins, one idea a module (each imports only those above it):

- `views`: the value types (EventView, Counts, …), the presence window, and the reads;
- `spec`: what an organiser gives (EventSpec), validated alike from Telegram, the command line,
  YAML and .ics files, and the occurrences of a series;
- `schedule`: publishing, changing and cancelling: each message an outbox row with a unique key;
- `messages`: the event's messages: announcements sent (to edit), what a row's key names, the
  feedback question's message, and the counts' edits;
- `rsvp`: answers, capacity and the waiting list, places offered;
- `after`: after the event: materials, attendance, feedback, and the periodic follow-up.

The database is the source of truth: publishing an event writes one outbox row per message
(announcement, each reminder, per channel) with a unique key, so scheduling twice queues nothing
twice. A sender claims due rows atomically, sends, and marks them sent; a row whose sender died
mid-send is not sent again (never twice) but reported.

Import the module and call through it (`rsvp.rsvp(...)`), so that the call says where it lives.
"""
