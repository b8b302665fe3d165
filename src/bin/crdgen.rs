//! Writes every CRD to `crds/` (and the Helm chart's `crds/`): `cargo run --bin crdgen`.
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["crds", "charts/ssoperator/crds"] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir)?;
        for (file, crd) in ssoperator::crd::all() {
            std::fs::write(dir.join(file), ssoperator::crd::to_yaml(&crd)?)?;
        }
    }
    Ok(())
}
