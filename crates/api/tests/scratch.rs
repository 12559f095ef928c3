use kube::CustomResourceExt;
use tenant_api::Tenant;
#[test]
fn scratch() {
    let crd = Tenant::crd();
    std::fs::write("/tmp/tenant-crd.yaml", serde_saphyr::to_string(&crd).unwrap()).unwrap();
    let y = std::fs::read_to_string("../../examples/customer-shop-1.yaml").unwrap();
    let t: Tenant = serde_saphyr::from_str(&y).unwrap();
    println!("{:?}", t.validate_cel());
    let mut bad = t.clone();
    bad.spec.tenant_id = "Bad_ID".into();
    bad.spec.backup_config.as_mut().unwrap().schedule = Some("every day".into());
    bad.spec.resource_limits.as_mut().unwrap().cpu_limit = Some("two".into());
    match bad.validate_cel() { Err(e) => for x in e.iter() { println!("{x}  [{}]", x.rule) }, Ok(_) => println!("no errors?") }
    let mut upd = t.clone(); upd.spec.tenant_id = "other".into();
    println!("{:?}", upd.validate_cel_update(&t).map_err(|e| e.iter().map(|x| x.to_string()).collect::<Vec<_>>()));
}
