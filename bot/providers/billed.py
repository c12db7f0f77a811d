"""The billed providers, one priced API each: what names a provider, its monthly budget and its breaker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.providers import juhe, tcredit
from bot.trust.ledger import BilledApi

if TYPE_CHECKING:
    from bot.lifecycle.services import Services


def billed_providers(services: Services) -> list[BilledApi]:
    """Juhe's and Tcredit's, as the usage card and /metrics list them (budgets and breakers are per provider)."""
    return [juhe.billed_api(services, juhe.BILLED_APIS[0]), tcredit.billed_api(services)]


def billed_apis(services: Services) -> list[BilledApi]:
    """Every billed API of every provider (an export names each call's API)."""
    return [juhe.billed_api(services, api) for api in juhe.BILLED_APIS] + [tcredit.billed_api(services)]
