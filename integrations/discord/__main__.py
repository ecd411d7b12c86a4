"""`python -m integrations.discord`: run the Discord bot.

Environment (read here only): DISCORD_TOKEN (required), CAREERBOT_API_URL (default
http://127.0.0.1:8000), CAREERBOT_API_KEY (when the API sets CAREERBOT_API_KEYS),
DISCORD_GUILD_ID (optional: register /ask on that one server at once, instead of globally).
"""

from __future__ import annotations

import os
import sys

from .api_client import CareerbotClient
from .bot import CareerbotDiscord


def main() -> int:
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if not token:
        print("error: set DISCORD_TOKEN to the bot token from the Discord Developer Portal",
              file=sys.stderr)
        return 2
    guild = os.environ.get("DISCORD_GUILD_ID", "").strip()
    if guild and not guild.isdigit():
        print(f"error: DISCORD_GUILD_ID must be a server id (digits), got {guild!r}",
              file=sys.stderr)
        return 2
    api = CareerbotClient(
        os.environ.get("CAREERBOT_API_URL", "").strip() or "http://127.0.0.1:8000",
        os.environ.get("CAREERBOT_API_KEY", "").strip() or None,
    )
    bot = CareerbotDiscord(api, guild_id=int(guild) if guild else None)
    bot.run(token)  # logs to stderr; Ctrl-C stops it
    return 0


if __name__ == "__main__":
    sys.exit(main())
