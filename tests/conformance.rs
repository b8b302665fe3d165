//! The conformance suite against each provider's emulator.

#[tokio::test]
async fn clerk() {
    let t = ssoperator::provider::clerk::testkit::start().await;
    let (rows, ok) = ssoperator::provider::conformance::run(&t).await;
    for r in &rows {
        println!("{r}");
    }
    assert!(ok, "{}", rows.join("\n"));
}
