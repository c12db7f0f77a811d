"""小微企业: a billed asynchronous query at Juhe, polled until done, its result pushed once."""

from bot.lifecycle.features import Feature
from bot.lifecycle.manifest import Manifest
from bot.lifecycle.services import PersonalData
from bot.providers.juhe import JuheSettings
from handlers.micro_ent.router import erase, held, router
from handlers.micro_ent.settings import MicroEntSettings

feature = Feature(
    router,
    settings=(JuheSettings, MicroEntSettings),
    order=20,
    manifest=Manifest(provider_keys=("JUHE_MICRO_ENT_KEY",)),
    personal_data=PersonalData(held=held, erase=erase),
)
