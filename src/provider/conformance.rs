//! One behaviour suite run against every provider client and its emulator (object_store's
//! `integration.rs`, OpenDAL's behaviour tests). Each provider supplies a [`Target`]; each scenario
//! returns an [`Outcome`] so that a provider that lacks a capability says so instead of silently passing.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;

use super::{
    Desired, DynProvider, ProviderError, ProviderKind, ResourceKind,
    http::{ClientSettings, RetryPolicy},
};
use crate::core::diff::diff;
use ssoperator_emulators::{EmulatorCore, Faults};

/// One provider and its running emulator, as the suite needs them.
#[async_trait]
pub trait Target: Send + Sync {
    fn provider(&self) -> ProviderKind;
    /// A client with valid credentials, pointed at the emulator, with short retry delays.
    fn client(&self) -> DynProvider;
    /// A client whose credentials the emulator refuses.
    fn client_with_bad_credentials(&self) -> DynProvider;
    /// The emulator's shared core (faults, counters, rate limit).
    fn core(&self) -> Arc<EmulatorCore>;
    /// The kinds this provider manages.
    fn kinds(&self) -> Vec<ResourceKind>;
    /// A valid desired object of `kind`, unique by `n`.
    fn sample(&self, kind: ResourceKind, n: usize) -> Desired;
    /// The same object with at least one managed field changed.
    fn modified(&self, desired: &Desired) -> Desired;
    /// Makes a remote object exist as if someone had made it in the provider's console (needed for
    /// kinds the API cannot create) and returns its id. `desired` says what it should hold.
    async fn seed(&self, desired: &Desired) -> String;
}

/// What a scenario found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The provider lacks a capability the scenario needs; the text names it.
    NotApplicable(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Passed => f.write_str("passed"),
            Self::NotApplicable(why) => write!(f, "n/a ({why})"),
        }
    }
}

pub type ScenarioResult = Result<Outcome, String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn can_create(p: &DynProvider, kind: ResourceKind) -> bool {
    p.capabilities().kind(kind).is_some_and(|k| k.create)
}

/// Makes `desired` exist remotely: through the API where it can create, else through the emulator.
async fn make(t: &dyn Target, desired: &Desired) -> Result<String, String> {
    let p = t.client();
    if can_create(&p, desired.kind()) {
        p.create(desired)
            .await
            .map(|r| r.id)
            .map_err(|e| format!("create failed: {e}"))
    } else {
        Ok(t.seed(desired).await)
    }
}

/// Client settings for tests against an emulator at `base_url`: short retry delays, so that
/// fault scenarios finish quickly.
pub fn test_settings(base_url: String) -> ClientSettings {
    ClientSettings {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_attempts: 3,
            max_rate_limit_wait: Duration::from_secs(5),
        },
        ..ClientSettings::new(base_url)
    }
}

/// `value` as the emulator's own wire type: seeds cross the same JSON boundary a console write
/// would, because the emulators never share the clients' types.
pub fn console_json<T: serde::de::DeserializeOwned>(value: &impl serde::Serialize) -> T {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .unwrap_or_else(|e| panic!("a seed the emulator cannot read: {e}"))
}

pub async fn observe_missing_gives_none(t: &dyn Target, kind: ResourceKind) -> ScenarioResult {
    let got = t
        .client()
        .observe(kind, "does-not-exist-0000")
        .await
        .map_err(|e| e.to_string())?;
    ensure!(got.is_none(), "observe of a missing id returned {got:?}");
    Ok(Outcome::Passed)
}

pub async fn create_then_observe_round_trips(t: &dyn Target, kind: ResourceKind) -> ScenarioResult {
    let p = t.client();
    let desired = t.sample(kind, 1);
    let id = make(t, &desired).await?;
    let remote = p
        .observe(kind, &id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("created object not found")?;
    let want = p.desired_fields(&desired).map_err(|e| e.to_string())?;
    let d = diff(&want, &remote.fields);
    ensure!(
        d.is_empty(),
        "diff after create is not empty: {:?}",
        d.paths
    );
    let by_name = p
        .find_by_name(kind, desired.name())
        .await
        .map_err(|e| e.to_string())?;
    ensure!(
        by_name.as_ref().map(|r| &r.id) == Some(&id),
        "find_by_name did not return the created object"
    );
    if !can_create(&p, kind) {
        return Ok(Outcome::NotApplicable(format!(
            "{kind} cannot be created through the API; seeded, then observed"
        )));
    }
    Ok(Outcome::Passed)
}

pub async fn create_of_existing_name_is_detected(
    t: &dyn Target,
    kind: ResourceKind,
) -> ScenarioResult {
    let p = t.client();
    if !can_create(&p, kind) {
        return Ok(Outcome::NotApplicable(format!(
            "{kind} cannot be created through the API"
        )));
    }
    let desired = t.sample(kind, 2);
    p.create(&desired)
        .await
        .map_err(|e| format!("first create failed: {e}"))?;
    match p.create(&desired).await {
        Err(ProviderError::Conflict(_)) | Err(ProviderError::Invalid { .. }) => {}
        other => {
            // Providers that accept duplicate names must be caught by find_by_name before create.
            let found = p
                .find_by_name(kind, desired.name())
                .await
                .map_err(|e| e.to_string())?;
            ensure!(
                found.is_some(),
                "second create gave {other:?} and find_by_name found nothing"
            );
            return Ok(Outcome::NotApplicable(format!(
                "the API accepts duplicate names ({}); the reconciler checks find_by_name first",
                if other.is_ok() {
                    "created a second object"
                } else {
                    "other error"
                }
            )));
        }
    }
    Ok(Outcome::Passed)
}

pub async fn update_converges_diff_to_empty(t: &dyn Target, kind: ResourceKind) -> ScenarioResult {
    let p = t.client();
    let desired = t.sample(kind, 3);
    if p.desired_fields(&desired)
        .map_err(|e| e.to_string())?
        .is_empty()
    {
        return Ok(Outcome::NotApplicable(format!(
            "{kind} owns no field the provider can change"
        )));
    }
    let id = make(t, &desired).await?;
    let changed = t.modified(&desired);
    let observed = p
        .observe(kind, &id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("object not found")?;
    let want = p.desired_fields(&changed).map_err(|e| e.to_string())?;
    let d = diff(&want, &observed.fields);
    ensure!(!d.is_empty(), "modified() changed nothing the diff can see");
    let writes_before = t.core().writes();
    p.update(&id, &changed, &observed, &d)
        .await
        .map_err(|e| format!("update failed: {e}"))?;
    ensure!(
        t.core().writes() - writes_before == 1,
        "update sent {} writes, want 1",
        t.core().writes() - writes_before
    );
    let after = p
        .observe(kind, &id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("object gone after update")?;
    let d = diff(&want, &after.fields);
    ensure!(
        d.is_empty(),
        "diff after update is not empty: {:?}",
        d.paths
    );
    Ok(Outcome::Passed)
}

pub async fn delete_is_idempotent(t: &dyn Target, kind: ResourceKind) -> ScenarioResult {
    let p = t.client();
    let caps = p.capabilities();
    if !caps.kind(kind).is_some_and(|k| k.delete) {
        return Ok(Outcome::NotApplicable(format!(
            "{kind} cannot be deleted through the API (orphan only)"
        )));
    }
    let desired = t.sample(kind, 4);
    let id = make(t, &desired).await?;
    p.delete(kind, &id)
        .await
        .map_err(|e| format!("delete failed: {e}"))?;
    p.delete(kind, &id)
        .await
        .map_err(|e| format!("second delete failed: {e}"))?;
    if kind == ResourceKind::OrgRoleMapping {
        // Deleting a role mapping clears the fields it owns; the holder object stays.
        return Ok(Outcome::Passed);
    }
    let after = p.observe(kind, &id).await.map_err(|e| e.to_string())?;
    ensure!(after.is_none(), "object still there after delete");
    Ok(Outcome::Passed)
}

pub async fn bad_credentials_are_unauthenticated(
    t: &dyn Target,
    _kind: ResourceKind,
) -> ScenarioResult {
    match t.client_with_bad_credentials().verify_credentials().await {
        Err(ProviderError::Unauthenticated(_)) | Err(ProviderError::PermissionDenied(_)) => {
            Ok(Outcome::Passed)
        }
        other => Err(format!("bad credentials gave {other:?}")),
    }
}

pub async fn rate_limit_is_waited_out(t: &dyn Target, kind: ResourceKind) -> ScenarioResult {
    let core = t.core();
    core.set_faults(Faults {
        rate_limit_storm: 1,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let result = t.client().observe(kind, "does-not-exist-0001").await;
    core.set_faults(Faults::default());
    ensure!(result.is_ok(), "a single 429 was not retried: {result:?}");
    ensure!(
        started.elapsed() >= Duration::from_millis(900),
        "retried before the requested wait"
    );
    // A storm longer than the retry budget surfaces as RateLimited with the wait.
    core.set_faults(Faults {
        rate_limit_storm: 100,
        ..Faults::default()
    });
    let result = t.client().observe(kind, "does-not-exist-0002").await;
    core.set_faults(Faults::default());
    match result {
        Err(ProviderError::RateLimited { retry_after }) if retry_after > Duration::ZERO => {
            Ok(Outcome::Passed)
        }
        other => Err(format!("a 429 storm gave {other:?}")),
    }
}

pub async fn server_errors_are_retried_then_surfaced(
    t: &dyn Target,
    kind: ResourceKind,
) -> ScenarioResult {
    let core = t.core();
    core.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    core.reset_calls();
    let result = t.client().observe(kind, "does-not-exist-0003").await;
    let calls: u64 = core.calls().values().sum();
    core.set_faults(Faults::default());
    ensure!(
        matches!(result, Err(ProviderError::Unavailable(_))),
        "a 5xx storm gave {result:?}"
    );
    ensure!(calls > 1, "a 5xx was not retried ({calls} calls)");
    Ok(Outcome::Passed)
}

pub async fn list_pages_through_everything(t: &dyn Target, kind: ResourceKind) -> ScenarioResult {
    let p = t.client();
    for n in 100..125 {
        make(t, &t.sample(kind, n)).await?;
    }
    let mut cursor = None;
    let mut pages = 0;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let page = p.list(kind, cursor).await.map_err(|e| e.to_string())?;
        pages += 1;
        seen.extend(page.items.into_iter().map(|r| r.id));
        cursor = page.next;
        if cursor.is_none() || pages > 1000 {
            break;
        }
    }
    ensure!(
        seen.len() >= 25,
        "list returned {} objects, want at least 25",
        seen.len()
    );
    if pages < 2 {
        return Ok(Outcome::NotApplicable(
            "the API's list has no pagination; one page holds everything".into(),
        ));
    }
    Ok(Outcome::Passed)
}

type Scenario =
    for<'a> fn(&'a dyn Target, ResourceKind) -> futures::future::BoxFuture<'a, ScenarioResult>;

/// Every scenario by name.
pub fn scenarios() -> Vec<(&'static str, Scenario)> {
    vec![
        ("observe_missing_gives_none", |t, k| {
            Box::pin(observe_missing_gives_none(t, k))
        }),
        ("create_then_observe_round_trips", |t, k| {
            Box::pin(create_then_observe_round_trips(t, k))
        }),
        ("create_of_existing_name_is_detected", |t, k| {
            Box::pin(create_of_existing_name_is_detected(t, k))
        }),
        ("update_converges_diff_to_empty", |t, k| {
            Box::pin(update_converges_diff_to_empty(t, k))
        }),
        ("delete_is_idempotent", |t, k| {
            Box::pin(delete_is_idempotent(t, k))
        }),
        ("bad_credentials_are_unauthenticated", |t, k| {
            Box::pin(bad_credentials_are_unauthenticated(t, k))
        }),
        ("rate_limit_is_waited_out", |t, k| {
            Box::pin(rate_limit_is_waited_out(t, k))
        }),
        ("server_errors_are_retried_then_surfaced", |t, k| {
            Box::pin(server_errors_are_retried_then_surfaced(t, k))
        }),
        ("list_pages_through_everything", |t, k| {
            Box::pin(list_pages_through_everything(t, k))
        }),
    ]
}

/// Runs every scenario for every kind of `t`; returns one row per (kind, scenario) and whether all passed.
pub async fn run(t: &dyn Target) -> (Vec<String>, bool) {
    let mut rows = vec![];
    let mut ok = true;
    for kind in t.kinds() {
        for (name, scenario) in scenarios() {
            let result = scenario(t, kind).await;
            ok &= result.is_ok();
            let shown = match result {
                Ok(o) => o.to_string(),
                Err(e) => format!("FAILED: {e}"),
            };
            rows.push(format!(
                "{:<12} {:<22} {:<40} {shown}",
                t.provider().as_str(),
                kind.as_str(),
                name
            ));
        }
    }
    // Every request the client sent and every answer the emulator gave, against the provider's
    // own description of the operation (LoginRadius publishes none).
    let core = t.core();
    let violations = core.contract_violations();
    let total: u64 = violations.values().sum();
    let contract = if core.has_contract() {
        "checked"
    } else {
        "n/a (no published description)"
    };
    ok &= total == 0;
    rows.push(format!(
        "{:<12} {:<22} {:<40} {}",
        t.provider().as_str(),
        "(all)",
        "requests_and_answers_match_the_contract",
        if total == 0 {
            contract.to_string()
        } else {
            let listed: Vec<String> = violations
                .iter()
                .map(|(v, n)| format!("{v} (x{n})"))
                .collect();
            format!("FAILED: {total} violations:\n  {}", listed.join("\n  "))
        }
    ));
    (rows, ok)
}
