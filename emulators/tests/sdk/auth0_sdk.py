"""Drives the Auth0 emulator with Auth0's official Python SDK (PyPI auth0-python, pinned in
scripts/sdk-venv.sh), through every connection-profile operation ssoperator uses, plus templates.
Run by emulators/tests/sdk.rs.

Env: AUTH0_URL (the emulator, http://host:port), AUTH0_DOMAIN (the tenant's canonical domain, for the
token audience), AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET.
Prints one JSON object on its last line; exits non-zero on the first failure.
"""

import json
import os
import sys
from urllib.parse import urlsplit

from auth0.authentication import GetToken
from auth0.management import Auth0
from auth0.management.core.api_error import ApiError
from auth0.management.types import (
    ConnectionProfileOrganization,
    ConnectionProfileProvisioningGoogleWorkspace,
    ConnectionProfileStrategyOverride,
    ConnectionProfileStrategyOverrides,
    ConnectionProfileStrategyOverridesProvisioning,
)

url = os.environ["AUTH0_URL"].rstrip("/")
tenant = os.environ["AUTH0_DOMAIN"]
result = {}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# The Authentication API client's documented test override: protocol="http" with host:port as domain.
token = GetToken(
    urlsplit(url).netloc,
    os.environ["AUTH0_CLIENT_ID"],
    client_secret=os.environ["AUTH0_CLIENT_SECRET"],
    protocol="http",
).client_credentials(audience=f"https://{tenant}/api/v2/")["access_token"]

# The Management API client's documented server-URL override: base_url (ManagementClient always
# builds https://{domain}/api/v2).
api = Auth0(base_url=f"{url}/api/v2", token=token, max_retries=0)
cp = api.connection_profiles

templates = cp.list_templates()
check(templates.connection_profile_templates, f"templates: {templates}")
first = templates.connection_profile_templates[0]
template = cp.get_template(first.id)
check(template.id == first.id and template.template is not None, f"template: {template}")
result["templates"] = [t.id for t in templates.connection_profile_templates]

created = cp.create(
    name="sdk-profile",
    organization=ConnectionProfileOrganization(show_as_button="optional", assign_membership_on_login="none"),
    connection_name_prefix_template="sdk-{org_id}",
    enabled_features=["scim", "universal_logout", "directory_sync"],
    connection_config={},
    strategy_overrides=ConnectionProfileStrategyOverrides(
        google_apps=ConnectionProfileStrategyOverride(
            enabled_features=["directory_sync"],
            provisioning=ConnectionProfileStrategyOverridesProvisioning(
                google_workspace=ConnectionProfileProvisioningGoogleWorkspace(sync_users=True)
            ),
        ),
        okta=ConnectionProfileStrategyOverride(enabled_features=["scim"], connection_config={}),
    ),
    provisioning={"scim": {"tokens": {"scopes": ["get:users", "post:users"], "default_expiry": 3600}}},
    cross_app_access_resource_app={"status": {"default_value": "disabled", "allowed_values": ["enabled", "disabled"]}},
)
check(created.id and created.name == "sdk-profile", f"create: {created}")
check("directory_sync" in created.enabled_features, f"create features: {created}")
check(created.provisioning is not None and created.provisioning.scim is not None, f"provisioning: {created}")
check(
    created.strategy_overrides.google_apps.provisioning.google_workspace.sync_users is True,
    f"strategy provisioning: {created}",
)
result["created"] = created.id

got = cp.get(created.id)
check(got.id == created.id and got.cross_app_access_resource_app is not None, f"get: {got}")

for n in range(12):
    cp.create(name=f"sdk-more-{n}")
# The SDK's default page size (take=50) and its pager over checkpoint pages.
names = [p.name for p in cp.list()]
check(len(names) == 13 and names[0] == "sdk-profile", f"list: {names}")
small = [p.name for p in cp.list(take=5)]
check(small == names, f"paged list: {small}")
result["listed"] = len(names)

updated = cp.update(
    created.id,
    name="sdk-profile-2",
    strategy_overrides=ConnectionProfileStrategyOverrides(
        okta=ConnectionProfileStrategyOverride(enabled_features=["universal_logout"])
    ),
)
check(updated.name == "sdk-profile-2", f"update: {updated}")
check(updated.strategy_overrides.okta.enabled_features == ["universal_logout"], f"update okta: {updated}")
result["updated"] = updated.name

try:
    cp.create(name="sdk-more-0")
    raise AssertionError("a taken name was accepted")
except ApiError as e:
    check(e.status_code == 409, f"taken name status {e.status_code}")

for p in list(cp.list()):
    cp.delete(p.id)
check(list(cp.list()) == [], "not empty after delete")
try:
    cp.get(created.id)
    raise AssertionError("deleted profile found")
except ApiError as e:
    check(e.status_code == 404, f"deleted status {e.status_code}")

print(json.dumps(result))
