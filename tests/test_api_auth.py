"""Who may call the API: every endpoint but health needs a token (401), the token's role must
allow the request (403), a token is rate limited (429 + Retry-After), revoked tokens stop
working, and every error has the same JSON shape."""

from __future__ import annotations

import re

from test_api_fixtures import api, make_api  # noqa: F401  (fixture)

# Every operation the OpenAPI document lists, with ids that exist nowhere: auth is decided first.
PATH_VALUES = {"job_id": "nojob", "batch_id": "nobatch", "avatar_id": "noavatar", "name": "video"}


def operations(client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    found = []
    for path, methods in spec["paths"].items():
        for method in methods:
            found.append((method.upper(), re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)))
    return found


def is_error(response, status: int, code: str) -> bool:
    body = response.json()
    return response.status_code == status and body["error"]["code"] == code and body["error"]["message"]


def test_every_endpoint_but_health_needs_a_token(api):
    ops = operations(api.client)
    assert len(ops) >= 17
    for method, path in ops:
        anonymous = api.client.request(method, path)
        if path == "/health":
            assert anonymous.status_code == 200 and anonymous.json() == {"ok": True, "mode": "embedded"}
            continue
        assert is_error(anonymous, 401, "unauthorized"), (method, path, anonymous.text)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        wrong = api.client.request(method, path, headers={"Authorization": "Bearer tf_not-a-real-token"})
        assert is_error(wrong, 401, "unauthorized"), (method, path)
        # with a token the request gets past authentication (admin may do everything)
        assert api.client.request(method, path, headers=api.headers("admin")).status_code not in (401, 403)


def test_roles_editor_reviewer_admin(api, portrait_path):
    # an editor may not decide a review or delete an avatar; a reviewer may decide, not delete
    for role, method, path, body in [
        ("editor", "POST", "/jobs/nojob/approve", None),
        ("editor", "POST", "/jobs/nojob/reject", {"note": "no"}),
        ("editor", "DELETE", "/avatars/noavatar", None),
        ("reviewer", "DELETE", "/avatars/noavatar", None),
    ]:
        refused = api.client.request(method, path, headers=api.headers(role), json=body)
        assert is_error(refused, 403, "forbidden"), (role, path)
        assert f"has the role {role}" in refused.json()["error"]["message"]
    # allowed roles get as far as the object (which does not exist)
    assert api.client.post("/jobs/nojob/approve", headers=api.headers("reviewer")).status_code == 404
    assert api.client.post("/jobs/nojob/reject", headers=api.headers("reviewer"), json={"note": "no"}).status_code == 404
    assert api.client.delete("/avatars/noavatar", headers=api.headers("admin")).status_code == 404


def test_revoked_token_is_refused_from_the_next_request(api):
    from factory.identity import find_token, revoke_token

    secret = api.new_token("short-lived")
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.client.get("/jobs", headers=headers).status_code == 200
    revoke_token(api.service.jobs, find_token(api.service.jobs, "short-lived").id)
    refused = api.client.get("/jobs", headers=headers)
    assert is_error(refused, 401, "unauthorized") and "revoked" in refused.json()["error"]["message"]


def test_rate_limit_answers_429_with_retry_after_on_every_endpoint(settings):
    settings.api_rate_limit_per_minute = 2
    limited = make_api(settings)
    with limited.client:
        for index, (method, path) in enumerate(operations(limited.client)):
            if path == "/health":
                continue
            secret = limited.new_token(f"burst-{index}", "admin")
            headers = {"Authorization": f"Bearer {secret}"}
            for _ in range(2):
                assert limited.client.request(method, path, headers=headers).status_code != 429
            over = limited.client.request(method, path, headers=headers)
            assert is_error(over, 429, "rate_limited"), (method, path, over.text)
            assert 1 <= int(over.headers["retry-after"]) <= 30
        # another token is not slowed down by the first one's burst
        assert limited.client.get("/jobs", headers=limited.headers("editor")).status_code == 200


def test_errors_share_one_shape_and_unknown_things_are_refused(api):
    client, headers = api.client, api.headers()
    for response, status in [
        (client.get("/no/such/path", headers=headers), 404),
        (client.put("/jobs", headers=headers), 405),
        (client.get("/jobs", params={"limit": "99999999999999999999"}, headers=headers), 422),
        (client.get("/jobs", params={"stauts": "failed"}, headers=headers), 422),  # a typo is not ignored
        (client.post("/jobs", headers=headers, json={"avatar": "a", "script": "Hi.", "colour": "red"}), 422),
        (client.post("/jobs", headers=headers, json={"avatar": "a", "script": "Hi.", "priority": 99999999999}), 422),
        (client.post("/jobs", headers=headers, content=b"{not json", ), 415),
        (client.post("/jobs", headers={**headers, "Content-Type": "application/json"}, content=b"{not json"), 422),
    ]:
        body = response.json()
        assert response.status_code == status, (status, body)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    unknown_field = client.post("/jobs", headers=headers, json={"avatar": "a", "script": "Hi.", "colour": "red"})
    assert "colour" in unknown_field.json()["error"]["message"]


def test_health_and_docs_are_anonymous_and_say_nothing_secret(api):
    health = api.client.get("/health")
    assert health.status_code == 200 and set(health.json()) == {"ok", "mode"}
    page = api.client.get("/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    assets = re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', page.text)
    assert len(assets) >= 2 and all(api.client.get(url).status_code == 200 for url in assets)
    spec = api.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"

