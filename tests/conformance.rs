#[tokio::test]
async fn loginradius() {
    let t = ssoperator::provider::loginradius::testkit::start().await;
    let (rows, ok) = ssoperator::provider::conformance::run(&t).await;
    for r in &rows {
        println!("{r}");
    }
    assert!(ok, "{}", rows.join("\n"));
}
