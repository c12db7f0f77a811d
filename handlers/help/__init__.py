"""帮助: the command list, and the bot's answer to whatever no other feature understands."""

from bot.lifecycle.features import Feature
from handlers.help.manifest import MANIFEST
from handlers.help.router import router

feature = Feature(router, order=0, manifest=MANIFEST)
