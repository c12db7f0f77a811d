"""增减员: a person's social-insurance adjust records on demand, and the scheduled digest for HR chats."""

from bot.features import Feature
from bot.sandbox.directory import HR_GROUP
from handlers.adjust_records.router import digest_from_console, router
from handlers.adjust_records.settings import AdjustRecordsSettings

feature = Feature(
    router,
    settings=(AdjustRecordsSettings,),
    sandbox_defaults={"hrbot_digest_chat_ids": HR_GROUP},
    console_tasks={"▶ 立即运行摘要": digest_from_console},
    order=10,
)
