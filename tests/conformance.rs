//! The provider conformance suite, one row per provider, kind and scenario, against each emulator.
//! Built with the `testkit` feature (scripts/test.sh enables it); empty without it.
#![cfg(feature = "testkit")]

use ssoperator::provider::{PROVIDERS, ProviderKind, conformance::run};

/// Runs the suite against the target of `kind`'s descriptor.
async fn check(kind: ProviderKind) {
    let t = (kind.descriptor().conformance)().await;
    let (rows, ok) = run(t.as_ref()).await;
    for r in &rows {
        println!("{r}");
    }
    assert!(ok, "{}", rows.join("\n"));
}

/// One test per provider, so that they run in parallel and fail apart.
macro_rules! conformance {
    ($($test:ident => $kind:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                check(ProviderKind::$kind).await;
            }
        )+
        const TESTED: &[ProviderKind] = &[$(ProviderKind::$kind),+];
    };
}

conformance! {
    qovery => Qovery,
    loginradius => LoginRadius,
    auth0 => Auth0,
    atlas => Atlas,
    clerk => Clerk,
}

#[test]
fn every_provider_has_a_test() {
    for d in PROVIDERS {
        assert!(
            TESTED.contains(&d.kind),
            "no conformance test for {}",
            d.name()
        );
    }
}
