"""The sandbox console: a local web page to chat with the bot and click its cards as Feishu would show them."""
