//! Types shared by every ssoperator custom resource: references, policies and status.

use super::condition::{Condition, Word};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// API group of every ssoperator kind.
pub const GROUP: &str = "ssoperator.io";
/// Annotation that stops all writes to the provider while set to "true".
pub const PAUSED_ANNOTATION: &str = "ssoperator.io/paused";
/// Annotation that sets this resource's resync period (e.g. "30s", "5m"), instead of the
/// operator's `--resync`; values below [`MIN_RESYNC_PERIOD`] are raised to it.
pub const RESYNC_PERIOD_ANNOTATION: &str = "ssoperator.io/resync-period";
/// The shortest period [`RESYNC_PERIOD_ANNOTATION`] may ask for.
pub const MIN_RESYNC_PERIOD: std::time::Duration = std::time::Duration::from_secs(10);
/// Annotation whose every new value asks for one reconcile at once, reading the provider live
/// (Flux's `reconcile.fluxcd.io/requestedAt`); the value handled is recorded in
/// `status.lastHandledReconcileAt`. Any string serves; a timestamp is customary.
pub const RECONCILE_REQUESTED_ANNOTATION: &str = "ssoperator.io/reconcile-requested-at";
/// Annotation that records the provider's id of the remote object as soon as a create or an
/// adoption is confirmed (like Crossplane's external-name). Status can be lost (a backup restore,
/// a migration); the annotation travels with the object, so its owner still finds its object.
pub const EXTERNAL_ID_ANNOTATION: &str = "ssoperator.io/external-id";
/// Annotation that records, before a create is sent, the name of the remote object it makes; it
/// is removed in the same write that records the id. After a crash between the two, the operator
/// adopts the object of that name instead of creating a second one (or deletes it, when the
/// resource is deleted meanwhile). It is written with the finalizer, in one request.
pub const PENDING_CREATE_ANNOTATION: &str = "ssoperator.io/pending-create";
/// Annotation that sets, for one EnterpriseConnection, how long before an IdP certificate expires
/// the condition CertificateExpiring turns True (e.g. "14d", "720h"), instead of the operator's
/// `--certificate-expiry-warning`.
pub const CERTIFICATE_EXPIRY_WARNING_ANNOTATION: &str = "ssoperator.io/certificate-expiry-warning";
/// Annotation that approves one plan of a `changePolicy: Manual` resource: its value is the
/// `status.plan.hash` to carry out. A plan with another hash (a later edit, new drift) waits.
pub const APPROVE_ANNOTATION: &str = "ssoperator.io/approve";
/// Annotation that lets one change through a lockout guard: its value is the `status.plan.hash`
/// of exactly that change (see README, "Lockout guards").
pub const ALLOW_LOCKOUT_ANNOTATION: &str = "ssoperator.io/allow-lockout";
/// Finalizer of a ProviderConfig or ClusterProviderConfig that managed resources still use
/// (Crossplane's ProviderConfigUsage): their deletion policy needs the account's credentials.
pub const IN_USE_FINALIZER: &str = "ssoperator.io/in-use";
/// Finalizer that lets the operator apply the deletion policy before the object goes away.
pub const FINALIZER: &str = "ssoperator.io/finalizer";

/// Which kind of provider configuration a managed resource uses.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, schemars::JsonSchema,
)]
pub enum ProviderConfigKind {
    /// A namespaced ProviderConfig in the resource's own namespace.
    #[default]
    ProviderConfig,
    /// A cluster-scoped ClusterProviderConfig.
    ClusterProviderConfig,
}

/// Reference to the ProviderConfig or ClusterProviderConfig that holds the account and credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfigRef {
    /// Kind of the referenced configuration: ProviderConfig (same namespace, the default) or ClusterProviderConfig.
    #[serde(default)]
    pub kind: ProviderConfigKind,
    /// Name of the referenced configuration.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Reference to one key of a Secret in the same namespace as the referring resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Reference to a Secret that holds a provider's credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    /// Name of the Secret. The keys it must hold depend on the provider (see the provider block).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Secret. Required for a ClusterProviderConfig; a ProviderConfig always reads its own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// Reference to another ssoperator resource in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// Name of the referenced resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// What happens to the remote object when the custom resource is deleted.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum DeletionPolicy {
    /// Leave the remote object at the provider (the default: deleting an SSO connection can lock users out).
    #[default]
    Orphan,
    /// Delete the remote object at the provider.
    Delete,
}

/// Whether the operator may write to the provider.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum ManagementPolicy {
    /// Create and update the remote object so that it matches the spec (the default).
    #[default]
    Manage,
    /// Only read the remote object and report drift in the Synced condition; never write.
    ObserveOnly,
}

/// Whether a computed change is written at once or waits for a person's approval.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum ChangePolicy {
    /// Write every change (creates, updates, drift repairs, deletes) as soon as it is computed (the default).
    #[default]
    Automatic,
    /// Publish each change as `status.plan` and write it only once the annotation
    /// ssoperator.io/approve names that plan's hash.
    Manual,
}

/// Fields common to every managed resource (EnterpriseConnection, ConnectionProfile, OrgRoleMapping).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedFields {
    /// The provider account to manage this resource in.
    pub provider_config_ref: ProviderConfigRef,
    /// The provider's id of an existing remote object to adopt instead of creating a new one.
    /// An existing remote object with the same name is never taken over unless named here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub external_name: Option<String>,
    /// Orphan (default) keeps the remote object when this resource is deleted; Delete removes it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Manage (default) writes to the provider; ObserveOnly only reads and reports drift.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// Automatic (default) writes each change at once; Manual waits until the annotation
    /// ssoperator.io/approve names the hash in status.plan.
    #[serde(default)]
    pub change_policy: ChangePolicy,
}

/// Values the provider generates that an identity-provider administrator needs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderOutputs {
    /// Service-provider entity id (audience) to configure at the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_entity_id: Option<String>,
    /// Assertion consumer service URL (SAML) or redirect URL (OIDC) to configure at the identity provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acs_url: Option<String>,
    /// URL of the service provider's SAML metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_metadata_url: Option<String>,
    /// Service provider's signing certificate (PEM, public).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sp_certificate: Option<String>,
}

/// The last drift the operator found and corrected (field paths only, never values).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftRecord {
    /// When the drift was corrected (RFC 3339).
    pub time: String,
    /// Paths of the fields that differed from the spec.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// A change the operator computed but has not written: awaiting approval (changePolicy
/// Manual), refused by a lockout guard, or reported by a dry run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Names exactly this change (action, object, every field's current and desired value);
    /// any other change has another hash. The value to put in ssoperator.io/approve or
    /// ssoperator.io/allow-lockout.
    pub hash: String,
    /// Create, Update or Delete.
    pub action: String,
    /// The fields the write would change; write-only values show as "(changed)", never in clear.
    #[serde(default)]
    pub fields: Vec<PlannedField>,
    /// When this plan was first computed (RFC 3339).
    pub created_at: String,
}

/// One field of a [`Plan`]: its value at the provider now and the value the write would send
/// (compact JSON, cut at 256 characters).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedField {
    /// Spec path of the field (e.g. saml.idpSsoUrl).
    pub path: String,
    /// The provider's value now; absent on a create or when the provider has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// The value the write would set; absent on a delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
}

/// Observed state of a managed resource.
// Rarely set fields that are large inline (`plan`, `lastDrift`) are boxed: the watch cache holds
// one status per resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedStatus {
    /// The metadata.generation that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the remote object matches the spec. Synced: the last reconcile could read and write the provider.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    #[schemars(with = "Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>")]
    pub conditions: Vec<Condition>,
    /// The provider's id of the remote object. Recorded before anything else after a create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The provider this resource is managed in (qovery, auth0, loginradius, clerk, atlas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub provider: Option<Word>,
    /// Values generated by the provider that the identity-provider administrator needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<ProviderOutputs>,
    /// HMAC-SHA256, keyed from the account's credentials, of the write-only values (such as an
    /// OIDC client secret) last sent to the provider: a change is seen without storing the values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_only_hash: Option<String>,
    /// Name of a remote object whose create was sent but not yet confirmed, as versions before
    /// the `ssoperator.io/pending-create` annotation recorded it: still read, and cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<String>,
    /// The last drift found and corrected (or only reported under ObserveOnly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift: Option<Box<DriftRecord>>,
    /// The last value of the ssoperator.io/reconcile-requested-at annotation that a reconcile
    /// handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The change that waits: for approval (changePolicy Manual), for a lockout override, or
    /// (under --dry-run) for an operator that may write. Cleared once the provider matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Box<Plan>>,
    /// The identity provider's signing certificates this SAML EnterpriseConnection uses (public
    /// data): from spec.saml.idpCertificate, idpCertificateSecretRef or idpMetadata, as fetched
    /// from idpMetadataUrl, or as the provider holds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub idp_certificates: Vec<IdpCertificateStatus>,
}

/// One X.509 certificate of the identity provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdpCertificateStatus {
    /// Where it was read: spec.saml.idpCertificate, spec.saml.idpCertificateSecretRef,
    /// spec.saml.idpMetadata, spec.saml.idpMetadataUrl (fetched by the operator) or provider (what
    /// the provider holds, when it fetches the metadata itself).
    #[schemars(with = "String")]
    pub source: Word,
    /// Distinguished name of the certificate's subject.
    pub subject: String,
    /// SHA-256 of the certificate's DER, as colon-separated upper-case hex pairs.
    pub sha256_fingerprint: String,
    /// Start of the validity period (RFC 3339).
    pub not_before: String,
    /// End of the validity period (RFC 3339).
    pub not_after: String,
    /// For certificates fetched from spec.saml.idpMetadataUrl: whether it is the one the operator
    /// sends to the provider. Only certificates in use count for CertificateExpiring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_use: Option<bool>,
}

impl IdpCertificateStatus {
    /// Whether this certificate is one the connection relies on (counted for expiry and metrics).
    pub fn counts(&self) -> bool {
        self.in_use != Some(false)
    }
}

impl ManagedStatus {
    /// A JSON merge patch that makes the server's status equal to this one: every field this
    /// status leaves out (an `Option` that is `None`, at any depth) is sent as an explicit `null`,
    /// so that a field cleared here is cleared on the server too. Without the nulls a merge patch
    /// keeps the old value, and a stale `pendingCreate` would later adopt a stranger's object.
    pub fn merge_patch(&self) -> serde_json::Value {
        static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
        let schema = SCHEMA.get_or_init(|| {
            let schema = schemars::generate::SchemaSettings::draft2020_12()
                .with(|s| s.inline_subschemas = true)
                .into_generator()
                .into_root_schema_for::<ManagedStatus>();
            serde_json::to_value(schema).unwrap_or_default()
        });
        let mut value = serde_json::to_value(self).unwrap_or_default();
        null_absent_fields(&mut value, schema);
        value
    }
}

/// Inserts `null` for every property of `schema` that `value` lacks, recursing into objects.
fn null_absent_fields(value: &mut serde_json::Value, schema: &serde_json::Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    let Some(properties) = object_schema(schema).and_then(|s| s.get("properties")) else {
        return;
    };
    let Some(properties) = properties.as_object() else {
        return;
    };
    for (name, sub) in properties {
        match object.get_mut(name) {
            None => {
                object.insert(name.clone(), serde_json::Value::Null);
            }
            Some(v) => null_absent_fields(v, sub),
        }
    }
}

/// The object schema inside an `Option`'s `anyOf`/`oneOf` (or the schema itself).
fn object_schema(schema: &serde_json::Value) -> Option<&serde_json::Value> {
    if schema.get("properties").is_some() {
        return Some(schema);
    }
    ["anyOf", "oneOf"]
        .iter()
        .filter_map(|k| schema.get(*k)?.as_array())
        .flatten()
        .find_map(object_schema)
}

#[cfg(test)]
mod status_patch_tests {
    use super::*;

    #[test]
    fn cleared_fields_are_sent_as_null_at_every_depth() {
        let status = ManagedStatus {
            observed_generation: Some(3),
            external_id: Some("conn_1".into()),
            outputs: Some(ProviderOutputs {
                acs_url: Some("https://sp.example/acs".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let patch = status.merge_patch();
        assert_eq!(patch["externalId"], "conn_1");
        assert_eq!(patch["observedGeneration"], 3);
        for cleared in [
            "pendingCreate",
            "lastDrift",
            "writeOnlyHash",
            "provider",
            "idpCertificates",
        ] {
            assert!(patch[cleared].is_null(), "{cleared}: {patch}");
            assert!(
                patch.as_object().unwrap().contains_key(cleared),
                "{cleared} missing"
            );
        }
        assert_eq!(patch["outputs"]["acsUrl"], "https://sp.example/acs");
        assert!(
            patch["outputs"]
                .as_object()
                .unwrap()
                .contains_key("spCertificate")
        );
        assert!(patch["outputs"]["spCertificate"].is_null());
        // Conditions are a list: sent whole, never nulled.
        assert_eq!(patch["conditions"], serde_json::json!([]));
    }

    #[test]
    fn every_status_field_is_covered() {
        // A default status serialises only `conditions`: every other field must come back as null,
        // so a field added later cannot be forgotten.
        let patch = ManagedStatus::default().merge_patch();
        let keys: Vec<&String> = patch.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 11, "{keys:?}");
    }
}
