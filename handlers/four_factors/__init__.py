"""企业核验: anyone asks for a Juhe four-factor verification; a manager runs or rejects it from the card."""

from pathlib import Path

from bot.lifecycle.features import Feature
from bot.lifecycle.services import PersonalData
from bot.providers.juhe import JuheSettings
from bot.sandbox.directory import MANAGER_GROUP
from handlers.four_factors.manifest import MANIFEST
from handlers.four_factors.router import NOTICE, erase, held, router
from handlers.four_factors.settings import FourFactorsSettings

feature = Feature(
    router,
    settings=(JuheSettings, FourFactorsSettings),
    sandbox_defaults={"hrbot_manager_chat_id": MANAGER_GROUP},
    order=40,
    manifest=MANIFEST,
    migrations=Path(__file__).with_name("migrations"),
    notices=(NOTICE,),
    personal_data=PersonalData(held=held, erase=erase),
)
