//! What the providers hold, read once per resync for a whole account: one sweep of list pages
//! per account and kind feeds every reconcile of that account, instead of one GET per resource
//! per resync and a full list before every create.
//!
//! A sweep is at most one resync period old. A reconcile reads its object from it, and reads the
//! object by id only when the sweep does not hold it (made since, or by someone else) or when it
//! is about to write (so that no write is built on a stale read). The operator's own creates,
//! updates and deletes update the sweep at once. When a new sweep shows an object changed or
//! gone since the last one, the resources that manage it are woken ([`Observations::subscribe`]),
//! so that a change made in a console is repaired within one resync.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

use super::{lock, registry::Account};
use crate::{
    metrics::{Metrics, ProviderLabels},
    provider::{ErrorClass, ProviderError, Remote, ResourceKind},
};

/// After a failed sweep, the next is not tried before this; the last good sweep serves meanwhile.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What [`Observations::observe`] found, and whether it was read from the provider just now
/// (`live`) or taken from the sweep.
pub struct Observed {
    pub remote: Option<Remote>,
    pub live: bool,
}

/// A remote object that changed or vanished between two sweeps: (provider name, id).
pub type Changed = (String, String);

pub struct Observations {
    max_age: Duration,
    metrics: Arc<Metrics>,
    slots: Mutex<HashMap<(String, ResourceKind), Arc<Slot>>>,
    wakes: Mutex<HashMap<ResourceKind, mpsc::UnboundedSender<Changed>>>,
}

/// The sweep of one account and kind.
#[derive(Default)]
struct Slot {
    /// One sweep at a time; the reconciles that need it meanwhile wait for it.
    refresh: tokio::sync::Mutex<()>,
    state: Mutex<SlotState>,
    /// How the slot's objects are packed, fixed by the first one (see [`Codec`]).
    codec: OnceLock<Codec>,
}

#[derive(Default)]
struct SlotState {
    sweep: Option<Sweep>,
    /// The provider cannot list this kind (or not with these credentials): GET by id.
    no_list: bool,
    /// No sweep is tried before then (after a failure).
    retry_at: Option<Instant>,
}

struct Sweep {
    taken: Instant,
    objects: HashMap<String, Packed>,
}

/// A remote object as a sweep keeps it (a sweep holds every object of the account, for a
/// resync): its name, and the whole object as JSON compressed by the slot's [`Codec`].
#[derive(Clone, Debug, PartialEq)]
struct Packed {
    name: Box<str>,
    data: Box<[u8]>,
}

/// Packs objects as JSON compressed (LZ4) against a dictionary: the JSON of the first object
/// the slot packed. The objects of one account share most of their text (keys, defaults, URL
/// prefixes), so each then costs about what sets it apart, a fraction of its JSON. The
/// dictionary stays for the slot's life, so an unchanged object packs to the same bytes.
#[derive(Debug)]
struct Codec {
    dict: Box<[u8]>,
}

impl Codec {
    fn pack(&self, r: &Remote) -> Option<Packed> {
        let json = serde_json::to_vec(r).ok()?;
        Some(Packed {
            name: r.name.trim().into(),
            data: lz4_flex::block::compress_prepend_size_with_dict(&json, &self.dict)
                .into_boxed_slice(),
        })
    }

    fn unpack(&self, p: &Packed) -> Option<Remote> {
        let json =
            lz4_flex::block::decompress_size_prepended_with_dict(&p.data, &self.dict).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

impl Observations {
    /// Sweeps are at most `max_age` old (the resync period); each one taken is counted in
    /// `metrics`.
    pub fn new(max_age: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            max_age,
            metrics,
            slots: Mutex::default(),
            wakes: Mutex::default(),
        }
    }

    /// The remote objects of `kind` that later sweeps find changed or gone.
    pub fn subscribe(&self, kind: ResourceKind) -> mpsc::UnboundedReceiver<Changed> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.wakes).insert(kind, tx);
        rx
    }

    /// The slot of the account as these credentials see it: the identity alone does not tell
    /// two Clerk instances apart (both are api.clerk.com; the secret key names the instance),
    /// and two keys of one account may see different objects.
    fn slot(&self, account: &Account, kind: ResourceKind) -> Arc<Slot> {
        let key = format!("{}\n{}", account.identity, hex::encode(account.hash_key()));
        lock(&self.slots).entry((key, kind)).or_default().clone()
    }

    /// Makes sure the slot holds a sweep no older than `max_age` (taking one if needed).
    /// `Ok(false)`: no sweep can serve (the provider cannot list the kind).
    async fn ensure_fresh(
        &self,
        account: &Account,
        kind: ResourceKind,
        slot: &Slot,
    ) -> Result<bool, ProviderError> {
        if let Some(usable) = slot.usable(self.max_age) {
            return Ok(usable);
        }
        let _one_sweep = slot.refresh.lock().await;
        if let Some(usable) = slot.usable(self.max_age) {
            return Ok(usable);
        }
        match sweep(account, kind, slot).await {
            Ok(objects) => {
                self.metrics
                    .sweeps
                    .get_or_create(&ProviderLabels {
                        provider: account.kind.as_str().to_string(),
                    })
                    .inc();
                let changed = {
                    let mut state = lock(&slot.state);
                    let changed = state
                        .sweep
                        .as_ref()
                        .map(|old| changes(&old.objects, &objects))
                        .unwrap_or_default();
                    state.sweep = Some(Sweep {
                        taken: Instant::now(),
                        objects,
                    });
                    state.retry_at = None;
                    state.no_list = false;
                    changed
                };
                if let Some(tx) = lock(&self.wakes).get(&kind) {
                    for id in changed {
                        let _ = tx.send((account.kind.as_str().to_string(), id));
                    }
                }
                Ok(true)
            }
            // A list the account may not use, or whose answer says nothing (a bare 404 to an
            // undocumented list): read objects one by one instead.
            Err(
                e @ (ProviderError::Unsupported { .. }
                | ProviderError::PermissionDenied(_)
                | ProviderError::Indeterminate(_)),
            ) => {
                tracing::info!(account = %account.config_name, kind = %kind, error = %e, "cannot list; reading objects one by one");
                let mut state = lock(&slot.state);
                state.no_list = true;
                state.retry_at = Some(Instant::now() + self.max_age);
                Ok(false)
            }
            Err(e) => {
                let mut state = lock(&slot.state);
                state.retry_at = Some(Instant::now() + RETRY_AFTER);
                let passing = matches!(
                    e.class(),
                    ErrorClass::Transient | ErrorClass::RateLimited(_)
                );
                if passing && state.sweep.is_some() {
                    tracing::warn!(account = %account.config_name, kind = %kind, error = %e, "sweep failed; the previous one serves");
                    Ok(true)
                } else {
                    // Refused credentials or a refused read: what the old sweep shows is no
                    // longer what this account may see; every reconcile reads (and fails) alone.
                    state.sweep = None;
                    Err(e)
                }
            }
        }
    }

    /// The object `id`: from the sweep, or read by id when the sweep does not hold it or is
    /// older than `within` (a resource's own shorter resync period; zero for a reconcile asked
    /// for by annotation). A short period costs one GET by id, not a sweep of the account.
    pub async fn observe(
        &self,
        account: &Account,
        kind: ResourceKind,
        id: &str,
        within: Option<Duration>,
    ) -> Result<Observed, ProviderError> {
        let slot = self.slot(account, kind);
        if self.ensure_fresh(account, kind, &slot).await?
            && within.is_none_or(|w| slot.age().is_some_and(|age| age < w))
            && let Some(found) = slot.get(id)
        {
            return Ok(Observed {
                remote: Some(found),
                live: false,
            });
        }
        Ok(Observed {
            remote: self.observe_live(account, kind, id).await?,
            live: true,
        })
    }

    /// The object `id` read from the provider now (before a write), kept in the sweep.
    pub async fn observe_live(
        &self,
        account: &Account,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<Remote>, ProviderError> {
        let live = account.provider.observe(kind, id).await?;
        match &live {
            Some(r) => self.record(account, kind, r),
            None => self.forget(account, kind, id),
        }
        Ok(live)
    }

    /// The object named `name` (see [`crate::provider::Provider::find_by_name`]), from the sweep.
    pub async fn find_by_name(
        &self,
        account: &Account,
        kind: ResourceKind,
        name: &str,
    ) -> Result<Option<Remote>, ProviderError> {
        let slot = self.slot(account, kind);
        if !self.ensure_fresh(account, kind, &slot).await? {
            return account.provider.find_by_name(kind, name).await;
        }
        if account.provider.name_is_id(kind) {
            return Ok(match slot.get(name) {
                Some(found) => Some(found),
                None => self.observe_live(account, kind, name).await?,
            });
        }
        let state = lock(&slot.state);
        let name = name.trim();
        let mut found = state
            .sweep
            .iter()
            .flat_map(|s| s.objects.values())
            .filter(|r| &*r.name == name);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some(one), None) => Ok(slot.unpack(one)),
            (Some(_), Some(_)) => Err(ProviderError::Conflict(format!(
                "more than one {} object is named {name:?}; set spec.externalName to choose one",
                account.kind
            ))),
        }
    }

    /// Whether another object of the account (not `except`) matches `pred`, from the sweep;
    /// `Ok(None)` when no sweep can tell (the provider cannot list the kind). Unpacks objects one
    /// at a time: asked only by the lockout guard, for a connection being switched off.
    pub async fn any_other(
        &self,
        account: &Account,
        kind: ResourceKind,
        except: &str,
        pred: impl Fn(&Remote) -> bool,
    ) -> Result<Option<bool>, ProviderError> {
        let slot = self.slot(account, kind);
        if !self.ensure_fresh(account, kind, &slot).await? {
            return Ok(None);
        }
        let state = lock(&slot.state);
        let found = state
            .sweep
            .iter()
            .flat_map(|s| s.objects.iter())
            .any(|(id, p)| id != except && slot.unpack(p).is_some_and(|r| pred(&r)));
        Ok(Some(found))
    }

    /// Keeps what the operator itself wrote (a create or update answer) in the sweep.
    pub fn record(&self, account: &Account, kind: ResourceKind, remote: &Remote) {
        let slot = self.slot(account, kind);
        let packed = slot.pack(remote);
        let mut state = lock(&slot.state);
        if let Some(s) = state.sweep.as_mut() {
            match packed {
                Some(p) => s.objects.insert(remote.id.clone(), p),
                None => s.objects.remove(&remote.id),
            };
        }
    }

    /// Drops an object that is gone (deleted by the operator, or read as not found).
    pub fn forget(&self, account: &Account, kind: ResourceKind, id: &str) {
        let slot = self.slot(account, kind);
        let mut state = lock(&slot.state);
        if let Some(s) = state.sweep.as_mut() {
            s.objects.remove(id);
        }
    }
}

impl Slot {
    /// `Some(true)`: a fresh sweep serves; `Some(false)`: none can, read by id; `None`: sweep now.
    fn usable(&self, max_age: Duration) -> Option<bool> {
        let state = lock(&self.state);
        let waiting = state.retry_at.is_some_and(|t| Instant::now() < t);
        if state.no_list {
            return waiting.then_some(false);
        }
        match &state.sweep {
            Some(s) if s.taken.elapsed() < max_age || waiting => Some(true),
            _ if waiting => Some(false),
            _ => None,
        }
    }

    /// How old the sweep is, if there is one.
    fn age(&self) -> Option<Duration> {
        lock(&self.state).sweep.as_ref().map(|s| s.taken.elapsed())
    }

    fn get(&self, id: &str) -> Option<Remote> {
        let state = lock(&self.state);
        self.unpack(state.sweep.as_ref()?.objects.get(id)?)
    }

    /// Packs `r`; the first object packed in the slot becomes its dictionary.
    fn pack(&self, r: &Remote) -> Option<Packed> {
        let codec = match self.codec.get() {
            Some(c) => c,
            None => {
                let dict = serde_json::to_vec(r).ok()?.into_boxed_slice();
                self.codec.get_or_init(|| Codec { dict })
            }
        };
        codec.pack(r)
    }

    fn unpack(&self, p: &Packed) -> Option<Remote> {
        self.codec.get()?.unpack(p)
    }
}

/// Lists every object of `kind` in the account, page by page.
async fn sweep(
    account: &Account,
    kind: ResourceKind,
    slot: &Slot,
) -> Result<HashMap<String, Packed>, ProviderError> {
    let mut objects = HashMap::new();
    let mut cursor = None;
    loop {
        let page = account.provider.list(kind, cursor.take()).await?;
        for r in page.items {
            if let Some(p) = slot.pack(&r) {
                objects.insert(r.id, p);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(objects),
        }
    }
}

/// The ids whose object differs between two sweeps, or that the new one no longer shows.
/// Objects new in `new` are not changes: nothing manages them yet, or their create recorded them.
fn changes(old: &HashMap<String, Packed>, new: &HashMap<String, Packed>) -> Vec<String> {
    old.iter()
        .filter(|(id, r)| new.get(*id) != Some(*r))
        .map(|(id, _)| id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(id: &str, v: i64) -> Remote {
        Remote {
            id: id.into(),
            name: id.into(),
            fields: [("a".to_string(), serde_json::json!(v))].into(),
            outputs: Default::default(),
        }
    }

    fn clerk_account(key: &str) -> Account {
        use crate::{core::desired::SecretValue, provider::clerk};
        let secret_key = SecretValue::new(key);
        let mut secrets = crate::core::redact::Secrets::default();
        secrets.add(&secret_key);
        let settings = crate::provider::http::ClientSettings::new("http://127.0.0.1:9");
        let provider = clerk::ClerkProvider::new(settings, None, clerk::Credentials { secret_key })
            .unwrap_or_else(|e| panic!("{e}"));
        Account {
            kind: crate::provider::ProviderKind::Clerk,
            provider: Arc::new(provider),
            config_name: "ProviderConfig ns/clerk".into(),
            identity: "clerk\nhttps://api.clerk.com".into(),
            secrets,
        }
    }

    #[test]
    fn two_clerk_instances_behind_one_endpoint_never_share_a_sweep() {
        let obs = Observations::new(Duration::from_secs(60), Arc::default());
        let (a, b) = (clerk_account("sk_test_a"), clerk_account("sk_test_b"));
        assert_eq!(
            a.identity, b.identity,
            "one endpoint, no account id: one identity"
        );
        let kind = ResourceKind::EnterpriseConnection;
        let (sa, sb) = (obs.slot(&a, kind), obs.slot(&b, kind));
        assert!(!Arc::ptr_eq(&sa, &sb));
        assert!(Arc::ptr_eq(
            &sa,
            &obs.slot(&clerk_account("sk_test_a"), kind)
        ));
        lock(&sa.state).sweep = Some(Sweep {
            taken: Instant::now(),
            objects: HashMap::new(),
        });
        obs.record(&a, kind, &remote("ec_1", 1));
        assert_eq!(sa.get("ec_1"), Some(remote("ec_1", 1)), "kept whole");
        assert!(sb.get("ec_1").is_none());
    }

    #[test]
    fn the_objects_of_one_account_pack_to_a_fraction_of_their_json_and_back() {
        use serde_json::json;
        let connection = |i: u32| {
            let id = format!("samlc_2p{i:08}XyZaBcDeF");
            let url = |path: &str| Some(format!("https://clerk.example.com/v1/saml/{path}/{id}"));
            Remote {
                id: id.clone(),
                name: format!("customer-{i}"),
                fields: [
                    ("name", json!(format!("customer-{i}"))),
                    ("domains", json!([format!("customer-{i}.example.com")])),
                    ("active", json!(true)),
                    ("idpType", json!("saml_custom")),
                    (
                        "saml.idpMetadataUrl",
                        json!(format!("https://idp.example/{i}/metadata")),
                    ),
                    ("saml.allowIdpInitiated", json!(false)),
                    ("saml.allowSubdomains", json!(false)),
                    ("saml.forceAuthn", json!(false)),
                    ("syncUserAttributes", json!(true)),
                ]
                .map(|(k, v)| (k.to_string(), v))
                .into(),
                outputs: crate::provider::Outputs {
                    sp_entity_id: url("metadata"),
                    acs_url: url("acs"),
                    sp_metadata_url: url("metadata"),
                    sp_certificate: None,
                },
            }
        };
        let slot = Slot::default();
        assert!(
            slot.unpack(&Packed {
                name: "x".into(),
                data: Box::default()
            })
            .is_none()
        );
        for i in 0..50 {
            let r = connection(i);
            let packed = slot.pack(&r).unwrap_or_else(|| panic!("{i}"));
            assert_eq!(slot.unpack(&packed), Some(r.clone()), "{i}");
            assert_eq!(
                slot.pack(&r),
                Some(packed.clone()),
                "the same bytes each time"
            );
            let json = serde_json::to_vec(&r).map(|j| j.len()).unwrap_or_default();
            if i > 0 {
                assert!(
                    packed.data.len() * 4 < json,
                    "{i}: {} bytes packed, {json} as JSON",
                    packed.data.len()
                );
            }
        }
    }

    #[test]
    fn a_changed_or_vanished_object_is_a_change_and_a_new_one_is_not() {
        let slot = Slot::default();
        let packed = |id: &str, v| slot.pack(&remote(id, v)).unwrap_or_else(|| panic!("{id}"));
        let old: HashMap<_, _> = [("x", 1), ("y", 1), ("z", 1)]
            .map(|(id, v)| (id.to_string(), packed(id, v)))
            .into();
        let new: HashMap<_, _> = [("x", 1), ("y", 2), ("n", 1)]
            .map(|(id, v)| (id.to_string(), packed(id, v)))
            .into();
        let mut got = changes(&old, &new);
        got.sort();
        assert_eq!(got, ["y", "z"]);
    }

    #[test]
    fn a_slot_sweeps_when_stale_and_waits_after_a_failure() {
        let slot = Slot::default();
        let age = Duration::from_secs(60);
        assert_eq!(slot.usable(age), None, "no sweep yet: take one");
        lock(&slot.state).retry_at = Some(Instant::now() + Duration::from_secs(5));
        assert_eq!(
            slot.usable(age),
            Some(false),
            "failed, nothing to serve: read by id"
        );
        lock(&slot.state).sweep = Some(Sweep {
            taken: Instant::now() - Duration::from_secs(120),
            objects: HashMap::new(),
        });
        assert_eq!(
            slot.usable(age),
            Some(true),
            "the old sweep serves until the retry"
        );
        lock(&slot.state).retry_at = None;
        assert_eq!(slot.usable(age), None, "stale: sweep again");
        lock(&slot.state).no_list = true;
        assert_eq!(
            slot.usable(age),
            None,
            "cannot list: try again after a while"
        );
        lock(&slot.state).retry_at = Some(Instant::now() + age);
        assert_eq!(slot.usable(age), Some(false));
    }
}
