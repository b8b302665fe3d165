//! `ssoperator export`: manifests that adopt every object of a provider account.

use std::{path::PathBuf, sync::Arc, time::Duration};

use serde_json::{Value, json};

use super::{Calls, CredentialArgs, EXIT_ERROR, EXIT_OK, provider_arg};
use crate::{
    core::{
        desired::{Desired, ProfileDesired, ResourceKind, RoleMappingDesired},
        diff::diff,
        export::{self, ConfigTarget, ExportItem, Exported},
    },
    crd::{
        ConnectionProfileSpec, CredentialsSecretRef, EnterpriseConnectionSpec, OrgRoleMappingSpec,
        ProviderAccount,
    },
    provider::{DynProvider, ProviderKind, Remote},
};

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Yaml,
    Json,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The provider of the account.
    #[arg(long, value_parser = provider_arg())]
    pub provider: ProviderKind,
    /// The account: Qovery organization id, Auth0 tenant domain, LoginRadius organization id or
    /// Atlas federation settings id (Clerk: none, the key names the instance).
    #[arg(long)]
    pub account: Option<String>,
    /// Base URL of the provider's API (the real service when unset).
    #[arg(long)]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// Namespace of the exported resources.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Name of the ProviderConfig the resources use (default: the provider's name); the export
    /// includes it, pointing at the credentials Secret (which it never includes).
    #[arg(long)]
    pub provider_config: Option<String>,
    /// Use (and export) a ClusterProviderConfig instead of a ProviderConfig.
    #[arg(long)]
    pub cluster_provider_config: bool,
    /// Name of the credentials Secret the exported ProviderConfig names (default: the
    /// --credentials-secret name, else `<provider-config>-credentials`).
    #[arg(long)]
    pub credentials_secret_name: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "yaml")]
    pub output: Format,
    /// Write one file per resource into this directory instead of printing to stdout.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
}

/// Progress on stderr: a bar on a terminal, plain lines otherwise.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines,
}

impl Progress {
    fn new() -> Self {
        if super::stderr_is_terminal() {
            let bar = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {msg}: {pos} objects ({elapsed})",
            ) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            Self::Bar(bar)
        } else {
            Self::Lines
        }
    }
    fn page(
        &self,
        provider: ProviderKind,
        kind: ResourceKind,
        page: usize,
        n: usize,
        total: usize,
    ) {
        match self {
            Self::Bar(b) => {
                b.set_message(format!("export {provider}: {kind} page {page}"));
                b.set_position(total as u64);
            }
            Self::Lines => {
                eprintln!("export {provider}: {kind}: page {page}: {n} objects ({total} so far)")
            }
        }
    }
    fn done(&self) {
        if let Self::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

fn account(args: &Args, kind: ProviderKind, secret_name: &str) -> Result<ProviderAccount, String> {
    let mut a = ProviderAccount {
        credentials_secret_ref: CredentialsSecretRef {
            name: secret_name.to_string(),
            namespace: args.cluster_provider_config.then(|| args.namespace.clone()),
        },
        endpoint: args.endpoint.clone(),
        ..Default::default()
    };
    let d = kind.descriptor();
    let id = match &args.account {
        Some(id) => id.clone(),
        None if d.needs_account_id => return Err(format!("--account is required for {kind}")),
        None => String::new(),
    };
    (d.set_block)(&mut a, id);
    Ok(a)
}

/// Every object of `kind`, page by page (`Page.next`).
async fn list_all(
    provider: &DynProvider,
    kind: ResourceKind,
    progress: &Progress,
) -> Result<Vec<Remote>, crate::provider::ProviderError> {
    let mut out = vec![];
    let mut cursor = None;
    let mut page_no = 0;
    loop {
        let page = provider.list(kind, cursor).await?;
        page_no += 1;
        let n = page.items.len();
        out.extend(page.items);
        progress.page(provider.kind(), kind, page_no, n, out.len());
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(out)
}

/// An OrgRoleMapping that holds nothing (no mappings, no other setting): a connection with no
/// role settings, not worth a resource.
fn empty_mapping(fields: &crate::core::diff::Fields) -> bool {
    fields.iter().all(|(_, v)| {
        v.is_null()
            || v.as_array().is_some_and(Vec::is_empty)
            || v.as_object().is_some_and(|o| o.is_empty())
    })
}

/// Checks that the exported spec reproduces the remote object: its desired fields have no
/// difference from the observed ones. Returns the paths that differ (empty: exact).
fn self_check(
    provider: &DynProvider,
    e: &Exported,
    remote: &Remote,
) -> Result<Vec<String>, String> {
    let spec = e.manifest.get("spec").cloned().unwrap_or(Value::Null);
    let desired = match e.kind {
        ResourceKind::EnterpriseConnection => {
            let s: EnterpriseConnectionSpec =
                serde_json::from_value(spec).map_err(|err| err.to_string())?;
            // Checked as the operator checks it (certificate, metadata, idpType).
            crate::core::desired::connection(&s, None)?
        }
        ResourceKind::ConnectionProfile => {
            let s: ConnectionProfileSpec =
                serde_json::from_value(spec).map_err(|err| err.to_string())?;
            Desired::Profile(ProfileDesired::from_spec(&s))
        }
        ResourceKind::OrgRoleMapping => {
            let s: OrgRoleMappingSpec =
                serde_json::from_value(spec).map_err(|err| err.to_string())?;
            Desired::RoleMapping(RoleMappingDesired::from_spec(&s, remote.id.clone()))
        }
    };
    let want = provider
        .desired_fields(&desired)
        .map_err(|err| err.to_string())?;
    Ok(diff(&want, &remote.fields).paths)
}

fn config_manifest(
    args: &Args,
    kind: ProviderKind,
    name: &str,
    account: &ProviderAccount,
) -> (Value, Vec<String>) {
    let mut spec = serde_json::to_value(account).unwrap_or(Value::Null);
    if let Some(o) = spec.as_object_mut() {
        o.retain(|_, v| !v.is_null());
    }
    let mut metadata = json!({"name": name});
    if !args.cluster_provider_config {
        metadata["namespace"] = json!(args.namespace);
    }
    let manifest = json!({
        "apiVersion": export::API_VERSION,
        "kind": if args.cluster_provider_config { "ClusterProviderConfig" } else { "ProviderConfig" },
        "metadata": metadata,
        "spec": spec,
    });
    let keys = super::credential_keys(kind).join(", ");
    let note = format!(
        "credentials: Secret {}/{} with key(s) {keys} must exist (never exported)",
        args.namespace, account.credentials_secret_ref.name
    );
    (manifest, vec![note])
}

/// Runs the export; the exit code.
pub async fn run(args: Args, roots: super::Roots) -> u8 {
    match export(&args, &roots).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("ssoperator export: {e}");
            EXIT_ERROR
        }
    }
}

async fn export(args: &Args, roots: &super::Roots) -> Result<(), String> {
    let kind = args.provider;
    let config_name = args
        .provider_config
        .clone()
        .unwrap_or_else(|| kind.to_string());
    let secret_name = args
        .credentials_secret_name
        .clone()
        .or_else(|| {
            args.credentials
                .credentials_secret
                .as_ref()
                .and_then(|s| s.split_once('/').map(|(_, n)| n.to_string()))
        })
        .unwrap_or_else(|| format!("{config_name}-credentials"));
    let account = account(args, kind, &secret_name)?;
    let (data, ns, name) = super::credentials(kind, &args.credentials, None, &[]).await?;
    let calls = Arc::new(Calls::default());
    let (provider, secrets) =
        super::client(kind, &account, &data, &ns, &name, calls.clone(), roots)?;

    let progress = Progress::new();
    let mut items = vec![];
    let mut remotes = std::collections::BTreeMap::new();
    let mut skipped = 0;
    for caps in provider.capabilities().kinds {
        let listed = list_all(&provider, caps.kind, &progress)
            .await
            .map_err(|e| {
                progress.done();
                super::provider_error(
                    kind,
                    &format!("listing {}s", caps.kind),
                    &e,
                    &calls,
                    &secrets,
                )
            })?;
        for r in listed {
            let fields = provider.spec_fields(caps.kind, &r);
            if caps.kind == ResourceKind::OrgRoleMapping && empty_mapping(&fields) {
                skipped += 1;
                continue;
            }
            items.push(ExportItem {
                kind: caps.kind,
                id: r.id.clone(),
                name: r.name.clone(),
                fields,
                unreadable: provider
                    .unreadable_paths(caps.kind)
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            });
            remotes.insert((caps.kind, r.id.clone()), r);
        }
    }
    progress.done();

    let target = ConfigTarget {
        name: config_name.clone(),
        cluster: args.cluster_provider_config,
    };
    let mut exported = export::export_all(&items, &args.namespace, &target)?;
    for e in &mut exported {
        let id = e.manifest["spec"]["externalName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(remote) = remotes.get(&(e.kind, id.clone())) else {
            continue;
        };
        match self_check(&provider, e, remote) {
            Ok(paths) if paths.is_empty() => {}
            Ok(paths) => {
                let note = format!(
                    "the provider's values of {} cannot be written in this spec exactly: the operator would report them as drift",
                    paths.join(", ")
                );
                eprintln!("warning: {} {}: {note}", e.kind, e.name);
                e.notes.push(note);
            }
            Err(err) => {
                let note = format!("the operator would refuse this spec: {err}");
                eprintln!("warning: {} {}: {note}", e.kind, e.name);
                e.notes.push(note);
            }
        }
    }

    let (pc, pc_notes) = config_manifest(args, kind, &config_name, &account);
    let mut docs: Vec<(String, Value, Vec<String>)> = vec![(
        export::file_stem(
            pc["kind"].as_str().unwrap_or("providerconfig"),
            &config_name,
        ),
        pc,
        pc_notes,
    )];
    for e in &exported {
        docs.push((
            export::file_stem(e.kind.as_str(), &e.name),
            e.manifest.clone(),
            e.notes.clone(),
        ));
    }
    write(args, &docs)?;

    let counts = calls.counts();
    let summary: Vec<String> = counts.iter().map(|(op, n)| format!("{n} {op}")).collect();
    eprintln!(
        "export {kind}: {} resources from {} objects ({} without role settings skipped); provider calls: {}",
        exported.len(),
        items.len() + skipped,
        skipped,
        if summary.is_empty() {
            "none".into()
        } else {
            summary.join(", ")
        }
    );
    let to_fill: Vec<_> = exported.iter().flat_map(|e| e.secrets.iter()).collect();
    if !to_fill.is_empty() {
        eprintln!(
            "{} write-only value(s) the provider never returns; fill these Secrets before the resources can be Ready:",
            to_fill.len()
        );
        for s in to_fill {
            eprintln!(
                "  Secret {}/{} key {} ({} {})",
                args.namespace, s.secret, s.key, s.resource, s.field
            );
        }
    }
    Ok(())
}

fn write(args: &Args, docs: &[(String, Value, Vec<String>)]) -> Result<(), String> {
    let render = |v: &Value, notes: &[String]| -> Result<String, String> {
        match args.output {
            Format::Yaml => export::to_yaml(v, notes),
            Format::Json => serde_json::to_string_pretty(v)
                .map(|s| s + "\n")
                .map_err(|e| e.to_string()),
        }
    };
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("--output-dir {}: {e}", dir.display()))?;
        let ext = match args.output {
            Format::Yaml => "yaml",
            Format::Json => "json",
        };
        for (stem, v, notes) in docs {
            let path = dir.join(format!("{stem}.{ext}"));
            std::fs::write(&path, render(v, notes)?)
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        return Ok(());
    }
    let text = match args.output {
        Format::Yaml => {
            let rendered = docs
                .iter()
                .map(|(_, v, n)| render(v, n))
                .collect::<Result<Vec<_>, _>>()?;
            export::yaml_stream(&rendered)
        }
        Format::Json => {
            // JSON has no comments: the notes go to stderr.
            for (stem, _, notes) in docs {
                for n in notes {
                    eprintln!("note: {stem}: {n}");
                }
            }
            let items: Vec<Value> = docs.iter().map(|(_, v, _)| v.clone()).collect();
            let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
            serde_json::to_string_pretty(&list).map_err(|e| e.to_string())? + "\n"
        }
    };
    use std::io::Write;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| format!("writing to stdout: {e}"))
}
