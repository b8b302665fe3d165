//! `ssoperator diff`: what the operator would write for each manifest, read live from the
//! provider, without a cluster. The comparison is the operator's own (`Provider::desired_fields`
//! and [`crate::core::diff`]); Secrets come from the manifests or local files, never a cluster.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

use serde_json::Value;

use super::{Calls, CredentialArgs, Doc, EXIT_ERROR, EXIT_FOUND, EXIT_OK};
use crate::{
    controller::registry::provider_kind,
    core::{
        desired::{
            self, Desired, MappingTarget, ProfileDesired, ResourceKind, RoleMappingDesired,
            SecretValue,
        },
        diff::diff,
        plan::{self, Action, Change},
        redact::Secrets,
    },
    crd::{
        ClusterProviderConfigSpec, ConnectionProfileSpec, EnterpriseConnectionSpec, ManagedFields,
        OrgRoleMappingSpec, ProviderAccount, ProviderConfigKind, ProviderConfigSpec,
    },
    provider::{DynProvider, ProviderKind},
};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`); ProviderConfigs and Secrets
    /// among them are used to reach the accounts.
    #[arg(long, short = 'f', required = true)]
    pub filename: Vec<PathBuf>,
    /// Base URL of the provider's API, instead of the ProviderConfig's `endpoint`.
    #[arg(long)]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
}

/// One provider account reached by the run.
struct Account {
    kind: ProviderKind,
    provider: DynProvider,
    secrets: Secrets,
    /// [`ProviderAccount::identity`] (no credentials).
    identity: String,
}

/// Runs the diff; the exit code (0 no difference, 1 differences, 2 an error).
pub async fn run(args: Args, roots: super::Roots) -> u8 {
    let docs = match super::load_docs(&args.filename) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ssoperator diff: {e}");
            return EXIT_ERROR;
        }
    };
    let calls = Arc::new(Calls::default());
    let mut accounts: BTreeMap<String, Account> = BTreeMap::new();
    let mut found = false;
    let mut failed = false;
    for doc in docs.iter().filter(|d| is_managed(d)) {
        match one(&args, &docs, doc, &mut accounts, &calls, &roots).await {
            Ok(text) => {
                if !text.is_empty() {
                    found = true;
                    print!("{text}");
                }
            }
            Err(e) => {
                failed = true;
                eprintln!(
                    "ssoperator diff: {} {}/{} ({}): {e}",
                    doc.kind(),
                    doc.namespace(),
                    doc.name(),
                    doc.source
                );
            }
        }
    }
    exit_code(found, failed)
}

/// 2 when anything failed, else 1 when anything differs, else 0 (as `kubectl diff`).
pub fn exit_code(found: bool, failed: bool) -> u8 {
    if failed {
        EXIT_ERROR
    } else if found {
        EXIT_FOUND
    } else {
        EXIT_OK
    }
}

fn is_managed(d: &Doc) -> bool {
    d.value.get("apiVersion").and_then(Value::as_str) == Some(crate::core::export::API_VERSION)
        && matches!(
            d.kind(),
            "EnterpriseConnection" | "ConnectionProfile" | "OrgRoleMapping"
        )
}

fn spec<T: serde::de::DeserializeOwned>(doc: &Doc) -> Result<T, String> {
    serde_json::from_value(doc.value.get("spec").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("spec: {e}"))
}

/// The account a resource's providerConfigRef names, from the ProviderConfigs in the files.
async fn account<'a>(
    args: &Args,
    docs: &[Doc],
    ns: &str,
    managed: &ManagedFields,
    accounts: &'a mut BTreeMap<String, Account>,
    calls: &Arc<Calls>,
    roots: &super::Roots,
) -> Result<&'a Account, String> {
    let r = &managed.provider_config_ref;
    let (key, config_kind) = match r.kind {
        ProviderConfigKind::ProviderConfig => {
            (format!("ProviderConfig {ns}/{}", r.name), "ProviderConfig")
        }
        ProviderConfigKind::ClusterProviderConfig => (
            format!("ClusterProviderConfig {}", r.name),
            "ClusterProviderConfig",
        ),
    };
    if !accounts.contains_key(&key) {
        let doc = docs
            .iter()
            .find(|d| {
                d.kind() == config_kind
                    && d.name() == r.name
                    && (config_kind == "ClusterProviderConfig" || d.namespace() == ns)
            })
            .ok_or_else(|| {
                format!("spec.providerConfigRef: {key} is not in the files given with -f")
            })?;
        let (mut account, secret_ns): (ProviderAccount, String) = if config_kind == "ProviderConfig"
        {
            (spec::<ProviderConfigSpec>(doc)?.account, ns.to_string())
        } else {
            let s = spec::<ClusterProviderConfigSpec>(doc)?;
            let secret_ns = s
                .account
                .credentials_secret_ref
                .namespace
                .clone()
                .unwrap_or_default();
            (s.account, secret_ns)
        };
        if let Some(e) = &args.endpoint {
            account.endpoint = Some(e.clone());
        }
        let kind =
            provider_kind(&account).ok_or_else(|| format!("{key} sets no provider block"))?;
        let secret_name = account.credentials_secret_ref.name.clone();
        let (data, sns, sname) = super::credentials(
            kind,
            &args.credentials,
            Some((&secret_ns, &secret_name)),
            docs,
        )
        .await
        .map_err(|e| format!("{key}: {e}"))?;
        let (provider, secrets) =
            super::client(kind, &account, &data, &sns, &sname, calls.clone(), roots)
                .map_err(|e| format!("{key}: {e}"))?;
        accounts.insert(
            key.clone(),
            Account {
                kind,
                provider,
                secrets,
                identity: account.identity(),
            },
        );
    }
    accounts
        .get(&key)
        .ok_or_else(|| format!("{key}: not resolved"))
}

/// The value of `spec.oidc.clientSecretRef` from a Secret among the files. The diff only needs
/// to know that the spec sets it (a write-only value always shows as `(would change)`), so a
/// Secret that is not in the files is not an error; a Secret without the key is.
fn client_secret(
    docs: &[Doc],
    ns: &str,
    spec: &EnterpriseConnectionSpec,
) -> Result<Option<SecretValue>, String> {
    let Some(r) = spec
        .oidc
        .as_ref()
        .and_then(|o| o.client_secret_ref.as_ref())
    else {
        return Ok(None);
    };
    let Some(doc) = docs
        .iter()
        .find(|d| d.kind() == "Secret" && d.name() == r.name && d.namespace() == ns)
    else {
        return Ok(Some(SecretValue::new("")));
    };
    let data = super::secret_data(&doc.value)?;
    crate::controller::registry::secret_key(&data, &r.key, ns, &r.name)
        .map(Some)
        .map_err(|e| format!("spec.oidc.clientSecretRef: {e}"))
}

/// The provider id an OrgRoleMapping's connectionRef stands for: the EnterpriseConnection's
/// externalName, or the id of the connection of its name.
async fn connection_id(
    docs: &[Doc],
    ns: &str,
    name: &str,
    provider: &DynProvider,
) -> Result<String, String> {
    let doc = docs
        .iter()
        .find(|d| d.kind() == "EnterpriseConnection" && d.name() == name && d.namespace() == ns)
        .ok_or_else(|| {
            format!("spec.connectionRef: EnterpriseConnection {ns}/{name} is not in the files")
        })?;
    let s: EnterpriseConnectionSpec = spec(doc)?;
    if let Some(id) = s.managed.external_name {
        return Ok(id);
    }
    provider
        .find_by_name(ResourceKind::EnterpriseConnection, &s.name)
        .await
        .map_err(|e| e.to_string())?
        .map(|r| r.id)
        .ok_or_else(|| format!("spec.connectionRef: EnterpriseConnection {ns}/{name} ({:?}) does not exist at the provider", s.name))
}

/// The diff of one resource, rendered (empty: in sync).
async fn one(
    args: &Args,
    docs: &[Doc],
    doc: &Doc,
    accounts: &mut BTreeMap<String, Account>,
    calls: &Arc<Calls>,
    roots: &super::Roots,
) -> Result<String, String> {
    let ns = doc.namespace().to_string();
    let (managed, desired): (ManagedFields, Option<Desired>) = match doc.kind() {
        "EnterpriseConnection" => {
            let s: EnterpriseConnectionSpec = spec(doc)?;
            let secret = client_secret(docs, &ns, &s)?;
            (s.managed.clone(), Some(desired::connection(&s, secret)?))
        }
        "ConnectionProfile" => {
            let s: ConnectionProfileSpec = spec(doc)?;
            (
                s.managed.clone(),
                Some(Desired::Profile(ProfileDesired::from_spec(&s))),
            )
        }
        _ => {
            let s: OrgRoleMappingSpec = spec(doc)?;
            MappingTarget::of(&s)?;
            (s.managed.clone(), None)
        }
    };
    let account = account(args, docs, &ns, &managed, accounts, calls, roots).await?;
    let (kind, provider, secrets, account_id) = (
        account.kind,
        account.provider.clone(),
        account.secrets.clone(),
        account.identity.clone(),
    );
    let fail = |what: &str, e: &crate::provider::ProviderError| {
        super::provider_error(kind, what, e, calls, &secrets)
    };
    let desired = match desired {
        Some(d) => d,
        None => {
            let s: OrgRoleMappingSpec = spec(doc)?;
            let target = match MappingTarget::of(&s)? {
                MappingTarget::External(id) => id,
                MappingTarget::Connection(name) => {
                    connection_id(docs, &ns, &name, &provider).await?
                }
            };
            Desired::RoleMapping(RoleMappingDesired::from_spec(&s, target))
        }
    };
    let want = provider
        .desired_fields(&desired)
        .map_err(|e| fail("comparing", &e))?;
    let rk = desired.kind();
    let write_only = provider.write_only_paths(&desired);
    let remote = match &managed.external_name {
        Some(id) => Some(
            provider
                .observe(rk, id)
                .await
                .map_err(|e| fail("reading", &e))?
                .ok_or_else(|| format!("spec.externalName {id:?} does not exist at {kind}"))?,
        ),
        None => provider
            .find_by_name(rk, desired.name())
            .await
            .map_err(|e| fail("finding by name", &e))?,
    };
    let (action, object, current, paths, header) = match &remote {
        Some(r) => {
            let mut d = diff(&want, &r.fields);
            // The operator cannot read write-only values back; a resource without a record of
            // what was sent (a fresh apply) has them sent once.
            for p in &write_only {
                d.push(p.clone());
            }
            let header = format!("{} {ns}/{} ({kind} {})", doc.kind(), doc.name(), r.id);
            (
                Action::Update,
                r.id.clone(),
                Some(&r.fields),
                d.paths,
                header,
            )
        }
        None => {
            let mut paths: Vec<String> = want.keys().cloned().collect();
            paths.extend(write_only.iter().cloned());
            paths.sort();
            let header = format!(
                "{} {ns}/{} ({kind}: {:?} does not exist and would be created)",
                doc.kind(),
                doc.name(),
                desired.name()
            );
            (
                Action::Create,
                desired.name().to_string(),
                None,
                paths,
                header,
            )
        }
    };
    let change = Change {
        action,
        kind: rk.as_str(),
        account: &account_id,
        object: &object,
        want: &want,
        current,
        paths: &paths,
        write_only: &write_only,
        write_only_hash: None,
    };
    let planned = plan::plan(&change, "");
    Ok(secrets.redact(&plan::render(&header, &planned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_kubectl_diff() {
        assert_eq!(exit_code(false, false), 0);
        assert_eq!(exit_code(true, false), 1);
        assert_eq!(exit_code(true, true), 2);
        assert_eq!(exit_code(false, true), 2);
    }
}
