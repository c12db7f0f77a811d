"""An emulator of the Feishu Open API and of Feishu's event delivery, for sandbox mode and tests.

It issues tenant tokens (with expiry on the injected clock), stores the messages the bot sends, replies and patches,
keeps uploaded images, answers contact look-ups from a synthetic directory, and delivers user messages and card clicks
to the bot's callback URL encrypted and signed exactly as Feishu does. One module per API family, as Feishu's docs
split them; this module assembles them into `FeishuEmulator` and its aiohttp app.
"""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.feishu import auth, chats, contacts, files, messages
from bot.sandbox.feishu.auth import AuthApi
from bot.sandbox.feishu.chats import ChatsApi
from bot.sandbox.feishu.common import DeliveryTarget, RateWindow, Route, SandboxMessage
from bot.sandbox.feishu.contacts import ContactsApi
from bot.sandbox.feishu.events import EVENT_DELIVERY_ATTEMPTS, EventNotDelivered, EventsApi
from bot.sandbox.feishu.files import FilesApi
from bot.sandbox.feishu.messages import MessagesApi

__all__ = [
    "EVENT_DELIVERY_ATTEMPTS",
    "DeliveryTarget",
    "EventNotDelivered",
    "FeishuEmulator",
    "RateWindow",
    "Route",
    "SandboxMessage",
]

# The one place an API family's route table joins the emulator: a function of the emulator returning its routes.
ROUTE_TABLES = (auth.routes, messages.routes, files.routes, chats.routes, contacts.routes)


class FeishuEmulator(AuthApi, MessagesApi, FilesApi, ChatsApi, ContactsApi, EventsApi):
    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._count_calls, *self.middlewares], client_max_size=10 * 1024 * 1024
        )
        routes = [route for table in ROUTE_TABLES for route in table(self)]
        for method, path, handler in [*routes, *self.extra_routes]:
            app.router.add_route(method, path, handler)
        return app
