"""个人社保: a private dialog with Tcredit — city, login, SMS or image captcha — ending in the user's own records."""

from bot.lifecycle.features import Feature
from bot.lifecycle.services import PersonalData
from bot.providers.tcredit import TcreditSettings
from handlers.personal_social.manifest import MANIFEST
from handlers.personal_social.router import NOTICE, erase, held, router

feature = Feature(
    router,
    settings=(TcreditSettings,),
    order=50,
    manifest=MANIFEST,
    notices=(NOTICE,),
    personal_data=PersonalData(held=held, erase=erase),
)
