"""个人社保: a private dialog with Tcredit — city, login, SMS or image captcha — ending in the user's own records."""

from bot.features import Feature
from bot.providers.tcredit import TcreditSettings
from handlers.personal_social.router import router

feature = Feature(router, settings=(TcreditSettings,), order=50)
