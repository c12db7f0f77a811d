"""用量: what billed provider calls cost, by provider, feature and user, with budgets and breakers (admins only);
the budget warning to the managers' chat."""

from bot.lifecycle.features import Feature
from bot.providers.juhe import JuheSettings
from bot.providers.tcredit import TcreditSettings
from bot.sandbox.directory import MANAGER_GROUP
from handlers.usage.manifest import MANIFEST
from handlers.usage.router import router
from handlers.usage.settings import UsageSettings

feature = Feature(
    router,
    settings=(UsageSettings, JuheSettings, TcreditSettings),
    sandbox_defaults={"hrbot_manager_chat_id": MANAGER_GROUP},
    order=90,
    manifest=MANIFEST,
)
