"""The Feishu Open Platform as the bot uses it: the pooled Open API client with its token and rate-limit handling
(`client`), client-side pacing for per-second limits (`pacing`) and for sends to one chat (`chat_pacing`), the bot's own identity (`identity`) and the
`hrbot whoami` look-up of chats and members (`whoami`)."""
