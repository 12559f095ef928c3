//! Prints the CRDs as a JSON List, for manual runs against a fresh cluster:
//! `cargo run -p tenant-operator --example crds | kubectl apply -f -`
//! (`deploy/crds/` holds the committed YAML of the same types.)

fn main() -> Result<(), serde_json::Error> {
    let items: Vec<_> = tenant_api::crds().into_iter().map(|(_, crd)| crd).collect();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    println!("{}", serde_json::to_string_pretty(&list)?);
    Ok(())
}
