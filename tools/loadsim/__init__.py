"""The load simulator: synthetic agents on real websockets, escalations through the real intake API.

Used by `python manage.py simulate` (a demo and a load test against a running system) and by
`scripts/bench.py` (the benchmark). The pieces:

- population: the synthetic agents `sim-agent-0001`.. and the integration `sim-bot`, created once and
  reused (their bearer tokens are issued afresh on every run);
- agents: one asyncio task per agent speaking the websocket protocol of CONTRACT.md like a person at a
  browser: online, acknowledge, think, accept / decline / ignore, resolve over REST after handling;
- intake: the bot platform, posting escalations as a Poisson stream;
- webhooks: the bot platform's receiver, checking signatures and counting duplicates;
- stats: what all of them observed, with percentiles, printed as progress lines and a summary.

Every timing is taken on the client side with one clock (time.perf_counter), so a latency is what a
bot or an agent would notice, including the network and the servers' queues.
"""
