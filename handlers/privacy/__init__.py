"""个人信息 (PIPL): 我的数据, 删除我的数据, 撤回同意, 审计; a person who leaves Feishu is forgotten."""

from bot.lifecycle.features import Feature
from handlers.privacy.manifest import MANIFEST
from handlers.privacy.router import router

feature = Feature(router, order=90, manifest=MANIFEST)
