//! Ready and Synced conditions, kstatus-compatible: `lastTransitionTime` moves only when the status does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use crate::crd::Condition;

pub use super::reason::Reason;

pub const READY: &str = "Ready";
pub const SYNCED: &str = "Synced";
/// kstatus' abnormal-true condition: set while an error needs a person (a spec, credential or
/// provider-side fix), so that Flux and kstatus report Failed at once instead of timing out.
pub const STALLED: &str = "Stalled";
/// True while a plan of a changePolicy Manual resource waits for ssoperator.io/approve.
pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
/// kstatus' abnormal-true condition for work in progress: set while a plan awaits approval, so
/// that kstatus (and Flux) report InProgress rather than Current.
pub const RECONCILING: &str = "Reconciling";

/// Synced's message when the provider holds the desired state.
pub const UP_TO_DATE: &str = "the provider was read and is up to date";
/// Synced's message for a resource that is only observed.
pub const OBSERVED_ONLY: &str = "the provider was read; ObserveOnly never writes";
/// A ProviderConfig's Ready message once its credentials work.
pub const CREDENTIALS_ACCEPTED: &str = "the provider accepted the credentials";
/// CertificateExpired's message while it is False: CertificateExpiring names the certificate
/// and when it expires.
pub const NO_CERTIFICATE_EXPIRED: &str = "no IdP certificate in use has expired";

/// A condition to set, without its timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub type_: &'static str,
    pub status: bool,
    pub reason: Reason,
    pub message: String,
}

impl Wanted {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: Reason,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Sets `wanted` in `conditions`, keeping the old transition time when the status did not change.
pub fn set(conditions: &mut Vec<Condition>, wanted: Wanted, generation: Option<i64>, now: Time) {
    let status = crate::crd::Word::from(if wanted.status { "True" } else { "False" });
    let message = truncate(wanted.message, 1024);
    match conditions.iter_mut().find(|c| c.type_ == wanted.type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now;
            }
            c.status = status;
            c.reason = wanted.reason.into();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: wanted.type_.into(),
            status,
            reason: wanted.reason.into(),
            message,
            observed_generation: generation,
            last_transition_time: now,
        }),
    }
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// Removes the condition of this type, if any.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Looks up a condition by type.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition is True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == "True")
}

fn truncate(s: String, max: usize) -> crate::crd::Word {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut cs = vec![];
        set(
            &mut cs,
            Wanted::new(READY, false, Reason::ProviderUnavailable, "a"),
            Some(1),
            t(10),
        );
        set(
            &mut cs,
            Wanted::new(READY, false, Reason::ProviderUnavailable, "b"),
            Some(2),
            t(20),
        );
        assert_eq!(cs[0].last_transition_time, t(10));
        assert_eq!(cs[0].message, "b");
        assert_eq!(cs[0].observed_generation, Some(2));
        set(
            &mut cs,
            Wanted::new(READY, true, Reason::Available, "ok"),
            Some(2),
            t(30),
        );
        assert_eq!(cs[0].last_transition_time, t(30));
        assert!(is_true(&cs, READY));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let msg = "é".repeat(2000);
        let mut cs = vec![];
        set(
            &mut cs,
            Wanted::new(SYNCED, false, Reason::InvalidSpec, msg),
            None,
            t(1),
        );
        assert!(cs[0].message.len() <= 1027);
    }
}
