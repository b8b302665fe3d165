#[tokio::test]
async fn auth0() {
    let t = ssoperator::provider::auth0::testkit::start().await;
    let (rows, ok) = ssoperator::provider::conformance::run(&t).await;
    for r in &rows {
        println!("{r}");
    }
    assert!(ok, "{}", rows.join("\n"));
}
