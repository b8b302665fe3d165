"""Drives the Clerk emulator with Clerk's official Python SDK (PyPI clerk-backend-api, pinned in
scripts/sdk-venv.sh), through every operation ssoperator uses. Run by emulators/tests/sdk.rs.

Env: CLERK_SERVER_URL (the emulator's base URL with /v1), CLERK_SECRET_KEY.
Prints one JSON object on its last line; exits non-zero on the first failure.
"""

import json
import os
import sys

from clerk_backend_api import Clerk, models

server_url = os.environ["CLERK_SERVER_URL"]
secret_key = os.environ["CLERK_SECRET_KEY"]
result = {}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# server_url is the SDK's documented override of its default https://api.clerk.com/v1.
with Clerk(bearer_auth=secret_key, server_url=server_url) as clerk:
    ec = clerk.enterprise_connections
    saml = ec.create(
        request={
            "name": "sdk-saml",
            "provider": "saml_custom",
            "domains": ["sdk.example.com"],
            "saml": {
                "idp_entity_id": "https://idp.sdk.example.com",
                "idp_sso_url": "https://idp.sdk.example.com/sso",
                "attribute_mapping": {"email_address": "mail"},
                "login_hint": {"mode": "email_address"},
            },
            "custom_attributes": [{"name": "Department", "key": "department"}],
        }
    )
    check(saml.id and saml.saml_connection is not None, f"create saml: {saml}")
    check(saml.custom_attributes[0].key == "department", f"custom_attributes: {saml}")
    oidc = ec.create(
        request={
            "name": "sdk-oidc",
            "provider": "oidc_custom",
            "domains": ["oidc.sdk.example.com"],
            "oidc": {
                "client_id": "cid",
                "client_secret": "csecret",
                "discovery_url": "https://idp.sdk.example.com/.well-known/openid-configuration",
            },
        }
    )
    check(oidc.oauth_config is not None, f"create oidc: {oidc}")
    # Names are not unique at Clerk: a second connection with a taken name is created.
    twin = ec.create(
        request={"name": "sdk-saml", "provider": "saml_okta", "domains": ["twin.sdk.example.com"]}
    )
    check(twin.id != saml.id, "duplicate name")
    result["created"] = [saml.id, oidc.id, twin.id]

    got = ec.get(enterprise_connection_id=saml.id)
    check(got.id == saml.id and got.name == "sdk-saml", f"get: {got}")

    # The SDK's default page (limit 10, offset 0), then an explicit page.
    page = ec.list()
    check(page.total_count == 3 and len(page.data) == 3, f"list: {page}")
    page = ec.list(limit=1, offset=1)
    check(len(page.data) == 1 and page.total_count == 3, f"list page: {page}")

    updated = ec.update(
        enterprise_connection_id=saml.id,
        name="sdk-saml-renamed",
        sync_user_attributes=False,
        saml={"allow_subdomains": True, "force_authn": True},
        custom_attributes=[{"name": "Cost centre", "key": "cost-centre", "multi_valued": True}],
    )
    check(updated.name == "sdk-saml-renamed", f"update: {updated}")
    check(updated.saml_connection.force_authn is True, f"update saml: {updated}")
    check(updated.sync_user_attributes is False, f"update sync: {updated}")
    result["updated"] = updated.name

    # A key rule the spec sets: custom attribute keys must not start with "_".
    try:
        ec.update(
            enterprise_connection_id=saml.id,
            custom_attributes=[{"name": "x", "key": "_bad"}],
        )
        raise AssertionError("a custom attribute key starting with _ was accepted")
    except models.ClerkErrors as e:
        check(e.raw_response.status_code == 422, f"bad key status {e.raw_response.status_code}")
        result["bad_custom_attribute"] = e.data.errors[0].code

    try:
        ec.get(enterprise_connection_id="ec_missing")
        raise AssertionError("missing connection found")
    except models.ClerkErrors as e:
        check(e.raw_response.status_code == 404, f"missing status {e.raw_response.status_code}")

    for conn_id in result["created"]:
        deleted = ec.delete(enterprise_connection_id=conn_id)
        check(deleted.deleted and deleted.id == conn_id, f"delete: {deleted}")
    check(ec.list().total_count == 0, "not empty after delete")

# A wrong key: the spec's answer is 403 (AuthorizationInvalid), which the SDK raises as ClerkErrors.
with Clerk(bearer_auth="sk_test_wrong", server_url=server_url) as bad:
    try:
        bad.enterprise_connections.list()
        raise AssertionError("a wrong key was accepted")
    except models.ClerkErrors as e:
        check(e.raw_response.status_code == 403, f"wrong key status {e.raw_response.status_code}")
        result["wrong_key"] = e.raw_response.status_code

print(json.dumps(result))
