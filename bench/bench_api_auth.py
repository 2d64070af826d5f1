"""What authentication costs: milliseconds per API request with and without a token, and the
Argon2id password hash / check (console log-in).

    .venv/bin/python bench/bench_api_auth.py [--requests 300]

Runs in process (FastAPI's TestClient, SQLite in a temporary folder), so the numbers are the
server's own work, without a network.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def per_request_ms(call, count: int) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from factory.api import create_app
    from factory.identity import authenticate, create_token, create_user
    from factory.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(data_dir=Path(tmp) / "data", api_rate_limit_per_minute=10**9)
        app = create_app(settings)
        store = app.state.service.jobs
        _, secret = create_token(store, "bench", "editor", "bench")
        headers = {"Authorization": f"Bearer {secret}"}
        with TestClient(app) as client:
            client.get("/jobs", headers=headers)  # warm: imports, first queries
            health = per_request_ms(lambda: client.get("/health"), args.requests)
            jobs = per_request_ms(lambda: client.get("/jobs", headers=headers), args.requests)
            refused = per_request_ms(lambda: client.get("/jobs"), args.requests)
        start = time.perf_counter()
        create_user(store, "bench-user", "a long bench password", "editor")
        hash_ms = (time.perf_counter() - start) * 1000
        login_ms = per_request_ms(lambda: authenticate(store, "bench-user", "a long bench password"), 20)
    print(f"GET /health (anonymous)        median {health:6.2f} ms per request ({args.requests} requests)")
    print(f"GET /jobs with a token         median {jobs:6.2f} ms per request")
    print(f"GET /jobs without a token (401) median {refused:6.2f} ms per request")
    print(f"Argon2id: add a user {hash_ms:6.1f} ms; log in median {login_ms:6.1f} ms (20 tries)")


if __name__ == "__main__":
    main()
