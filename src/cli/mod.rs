//! `ssoperator export`, `diff` and `validate`: onboarding an account that already exists.
//!
//! The pure parts live in [`crate::core`] (`export`, `diff`, `cel`); this module reads files,
//! credentials and providers, and prints. Exit codes: 0 success (and, for `diff`, no
//! difference), 1 differences (`diff`) or invalid manifests (`validate`), 2 an error.

pub mod diff;
pub mod export;
pub mod validate;

use std::{
    collections::BTreeMap,
    io::IsTerminal,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::{ByteString, api::core::v1::Secret};
use serde_json::Value;

use crate::{
    controller::{error::Error, registry::build_provider},
    core::redact::Secrets,
    crd::ProviderAccount,
    provider::{
        CallObserver, DynProvider, PROVIDERS, ProviderError, ProviderKind, http::ClientSettings,
    },
};

/// The subcommands; without one the binary runs the operator.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Print manifests that adopt every object of a provider account (ObserveOnly, Orphan).
    Export(export::Args),
    /// Show, per manifest, the fields the operator would write to the provider (no cluster).
    Diff(diff::Args),
    /// Check manifests offline against the CRD schemas and their CEL rules.
    Validate(validate::Args),
}

/// Exit status of a subcommand.
pub const EXIT_OK: u8 = 0;
/// `diff`: differences; `validate`: invalid manifests.
pub const EXIT_FOUND: u8 = 1;
/// Any error.
pub const EXIT_ERROR: u8 = 2;

/// CA certificates trusted besides the webpki roots for provider calls (the operator's
/// `--provider-ca-bundle` / `SSOPERATOR_PROVIDER_CA_BUNDLE`).
pub type Roots = Arc<[reqwest::Certificate]>;

/// Runs a subcommand.
pub async fn run(command: Command, roots: Roots) -> ExitCode {
    let code = match command {
        Command::Export(a) => export::run(a, roots).await,
        Command::Diff(a) => diff::run(a, roots).await,
        Command::Validate(a) => validate::run(a),
    };
    ExitCode::from(code)
}

/// A provider name on the command line: one of [`PROVIDERS`]' names.
pub fn provider_arg() -> impl clap::builder::TypedValueParser<Value = ProviderKind> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(PROVIDERS.map(|d| d.name())).try_map(|name| {
        crate::provider::descriptor::by_name(&name)
            .map(|d| d.kind)
            .ok_or_else(|| format!("unknown provider {name:?}"))
    })
}

/// Where the account's credentials come from (the keys of the credentials Secret: `token`,
/// `clientId`/`clientSecret`, `apiKey`/`apiSecret`, `secretKey`, `publicKey`/`privateKey`).
/// Without a flag: `SSOPERATOR_CRED_<KEY>` variables (`SSOPERATOR_CRED_SECRET_KEY`, ...).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CredentialArgs {
    /// A Secret in the cluster (the current kubeconfig context), as NAMESPACE/NAME.
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        conflicts_with = "credentials_file"
    )]
    pub credentials_secret: Option<String>,
    /// A file that holds the credentials: Secret manifests (data or stringData; with several, the
    /// one the ProviderConfig names), or a flat YAML/JSON map of key to value.
    #[arg(long, value_name = "FILE")]
    pub credentials_file: Option<PathBuf>,
}

/// The keys of each provider's credentials Secret.
pub fn credential_keys(kind: ProviderKind) -> &'static [&'static str] {
    kind.descriptor().credential_keys
}

/// `secretKey` -> `SSOPERATOR_CRED_SECRET_KEY`.
pub fn env_name(key: &str) -> String {
    let mut out = String::from("SSOPERATOR_CRED_");
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// One document of a manifest file, with where it came from.
#[derive(Clone, Debug)]
pub struct Doc {
    /// `file` or `file#2` (the document's 1-based index in a multi-document file).
    pub source: String,
    pub value: Value,
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    /// `metadata.namespace`, `default` when unset.
    pub fn namespace(&self) -> &str {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
    }
}

/// The documents of a YAML or JSON text; `List` kinds are expanded to their items.
pub fn parse_docs(text: &str, source: &str) -> Result<Vec<Doc>, String> {
    use serde::Deserialize;
    let mut out = vec![];
    for (i, d) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(d).map_err(|e| format!("{source}: document {}: {e}", i + 1))?;
        if v.is_null() {
            continue;
        }
        let source = if i == 0 {
            source.to_string()
        } else {
            format!("{source}#{}", i + 1)
        };
        if v.get("kind").and_then(Value::as_str) == Some("List") {
            for item in v
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(Doc {
                    source: source.clone(),
                    value: item.clone(),
                });
            }
        } else {
            out.push(Doc { source, value: v });
        }
    }
    Ok(out)
}

/// Every document of the files given, directories read for `*.yaml`, `*.yml` and `*.json`
/// (recursively, in name order).
pub fn load_docs(paths: &[PathBuf]) -> Result<Vec<Doc>, String> {
    let mut files = vec![];
    for p in paths {
        collect_files(p, &mut files)?;
    }
    let mut out = vec![];
    for f in files {
        let text =
            std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        out.extend(parse_docs(&text, &f.display().to_string())?);
    }
    Ok(out)
}

fn collect_files(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let manifest = e
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"));
            if e.is_dir() || manifest {
                collect_files(&e, out)?;
            }
        }
        Ok(())
    } else if p.exists() {
        out.push(p.to_path_buf());
        Ok(())
    } else {
        Err(format!("{} does not exist", p.display()))
    }
}

/// The data of a Secret document (`data`, base64, and `stringData`, which wins).
pub fn secret_data(doc: &Value) -> Result<BTreeMap<String, ByteString>, String> {
    let secret: Secret =
        serde_json::from_value(doc.clone()).map_err(|e| format!("not a readable Secret: {e}"))?;
    let mut data = secret.data.unwrap_or_default();
    for (k, v) in secret.string_data.unwrap_or_default() {
        data.insert(k, ByteString(v.into_bytes()));
    }
    Ok(data)
}

/// Credentials data, the Secret's namespace and name (for messages), read as the flags say.
/// `wanted` is the Secret name a ProviderConfig gives (to pick one of several in a file).
/// `local` are Secret documents of the manifests themselves.
pub async fn credentials(
    kind: ProviderKind,
    args: &CredentialArgs,
    wanted: Option<(&str, &str)>,
    local: &[Doc],
) -> Result<(BTreeMap<String, ByteString>, String, String), String> {
    if let Some(ns_name) = &args.credentials_secret {
        let (ns, name) = ns_name
            .split_once('/')
            .ok_or_else(|| "--credentials-secret must be NAMESPACE/NAME".to_string())?;
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("--credentials-secret: cannot reach the cluster: {e}"))?;
        let api: kube::Api<Secret> = kube::Api::namespaced(client, ns);
        let s = api
            .get_opt(name)
            .await
            .map_err(|e| format!("--credentials-secret: reading Secret {ns}/{name}: {e}"))?
            .ok_or_else(|| format!("--credentials-secret: Secret {ns}/{name} not found"))?;
        return Ok((s.data.unwrap_or_default(), ns.into(), name.into()));
    }
    if let Some(file) = &args.credentials_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("--credentials-file {}: {e}", file.display()))?;
        let docs = parse_docs(&text, &file.display().to_string())?;
        let secrets: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "Secret").collect();
        let source = file.display().to_string();
        if secrets.is_empty() {
            // A flat map of key to value.
            let mut data = BTreeMap::new();
            for d in &docs {
                for (k, v) in d.value.as_object().into_iter().flatten() {
                    if let Some(s) = v.as_str() {
                        data.insert(k.clone(), ByteString(s.as_bytes().to_vec()));
                    }
                }
            }
            return Ok((data, String::new(), source));
        }
        let pick = match wanted {
            Some((ns, name)) if secrets.len() > 1 => secrets
                .iter()
                .find(|d| d.name() == name && (ns.is_empty() || d.namespace() == ns))
                .copied(),
            _ => secrets.first().copied(),
        };
        let d = pick.ok_or_else(|| {
            format!(
                "--credentials-file {source}: no Secret {} in it",
                wanted.map(|(_, n)| n).unwrap_or_default()
            )
        })?;
        let data = secret_data(&d.value).map_err(|e| format!("{}: {e}", d.source))?;
        return Ok((data, d.namespace().to_string(), d.name().to_string()));
    }
    if let Some((ns, name)) = wanted
        && let Some(d) = local
            .iter()
            .find(|d| d.kind() == "Secret" && d.name() == name && d.namespace() == ns)
    {
        let data = secret_data(&d.value).map_err(|e| format!("{}: {e}", d.source))?;
        return Ok((data, ns.to_string(), name.to_string()));
    }
    let mut data = BTreeMap::new();
    for key in credential_keys(kind) {
        if let Ok(v) = std::env::var(env_name(key)) {
            data.insert((*key).to_string(), ByteString(v.into_bytes()));
        }
    }
    if data.is_empty() {
        let vars: Vec<String> = credential_keys(kind).iter().map(|k| env_name(k)).collect();
        return Err(format!(
            "no credentials for {kind}: give --credentials-secret, --credentials-file or set {}",
            vars.join(" and ")
        ));
    }
    Ok((data, String::new(), "the environment".into()))
}

/// Counts the provider calls of a CLI run and remembers the last one, so that an error can
/// name the operation and the HTTP status.
#[derive(Default)]
pub struct Calls {
    inner: Mutex<CallsInner>,
}

#[derive(Default)]
struct CallsInner {
    counts: BTreeMap<&'static str, u64>,
    last: Option<(ProviderKind, &'static str, String)>,
}

impl Calls {
    /// Calls per operation (`list`, `get`, ...).
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner
            .lock()
            .map(|i| i.counts.clone())
            .unwrap_or_default()
    }
    /// `clerk list (HTTP 401)`: the last call, for an error message.
    pub fn last(&self) -> Option<String> {
        let i = self.inner.lock().ok()?;
        let (p, op, outcome) = i.last.as_ref()?;
        Some(if outcome.chars().all(|c| c.is_ascii_digit()) {
            format!("{p} {op} (HTTP {outcome})")
        } else {
            format!("{p} {op} ({outcome})")
        })
    }
}

impl CallObserver for Calls {
    fn call(&self, provider: ProviderKind, operation: &'static str, outcome: &str, _: Duration) {
        if let Ok(mut i) = self.inner.lock() {
            *i.counts.entry(operation).or_default() += 1;
            i.last = Some((provider, operation, outcome.to_string()));
        }
    }
    fn rate_limit_wait(&self, _: ProviderKind, _: Duration) {}
}

/// A provider client for the CLI, with the credentials' values to redact.
pub fn client(
    kind: ProviderKind,
    account: &ProviderAccount,
    data: &BTreeMap<String, ByteString>,
    secret_ns: &str,
    secret_name: &str,
    calls: Arc<Calls>,
    roots: &Roots,
) -> Result<(DynProvider, Secrets), String> {
    crate::core::validate::endpoint(account)?;
    let mut settings = ClientSettings::new(String::new());
    settings.observer = calls;
    settings.extra_roots = roots.clone();
    build_provider(kind, account, data, secret_ns, secret_name, settings).map_err(|e| match e {
        Error::Provider(p) => p.to_string(),
        other => other.to_string(),
    })
}

/// A provider error as the CLI prints it: the provider, the operation and the HTTP status of
/// the call that failed, and the message with every credential cut out.
pub fn provider_error(
    kind: ProviderKind,
    what: &str,
    e: &ProviderError,
    calls: &Calls,
    secrets: &Secrets,
) -> String {
    let call = calls.last().unwrap_or_else(|| kind.to_string());
    secrets.redact(&format!("{what}: {call}: {e}"))
}

/// Whether progress goes to a terminal (a bar) or not (plain lines).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_secret_keys() {
        assert_eq!(env_name("secretKey"), "SSOPERATOR_CRED_SECRET_KEY");
        assert_eq!(env_name("token"), "SSOPERATOR_CRED_TOKEN");
        assert_eq!(env_name("apiSecret"), "SSOPERATOR_CRED_API_SECRET");
    }

    #[test]
    fn documents_lists_and_secrets_are_read() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: A\n  metadata: {name: a}\n- kind: B\n---\n---\nkind: Secret\napiVersion: v1\nmetadata: {name: s, namespace: n}\ndata: {k: dmFsdWU=}\nstringData: {t: plain}\n";
        let docs = parse_docs(text, "f.yaml").unwrap();
        let kinds: Vec<&str> = docs.iter().map(Doc::kind).collect();
        assert_eq!(kinds, ["A", "B", "Secret"]);
        assert_eq!(docs[0].namespace(), "default");
        assert_eq!(docs[2].source, "f.yaml#3");
        let data = secret_data(&docs[2].value).unwrap();
        assert_eq!(data["k"].0, b"value");
        assert_eq!(data["t"].0, b"plain");
    }

    #[test]
    fn the_last_call_names_operation_and_status() {
        let calls = Calls::default();
        calls.call(ProviderKind::Clerk, "list", "200", Duration::ZERO);
        calls.call(ProviderKind::Clerk, "list", "401", Duration::ZERO);
        assert_eq!(calls.last().unwrap(), "clerk list (HTTP 401)");
        assert_eq!(calls.counts()["list"], 2);
        let mut s = Secrets::default();
        s.add(&crate::core::desired::SecretValue::new("sk_test_abcdef"));
        let msg = provider_error(
            ProviderKind::Clerk,
            "export",
            &ProviderError::Unauthenticated("key sk_test_abcdef refused".into()),
            &calls,
            &s,
        );
        assert_eq!(
            msg,
            "export: clerk list (HTTP 401): unauthenticated: key <redacted> refused"
        );
    }
}
