"""The double's answers checked against the backend's own response schemas (zod), not
against our client: a transcription of

- backend/src/server/routes/v4/secret-router.ts @424c79c, route GET /api/v4/secrets,
  `response: {200: z.object({secrets: secretRawSchema.extend({...}).array(), imports: ...})}`
- backend/src/server/routes/sanitizedSchemas.ts @0d89d70: `secretRawSchema`,
  `SanitizedTagSchema` (SecretTagsSchema.pick({id, slug, color}).extend({name})),
  `DefaultResponseErrorsSchema` (the error bodies)
- backend/src/db/schemas/secret-tags.ts @c2f2a03 (color: string, nullable, optional)
- backend/src/services/resource-metadata/resource-metadata-schema.ts
  (ResourceMetadataWithEncryptionSchema: [{key, value, isEncrypted}])

Fastify serializes a 200 through its response schema, so a key the schema does not name
never reaches a client: the check refuses unknown keys as well as missing or mistyped ones.
(zod `z.date()` fields travel as ISO-8601 strings.)"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from tests.doubles.infisical.harness import (
    CLIENT_ID, CLIENT_SECRET, DESCRIBE_ID, DESCRIBE_SECRET, PROJECT, running_double,
)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# a field: (type, required, nullable); types: str, num, bool, date, uuid, or a nested schema / [schema]
def F(kind, required=True, nullable=False):
    return (kind, required, nullable)


ACTOR = {"actorId": F("str", False, True), "actorType": F("str", False, True), "name": F("str", False, True),
         "membershipId": F("str", False, True), "groupId": F("str", False, True)}
SECRET_RAW = {
    "id": F("str"), "_id": F("str"), "workspace": F("str"), "environment": F("str"), "version": F("num"),
    "type": F("str"), "secretKey": F("str"), "secretValue": F("str"), "secretComment": F("str"),
    "secretReminderNote": F("str", False, True), "secretReminderRepeatDays": F("num", False, True),
    "skipMultilineEncoding": F("bool", False, True), "createdAt": F("date"), "updatedAt": F("date"),
    "actor": F(ACTOR, False, True), "isRotatedSecret": F("bool", False), "rotationId": F("uuid", False, True),
}
METADATA = [{"key": F("str"), "value": F("str"), "isEncrypted": F("bool")}]
TAG = {"id": F("uuid"), "slug": F("str"), "color": F("str", False, True), "name": F("str")}
LIST_SECRET = dict(SECRET_RAW, secretPath=F("str", False), secretValueHidden=F("bool"),
                   secretMetadata=F(METADATA, False), tags=F([TAG], False))
IMPORT_SECRET = {k: f for k, f in SECRET_RAW.items() if k not in ("createdAt", "updatedAt")}
IMPORT_SECRET.update(secretValueHidden=F("bool"), secretMetadata=F(METADATA, False))
IMPORT = {"secretPath": F("str"), "environment": F("str"), "folderId": F("str", False),
          "secrets": F([IMPORT_SECRET])}
LIST_200 = {"secrets": F([LIST_SECRET]), "imports": F([IMPORT], False)}
# DefaultResponseErrorsSchema (400/403 may carry `details`)
ERROR = {"reqId": F("str"), "statusCode": F("num"), "message": F("str"), "error": F("str"),
         "details": F("any", False, True)}


def check(value, schema, where="$"):
    """Every problem found, as 'path: reason'."""
    problems = []
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: not an array"]
        for i, item in enumerate(value):
            problems += check(item, schema[0], f"{where}[{i}]")
        return problems
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        for key in value:
            if key not in schema:
                problems.append(f"{where}.{key}: not in the schema (the server's serializer drops it)")
        for key, (kind, required, nullable) in schema.items():
            if key not in value:
                if required:
                    problems.append(f"{where}.{key}: missing")
                continue
            item = value[key]
            if item is None:
                if not nullable:
                    problems.append(f"{where}.{key}: null")
                continue
            problems += check(item, kind, f"{where}.{key}")
        return problems
    ok = {"str": isinstance(value, str), "num": isinstance(value, (int, float)) and not isinstance(value, bool),
          "bool": isinstance(value, bool), "any": True,
          "date": isinstance(value, str) and bool(ISO.match(value)),
          "uuid": isinstance(value, str) and bool(UUID.match(value))}[schema]
    return [] if ok else [f"{where}: not a {schema} ({type(value).__name__})"]


def call(url, method="GET", body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def double():
    with running_double() as dbl:
        yield dbl


def login(double, client_id=CLIENT_ID, secret=CLIENT_SECRET):
    status, body = call(double.url + "/api/v1/auth/universal-auth/login", "POST",
                        {"clientId": client_id, "clientSecret": secret})
    assert status == 200 and set(body) == {"accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType"}
    assert body["tokenType"] == "Bearer" and len(body["accessToken"].split(".")) == 3  # a JWT
    return body["accessToken"]


def test_the_schema_check_catches_what_it_should():
    good = {"secrets": [], "imports": [{"secretPath": "/a", "environment": "prod", "secrets": []}]}
    assert check(good, LIST_200) == []
    assert check({"secrets": [{"secretKey": "X"}]}, LIST_200)  # missing fields
    assert check({"secrets": [], "extra": 1}, LIST_200) == ["$.extra: not in the schema (the server's serializer drops it)"]


@pytest.mark.parametrize("query", [
    "secretPath=/gitea&include_imports=true",
    "secretPath=/gitea&include_imports=true&recursive=true&expandSecretReferences=true",
    "secretPath=/docker&tagSlugs=deploy",
    "secretPath=/nest/top&include_imports=true",
    "secretPath=/refs&expandSecretReferences=true&viewSecretValue=false",
    "secretPath=/does/not/exist&include_imports=true",
])
def test_v4_list_matches_the_backend_response_schema(double, query):
    token = login(double)
    status, body = call(f"{double.url}/api/v4/secrets?projectId={PROJECT}&environment=prod&{query}", token=token)
    assert status == 200
    assert check(body, LIST_200) == []


def test_hidden_values_match_the_schema_and_the_mask(double):
    token = login(double, DESCRIBE_ID, DESCRIBE_SECRET)
    status, body = call(f"{double.url}/api/v4/secrets?projectId={PROJECT}&environment=prod"
                        "&secretPath=/gitea&include_imports=true", token=token)
    assert status == 200 and check(body, LIST_200) == []
    assert {(s["secretValue"], s["secretValueHidden"]) for s in body["secrets"]} == {("<hidden-by-infisical>", True)}
    two = [i for i in body["imports"] if i["secretPath"] == "/shared/two"][0]
    assert all(s["secretValueHidden"] for s in two["secrets"])
    one = [i for i in body["imports"] if i["secretPath"] == "/shared/one"][0]
    assert not any(s["secretValueHidden"] for s in one["secrets"])


def test_missing_folder_is_an_empty_200(double):
    token = login(double)
    for env, path in (("prod", "/nope"), ("staging", "/gitea")):
        status, body = call(f"{double.url}/api/v4/secrets?projectId={PROJECT}&environment={env}"
                            f"&secretPath={path}&include_imports=true", token=token)
        assert (status, body) == (200, {"secrets": [], "imports": []})


def test_error_bodies_match_the_default_error_schema(double):
    token = login(double)
    url = f"{double.url}/api/v4/secrets?projectId={PROJECT}&environment=prod&secretPath=/"
    cases = [
        (call(url), 401, "UnauthorizedError"),                                     # no token
        (call(url, token=token[:-3] + "abc"), 403, "TokenError"),                  # signature
        (call(url, token="not-a-jwt"), 403, "TokenError"),                         # malformed
        (call(f"{double.url}/api/v4/secrets?projectId={PROJECT}&secretPath=/", token=token), 400,
         "BadRequestError"),                                                       # no environment
        (call(double.url + "/api/v1/auth/universal-auth/login", "POST",
              {"clientId": CLIENT_ID, "clientSecret": "wrong"}), 401, "UnauthorizedError"),
    ]
    for (status, body), want_status, want_error in cases:
        assert status == want_status and body["error"] == want_error, body
        assert body["statusCode"] == status and check(body, ERROR) == [], body
    double.expire_tokens()
    status, body = call(url, token=token)
    assert (status, body["error"], body["message"]) == (403, "TokenError", "Your token has expired. Please re-authenticate.")
    fresh = login(double)
    double.revoke_tokens()
    status, body = call(url, token=fresh)
    assert (status, body["error"]) == (401, "UnauthorizedError") and check(body, ERROR) == []
