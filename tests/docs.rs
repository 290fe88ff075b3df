//! `docs/` is generated from the schema descriptions; this test fails when it is stale.
//! `scripts/gen-docs.sh` (IPAM_WRITE_DOCS=1) rewrites it.

use std::path::Path;

#[test]
fn docs_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let write = std::env::var_os("IPAM_WRITE_DOCS").is_some();
    let mut stale = Vec::new();
    for (rel, content) in ipam::provider::docs::render(root) {
        let path = root.join(&rel);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &content).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "stale docs: {stale:?}; run scripts/gen-docs.sh and commit the result"
    );
}

#[test]
fn every_attribute_has_a_description() {
    fn check(attrs: &[ipam::tfplugin::Attribute], at: &str) {
        for a in attrs {
            assert!(
                !a.description.trim().is_empty(),
                "{at}.{} has no description",
                a.name
            );
            if let ipam::tfplugin::schema::Kind::NestedMap(inner)
            | ipam::tfplugin::schema::Kind::NestedSingle(inner) = &a.kind
            {
                check(inner, &format!("{at}.{}", a.name));
            }
        }
    }
    for r in ipam::provider::resources() {
        check(&r.schema().attributes, r.type_name());
    }
    for d in ipam::provider::data_sources() {
        check(&d.schema().attributes, d.type_name());
    }
    let provider = ipam::tfplugin::ProviderConfig::schema(&ipam::provider::config::IpamProvider);
    check(&provider.attributes, "provider");
}
