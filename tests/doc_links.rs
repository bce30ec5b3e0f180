//! Every relative link in the README, the CHANGELOG and `docs/` points at a file that exists,
//! and a link with a `#fragment` at a heading of that file (GitHub's anchors), so moving a file
//! or renaming a heading cannot leave a dead link behind.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files whose links are checked.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes, and
/// `-1`, `-2`... for repeats.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(text) | Event::Code(text) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&text);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let text = heading.take().unwrap_or_default();
                let base: String = text
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                let mut anchor = base.clone();
                let mut n = 1;
                while anchors.contains(&anchor) {
                    anchor = format!("{base}-{n}");
                    n += 1;
                }
                anchors.insert(anchor);
            }
            _ => {}
        }
    }
    anchors
}

/// The link and image targets of a document.
fn links(markdown: &str) -> Vec<String> {
    Parser::new(markdown)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => Some(dest_url.to_string()),
            _ => None,
        })
        .collect()
}

fn dead_links(document: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(document).unwrap();
    let mut dead = Vec::new();
    for link in links(&text) {
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (path, fragment) = match link.split_once('#') {
            Some((path, fragment)) => (path, Some(fragment)),
            None => (link.as_str(), None),
        };
        let target = if path.is_empty() {
            document.to_path_buf()
        } else {
            document.parent().unwrap().join(path)
        };
        if !target.exists() {
            dead.push(format!("{link}: no file {}", target.display()));
            continue;
        }
        if let Some(fragment) = fragment {
            let markdown = std::fs::read_to_string(&target).unwrap_or_default();
            if !anchors(&markdown).contains(fragment) {
                dead.push(format!(
                    "{link}: no heading #{fragment} in {}",
                    target.display()
                ));
            }
        }
    }
    dead
}

#[test]
fn every_relative_link_points_at_a_file_and_heading() {
    let mut dead = Vec::new();
    for document in documents() {
        for problem in dead_links(&document) {
            dead.push(format!("{}: {problem}", document.display()));
        }
    }
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

#[test]
fn the_checker_sees_a_dead_file_and_a_dead_heading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("other.md"), "# Other\n\n## A heading\n").unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "[ok](other.md#a-heading) [gone](missing.md) [moved](other.md#old-heading) [self](#top)\n\n# Top\n",
    )
    .unwrap();
    let dead = dead_links(&page);
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead[0].starts_with("missing.md"), "{dead:?}");
    assert!(dead[1].starts_with("other.md#old-heading"), "{dead:?}");
}

#[test]
fn headings_get_githubs_anchors() {
    let found =
        anchors("# Threat model: admins and tenants\n## `jeto worker`\n## Limits\n## Limits\n");
    let expected: BTreeSet<String> = [
        "threat-model-admins-and-tenants",
        "jeto-worker",
        "limits",
        "limits-1",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(found, expected);
}
