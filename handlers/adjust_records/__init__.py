"""增减员: a person's social-insurance adjust records on demand; the digest of what changed and the filing-deadline
reminders for HR chats. One router: the on-demand commands (router.py), the digest (digest.py) and the reminders
(filing.py) all register on it."""

from pathlib import Path

from bot.lifecycle.features import Feature
from bot.lifecycle.services import PersonalData
from bot.sandbox.bitable import SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID
from bot.sandbox.directory import HR_GROUP
from handlers.adjust_records import digest, filing, hr_chat, marking, personal_data
from handlers.adjust_records.manifest import MANIFEST
from handlers.adjust_records.router import router
from handlers.adjust_records.settings import AdjustRecordsSettings

assert digest and filing and marking and hr_chat  # imported for what they register on the router

# The sandbox's company files in the cities of this example (its fields are documented in it).
EXAMPLE_CALENDAR = Path(__file__).with_name("filing-calendar.example.toml")

feature = Feature(
    router,
    settings=(AdjustRecordsSettings,),
    sandbox_defaults={
        "hrbot_digest_chat_ids": HR_GROUP,
        "hrbot_filing_calendar": str(EXAMPLE_CALENDAR),
        "hrbot_adjust_bitable_app_token": SANDBOX_APP_TOKEN,
        "hrbot_adjust_bitable_table_id": SANDBOX_TABLE_ID,
    },
    console_tasks={"▶ 立即运行摘要": digest.digest_from_console},
    personal_data=PersonalData(held=personal_data.held, erase=personal_data.erase),
    order=10,
    migrations=Path(__file__).with_name("migrations"),
    manifest=MANIFEST,
)
