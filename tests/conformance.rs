#[tokio::test]
async fn atlas() {
    let t = ssoperator::provider::atlas::testkit::start().await;
    let (rows, ok) = ssoperator::provider::conformance::run(&t).await;
    for r in &rows {
        println!("{r}");
    }
    assert!(ok, "{}", rows.join("\n"));
}
