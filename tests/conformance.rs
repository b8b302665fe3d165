//! The conformance suite against each provider's emulator.

#[tokio::test]
async fn qovery() {
    let t = ssoperator::provider::qovery::testkit::start().await;
    let (rows, ok) = ssoperator::provider::conformance::run(&t).await;
    for r in &rows {
        println!("{r}");
    }
    assert!(ok, "{}", rows.join("\n"));
}
