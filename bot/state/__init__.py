"""What the bot keeps: the database and its tables (`store`), multi-step dialogs (`dialogs`), the optional Redis
(`redis_state`), the leader lease that lets one replica run scheduled work (`leader`), the persistent job scheduler
(`scheduler`) and the schema's Alembic migrations (`migrations/`)."""
