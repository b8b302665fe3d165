//! Adding and removing one finalizer with a JSON patch that first tests the list it read (as
//! kube's `finalizer` helper does), so that a concurrent change to the finalizers fails the patch
//! instead of being overwritten.

use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::Error;

/// Makes `obj` carry `finalizer` (`wanted`) or not; no request when it already does. `obj` may
/// be a copy from memory that lags the API server: when the patch's test fails on it, the object
/// is read afresh and the change tried once more. Returns the resourceVersion the patch
/// returned, `None` when nothing was written.
pub async fn set<K>(
    api: &Api<K>,
    obj: &K,
    finalizer: &str,
    wanted: bool,
) -> Result<Option<String>, Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match set_on(api, obj, finalizer, wanted).await {
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 422 => {
            match api.get_opt(&obj.name_any()).await? {
                Some(fresh) => set_on(api, &fresh, finalizer, wanted).await,
                None => Ok(None),
            }
        }
        other => other,
    }
}

async fn set_on<K>(
    api: &Api<K>,
    obj: &K,
    finalizer: &str,
    wanted: bool,
) -> Result<Option<String>, Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let finalizers = obj.finalizers();
    let at = finalizers.iter().position(|f| f == finalizer);
    let ops = match (wanted, at) {
        (true, None) if finalizers.is_empty() => json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [finalizer] },
        ]),
        (true, None) => json!([
            { "op": "test", "path": "/metadata/finalizers", "value": finalizers },
            { "op": "add", "path": "/metadata/finalizers/-", "value": finalizer },
        ]),
        (false, Some(i)) => json!([
            { "op": "test", "path": format!("/metadata/finalizers/{i}"), "value": finalizer },
            { "op": "remove", "path": format!("/metadata/finalizers/{i}") },
        ]),
        _ => return Ok(None),
    };
    let patch: json_patch::Patch = serde_json::from_value(ops)
        .map_err(|e| Error::Finalizer(format!("cannot build the finalizer patch: {e}")))?;
    let patched = api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await?;
    Ok(patched.resource_version())
}
