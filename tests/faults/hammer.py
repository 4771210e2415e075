"""One OS process of the intake hammer: many concurrent POSTs of the same escalation, spread over the
given servers, all starting at the same wall-clock moment. Reads its job as JSON on stdin and prints
one JSON list of [status, ticket id or error text] per request.

Run by tests/faults/test_intake_hammered.py as `python tests/faults/hammer.py`; only httpx is used, so
it starts fast and needs no Django.
"""

import asyncio
import json
import sys
import time

import httpx


async def _post(client: httpx.AsyncClient, url: str, job: dict) -> list:
    try:
        response = await client.post(
            f"{url}/api/v1/tickets/", json=job["body"], headers={"Authorization": f"Bearer {job['token']}"}
        )
    except httpx.HTTPError as exc:
        return [0, f"{type(exc).__name__}: {exc}"]
    try:
        return [response.status_code, response.json().get("id")]
    except ValueError:
        return [response.status_code, response.text[:200]]


async def main(job: dict) -> list:
    limits = httpx.Limits(max_connections=job["requests"])
    async with httpx.AsyncClient(timeout=job["timeout_seconds"], limits=limits) as client:
        time.sleep(max(0.0, job["start_at"] - time.time()))
        urls = job["urls"]
        return await asyncio.gather(*(_post(client, urls[i % len(urls)], job) for i in range(job["requests"])))


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.load(sys.stdin)))))
