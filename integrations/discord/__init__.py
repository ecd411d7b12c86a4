"""careerbot on Discord: /ask and @-mentions, answered through the careerbot HTTP API.

Run with `python -m integrations.discord` (DISCORD_TOKEN, CAREERBOT_API_URL,
CAREERBOT_API_KEY). The pieces, testable without the Discord gateway:

- `api_client`: the HTTP client of POST /v1/chat (httpx), errors as user-facing text;
- `formatting`: replies split at Discord's 2,000 characters, the Sources list, and thread
  messages turned back into conversation history;
- `handler`: what happens to one question, against a small `Conversation` interface;
- `bot`: the discord.py client that adapts interactions and messages to that interface.
"""
