//! Status conditions as the watch cache keeps them.
//!
//! The stores hold one status per resource, each with four or more conditions whose `type`,
//! `status` and `reason` are almost always words the operator itself writes (as are
//! `status.provider`, each certificate's `source`, and the messages that name nothing of the
//! resource's own). [`Word`] keeps those as `&'static str`, so that these copies take no
//! allocation of their own; a word the operator does not know (written by someone else, or a
//! message about this resource) is kept as it came.

use std::{borrow::Cow, collections::HashSet, fmt, ops::Deref, sync::OnceLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Visitor};

use crate::{core::reason::Reason, provider::ProviderKind};

/// Condition types and statuses and certificate sources the operator writes (reasons and
/// provider names come from [`Reason::ALL`] and [`ProviderKind::ALL`]).
const WORDS: &[&str] = &[
    "True",
    "False",
    "Unknown",
    "Ready",
    "Synced",
    "Stalled",
    "AwaitingApproval",
    "Reconciling",
    "CertificateExpiring",
    "CertificateExpired",
    "spec.saml.idpCertificate",
    "spec.saml.idpCertificateSecretRef",
    "spec.saml.idpMetadata",
    "spec.saml.idpMetadataUrl",
    "provider",
];

/// Condition messages that name nothing of the resource's own (most resources carry some of
/// them most of the time).
pub const MESSAGES: &[&str] = &[
    crate::core::conditions::UP_TO_DATE,
    crate::core::conditions::OBSERVED_ONLY,
    crate::core::conditions::CREDENTIALS_ACCEPTED,
    crate::core::conditions::NO_CERTIFICATE_EXPIRED,
];

fn known(s: &str) -> Option<&'static str> {
    static KNOWN: OnceLock<HashSet<&'static str>> = OnceLock::new();
    KNOWN
        .get_or_init(|| {
            WORDS
                .iter()
                .chain(MESSAGES)
                .copied()
                .chain(Reason::ALL.iter().map(|r| r.as_str()))
                .chain(ProviderKind::ALL.iter().map(|p| p.as_str()))
                .collect()
        })
        .get(s)
        .copied()
}

/// A string that is usually one of a fixed set of words: see the module doc.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Word(Cow<'static, str>);

impl Word {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Word {
    fn from(s: &str) -> Self {
        Word(known(s).map_or_else(|| Cow::Owned(s.to_owned()), Cow::Borrowed))
    }
}

impl From<String> for Word {
    fn from(s: String) -> Self {
        Word(known(&s).map_or(Cow::Owned(s), Cow::Borrowed))
    }
}

impl From<Reason> for Word {
    fn from(r: Reason) -> Self {
        Word(Cow::Borrowed(r.as_str()))
    }
}

impl Deref for Word {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for Word {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Word {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Word {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Reason> for Word {
    fn eq(&self, other: &Reason) -> bool {
        *self.0 == *other.as_str()
    }
}

impl Serialize for Word {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WordVisitor;
        impl Visitor<'_> for WordVisitor {
            type Value = Word;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Word, E> {
                Ok(Word::from(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Word, E> {
                Ok(Word::from(v))
            }
        }
        deserializer.deserialize_str(WordVisitor)
    }
}

/// A status condition: `meta/v1` Condition's fields and JSON (the CRDs take its schema), with
/// `type`, `status`, `reason` and `message` as [`Word`]s. As that type, only
/// `lastTransitionTime` is required when read.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", default)]
    pub type_: Word,
    #[serde(default)]
    pub status: Word,
    #[serde(default)]
    pub reason: Word,
    #[serde(default)]
    pub message: Word,
    pub last_transition_time: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_words_are_read_without_an_allocation_of_their_own() {
        let json = r#"{"type":"Ready","status":"False","reason":"ProviderUnavailable","message":"m","lastTransitionTime":"2026-12-03T10:00:00Z","observedGeneration":2}"#;
        let c: Condition = serde_json::from_str(json).unwrap();
        for w in [&c.type_, &c.status, &c.reason] {
            assert!(matches!(w.0, Cow::Borrowed(_)), "{w:?}");
        }
        assert_eq!(c.reason, Reason::ProviderUnavailable);
        // The same JSON as meta/v1 Condition, both ways.
        let theirs: k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition =
            serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::to_value(&theirs).unwrap()
        );
        let foreign: Condition = serde_json::from_str(
            r#"{"type":"Healthy","status":"True","reason":"x","lastTransitionTime":"2026-12-03T10:00:00Z"}"#,
        )
        .unwrap();
        assert!(matches!(foreign.type_.0, Cow::Owned(_)));
        assert_eq!(foreign.type_, "Healthy");
        assert_eq!(foreign.message, "");
        // A message that names nothing of the resource's own is borrowed too; one that does is
        // kept as it came.
        let synced: Condition = serde_json::from_str(
            r#"{"type":"Synced","status":"True","reason":"ReconcileSuccess","message":"the provider was read and is up to date","lastTransitionTime":"2026-12-03T10:00:00Z"}"#,
        )
        .unwrap();
        assert!(matches!(synced.message.0, Cow::Borrowed(_)));
        assert!(matches!(c.message.0, Cow::Owned(_)));
        assert_eq!(c.message, "m");
        assert!(serde_json::from_str::<Condition>(r#"{"type":"Ready"}"#).is_err());
    }

    #[test]
    fn every_condition_type_and_certificate_source_the_operator_sets_is_a_known_word() {
        use crate::{controller::certificates as certs, core::conditions};
        for t in [
            certs::FROM_INLINE,
            certs::FROM_SECRET,
            certs::FROM_METADATA,
            certs::FROM_METADATA_URL,
            certs::FROM_PROVIDER,
            conditions::READY,
            conditions::SYNCED,
            conditions::STALLED,
            conditions::AWAITING_APPROVAL,
            conditions::RECONCILING,
            crate::controller::certificates::CERTIFICATE_EXPIRING,
            crate::controller::certificates::CERTIFICATE_EXPIRED,
        ] {
            assert!(known(t).is_some(), "{t}");
        }
    }
}
