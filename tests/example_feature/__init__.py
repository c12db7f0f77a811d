"""示例: the feature docs/architecture.md's "how to add a feature" adds, followed once (tests/test_example_feature.py).

A product feature lives in handlers/<feature>/ and is declared in pyproject.toml; this one is a test fixture, so it
lives here and the test passes it in the bot's feature list instead.
"""

from bot.lifecycle.features import Feature
from bot.sandbox.directory import HR_GROUP
from tests.example_feature.router import router
from tests.example_feature.settings import ExampleFeatureSettings

feature = Feature(
    router,
    settings=(ExampleFeatureSettings,),
    sandbox_defaults={"hrbot_example_chat_id": HR_GROUP},
    order=60,
)
