//! The provider conformance suite, one row per provider, kind and scenario, against each emulator.
//! Built with the `testkit` feature (scripts/test.sh enables it); empty without it.
#![cfg(feature = "testkit")]

use ssoperator::provider::conformance::{Target, run};

async fn check(t: impl Target) {
    let (rows, ok) = run(&t).await;
    for r in &rows {
        println!("{r}");
    }
    assert!(ok, "{}", rows.join("\n"));
}

#[tokio::test]
async fn qovery() {
    check(ssoperator::provider::qovery::testkit::start().await).await;
}

#[tokio::test]
async fn loginradius() {
    check(ssoperator::provider::loginradius::testkit::start().await).await;
}

#[tokio::test]
async fn auth0() {
    check(ssoperator::provider::auth0::testkit::start().await).await;
}

#[tokio::test]
async fn atlas() {
    check(ssoperator::provider::atlas::testkit::start().await).await;
}

#[tokio::test]
async fn clerk() {
    check(ssoperator::provider::clerk::testkit::start().await).await;
}
