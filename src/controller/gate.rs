//! The last step before every provider write (create, update, delete): a dry run reports it, a
//! lockout guard refuses it, and changePolicy Manual holds it until a person approves its plan.
//! A held write leaves its plan in `status.plan`; its hash is what the approve and
//! allow-lockout annotations name.

use kube::ResourceExt;

use super::{
    context::Context,
    error::{Error, Hold},
    managed::Managed,
    registry::Account,
};
use crate::{
    core::{
        diff::Fields,
        lockout::{self, Guard, Rule},
        plan::{self, Action, Change},
    },
    crd::{ALLOW_LOCKOUT_ANNOTATION, APPROVE_ANNOTATION, ChangePolicy, ManagedStatus},
};

/// A write about to be made.
pub struct Write<'a> {
    pub action: Action,
    /// The remote object's id, or its name before a create.
    pub object: &'a str,
    /// The fields the spec sets.
    pub want: &'a Fields,
    /// What the provider holds now (`None` before a create).
    pub current: Option<&'a Fields>,
    /// The paths the write changes.
    pub paths: Vec<String>,
    /// The write-only paths among them.
    pub write_only: Vec<String>,
    pub write_only_hash: Option<&'a str>,
}

/// Whether anything can hold a write of `obj` (a dry run, the lockout guards, changePolicy
/// Manual); when nothing can, [`check`] lets every write through.
pub fn may_hold<K: Managed>(ctx: &Context, obj: &K) -> bool {
    ctx.config.dry_run
        || ctx.config.lockout_guards
        || obj.managed().change_policy == ChangePolicy::Manual
}

/// `Ok(())`: make the write. Otherwise the plan is in `status.plan` and the error says why it
/// waits (a [`Error::Held`]).
pub async fn check<K: Managed>(
    ctx: &Context,
    obj: &K,
    account: &Account,
    status: &mut ManagedStatus,
    write: &Write<'_>,
) -> Result<(), Error> {
    if !may_hold(ctx, obj) {
        return Ok(());
    }
    let change = Change {
        action: write.action,
        kind: K::KIND.as_str(),
        account: &account.identity,
        object: write.object,
        want: write.want,
        current: write.current,
        paths: &write.paths,
        write_only: &write.write_only,
        write_only_hash: write.write_only_hash,
    };
    let now = jiff::Timestamp::now().to_string();
    let mut plan = plan::plan(&change, now);
    if let Some(old) = status.plan.as_ref().filter(|p| p.hash == plan.hash) {
        plan.created_at = old.created_at.clone();
    }
    let hash = plan.hash.clone();
    let summary = plan::summary(&plan);
    let rule = if ctx.config.lockout_guards {
        broken_rule(ctx, account, K::KIND, write).await?
    } else {
        None
    };
    let annotation = |name: &str| obj.annotations().get(name).map(String::as_str);
    let held = |hold: Hold, message: String| Error::Held { hold, message };
    if ctx.config.dry_run {
        let hold = match write.action {
            Action::Create => Hold::WouldCreate,
            Action::Update => Hold::WouldUpdate,
            Action::Delete => Hold::WouldDelete,
        };
        let refused = rule
            .map(|r| format!("; a real run would refuse it ({r})"))
            .unwrap_or_default();
        status.plan = Some(Box::new(plan));
        return Err(held(
            hold,
            format!("dry run: would {summary} (plan {hash}){refused}"),
        ));
    }
    if let Some(rule) = rule
        && annotation(ALLOW_LOCKOUT_ANNOTATION) != Some(hash.as_str())
    {
        status.plan = Some(Box::new(plan));
        return Err(held(
            Hold::LockoutRisk,
            format!(
                "refused: {rule}. To make exactly this change ({summary}) anyway, set the annotation {ALLOW_LOCKOUT_ANNOTATION}: \"{hash}\""
            ),
        ));
    }
    if obj.managed().change_policy == ChangePolicy::Manual
        && annotation(APPROVE_ANNOTATION) != Some(hash.as_str())
    {
        status.plan = Some(Box::new(plan));
        return Err(held(
            Hold::AwaitingApproval,
            format!(
                "plan {hash} awaits approval: {summary}; approve it with the annotation {APPROVE_ANNOTATION}: \"{hash}\""
            ),
        ));
    }
    Ok(())
}

/// The lockout rule `write` breaks, if any.
async fn broken_rule(
    ctx: &Context,
    account: &Account,
    kind: crate::provider::ResourceKind,
    write: &Write<'_>,
) -> Result<Option<Rule>, Error> {
    let guard = Guard {
        provider: account.kind.as_str(),
        kind,
        action: write.action,
        before: write.current,
        want: write.want,
    };
    if let Some(rule) = guard.broken_rule() {
        return Ok(Some(rule));
    }
    for domain in guard.needs_other_active_connection() {
        let covered = ctx
            .observations
            .any_other(account, kind, write.object, |r| {
                lockout::serves(&r.fields, &domain)
            })
            .await?;
        // Without a list of the account nothing shows another connection: refuse.
        if covered != Some(true) {
            return Ok(Some(Rule::LastActiveConnection { domain }));
        }
    }
    Ok(None)
}
