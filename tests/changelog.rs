//! CHANGELOG.md records every version: the version in Cargo.toml has its section.

#[test]
fn the_cargo_version_has_a_changelog_section() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md"))
        .expect("CHANGELOG.md at the repository root");
    let version = env!("CARGO_PKG_VERSION");
    let heading = format!("## {version}");
    assert!(
        changelog
            .lines()
            .any(|l| l.trim() == heading || l.trim().starts_with(&format!("{heading} "))),
        "CHANGELOG.md has no \"{heading}\" section for the version in Cargo.toml"
    );
}
