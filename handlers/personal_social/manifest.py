"""个人社保's needs from the Feishu tenant (bot/lifecycle/manifest.py): captcha images in cards, its Tcredit keys."""

from __future__ import annotations

from bot.lifecycle.core_manifest import UPLOAD_SCOPES, refused_as_expected
from bot.lifecycle.manifest import Manifest, ScopeNeed
from bot.lifecycle.services import Services


async def probe_image(services: Services) -> str:
    """an image upload with no image in it (refused, nothing is stored)"""
    await refused_as_expected(services, "POST", "/open-apis/im/v1/images", data={"image_type": "message"})
    return "an image upload with no image in it"


MANIFEST = Manifest(
    scopes=(
        ScopeNeed(
            "个人社保: captcha images shown in cards", "POST /im/v1/images", UPLOAD_SCOPES, probe_image
        ),
    ),
    provider_keys=("TCREDIT_APP_ID", "TCREDIT_TOKEN_ID"),
)
