"""企业社保: a company's annual-report social-security figures from Juhe, cached per company."""

from bot.lifecycle.features import Feature
from bot.lifecycle.manifest import Manifest
from bot.providers.juhe import JuheSettings
from handlers.enterprise_social.router import router

feature = Feature(
    router, settings=(JuheSettings,), order=30, manifest=Manifest(provider_keys=("JUHE_SOCIAL_SECURITY_KEY",))
)
