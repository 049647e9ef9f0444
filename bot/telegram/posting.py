"""sendMessage when only the new message's id is kept: the acknowledgement of a question and a
helper's card, the two messages every new question sends.

The app sends with a `DurableBot` (bot.telegram.app, polling and webhook alike), whose
`send_text` makes the call `Bot.send_message` makes through PTB's own lower layer and leaves
Telegram's answer as it came: reading it into a `Message` (its chat, sender, entities and
keyboard, each an object) took a quarter of the call's CPU, for one number. Any other bot sends
with `send_message`.
"""

from __future__ import annotations

from typing import Any

from telegram import Bot, Chat, Message
from telegram.error import BadRequest

from bot.telegram.durable import DurableBot


async def send_text(bot: Bot, chat_id: int, text: str, **fields: Any) -> int:
    """Send a text message (`fields`: sendMessage's other parameters, PTB objects as PTB takes
    them; None is left out); its message id."""
    if isinstance(bot, DurableBot):
        return await bot.send_text(chat_id, text, **fields)
    return (await bot.send_message(chat_id, text, **fields)).message_id


async def reply(message: Message, text: str, **fields: Any) -> tuple[int, int]:
    """`message.reply_text(text, **fields)`, as (chat id, message id). In a plain private chat the
    call reply_text would make (no quote, no topic, no business connection); anywhere else
    reply_text itself."""
    if message.chat.type == Chat.PRIVATE and not message.is_topic_message \
            and message.business_connection_id is None and message.direct_messages_topic is None:
        return message.chat_id, await send_text(message.get_bot(), message.chat_id, text,
                                                **fields)
    sent = await message.reply_text(text, **fields)
    return sent.chat_id, sent.message_id


def not_modified(error: BaseException | None) -> bool:
    """Telegram's "message is not modified": an edit to what the message shows already (a
    double tap whose first press did the work, a tally unchanged). No failure."""
    return isinstance(error, BadRequest) and "not modified" in str(error).lower()
