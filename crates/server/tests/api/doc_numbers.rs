//! Numbers the docs state and the code decides, read from both: the error
//! codes of docs/API.md against `ErrorCode`, the defaults in the README's
//! configuration table against `Settings::default()`, and the store
//! contract's case count in docs/ARCHITECTURE.md against
//! `store_contract_tests!`.

use boxoffice_http::ErrorCode;
use boxoffice_server::config::Settings;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Error codes and the statuses they are answered with.
type Codes = BTreeMap<String, BTreeSet<u16>>;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The section headed by the line `heading` (`## ...`), up to the next `## `.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no {heading:?} section"));
    let rest = &text[start + 1..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// The trimmed cells of a Markdown table row; `None` for any other line.
fn cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    Some(inner.split('|').map(str::trim).collect())
}

/// What a cell puts between backticks, in order.
fn ticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// A default cell's values: each backticked one, and the bare words
/// between them (`empty`), comma-separated.
fn values(cell: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for (i, piece) in cell.split('`').enumerate() {
        if i % 2 == 1 {
            found.push(piece);
        } else {
            found.extend(piece.split(',').map(str::trim).filter(|w| !w.is_empty()));
        }
    }
    found
}

/// docs/API.md's "Error codes" table: each code and its status.
fn documented_codes() -> Codes {
    let api = read("docs/API.md");
    let mut codes = BTreeMap::new();
    for line in section(&api, "## Error codes").lines() {
        let Some(row) = cells(line) else {
            continue;
        };
        let (Some(code), Some(status)) = (row.first(), row.get(1)) else {
            continue;
        };
        let Some(code) = code.strip_prefix('`').and_then(|c| c.strip_suffix('`')) else {
            continue;
        };
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        let listed = codes.insert(code.to_owned(), BTreeSet::from([status]));
        assert!(listed.is_none(), "{code} is listed twice in docs/API.md");
    }
    // The table is long; a handful would mean the parse lost it.
    assert!(
        codes.len() >= 40,
        "parsed {} codes from docs/API.md",
        codes.len()
    );
    codes
}

#[test]
fn the_error_code_table_lists_exactly_the_error_codes_with_the_status_each_is_answered_with() {
    let documented = documented_codes();
    let coded: Codes = ErrorCode::ALL
        .iter()
        .map(|code| {
            (
                code.as_str().to_owned(),
                BTreeSet::from([code.status().as_u16()]),
            )
        })
        .collect();
    let mut problems = Vec::new();
    for (code, statuses) in &coded {
        match documented.get(code) {
            None => problems.push(format!(
                "{code} (status {statuses:?}) is an ErrorCode but not in docs/API.md's table"
            )),
            Some(listed) if listed != statuses => problems.push(format!(
                "{code} is answered with {statuses:?}; docs/API.md says {listed:?}"
            )),
            Some(_) => {}
        }
    }
    for code in documented.keys() {
        if !coded.contains_key(code) {
            problems.push(format!(
                "{code} is in docs/API.md's table but is no ErrorCode"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_configuration_table_gives_the_built_in_defaults() {
    let readme = read("README.md");
    let defaults = serde_json::to_value(Settings::default()).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in section(&readme, "## Configuration").lines() {
        let Some(row) = cells(line) else {
            continue;
        };
        let (Some(keys), Some(stated)) = (row.first(), row.get(1)) else {
            continue;
        };
        let keys = ticked(keys);
        // The header, and rows that point elsewhere (`rate_limit.<class>...`).
        if keys.is_empty() || keys.iter().any(|k| k.contains('<')) || stated.starts_with("see ") {
            continue;
        }
        let mut stated = values(stated);
        if stated.len() == 1 && keys.len() > 1 {
            stated = vec![stated[0]; keys.len()];
        }
        assert_eq!(
            stated.len(),
            keys.len(),
            "README row {line:?}: as many defaults as keys, or one for all"
        );
        for (key, value) in keys.iter().zip(stated) {
            let actual = key
                .split('.')
                .try_fold(&defaults, |v, part| v.get(part))
                .unwrap_or_else(|| panic!("README documents {key}, which Settings does not have"));
            let expected = if value == "empty" {
                Value::String(String::new())
            } else {
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()))
            };
            if *actual != expected {
                wrong.push(format!(
                    "{key}: README says {value}, the default is {actual}"
                ));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 60,
        "read only {checked} defaults from README's table"
    );
    assert!(
        wrong.is_empty(),
        "README defaults that are not the code's:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn architecture_states_the_store_contract_case_count() {
    let suite = read("crates/core/src/testing/store_contract.rs");
    let marker = "(@cases $make, $wrap;";
    let start = suite
        .find(marker)
        .expect("store_contract_tests! lists its cases")
        + marker.len();
    let list = &suite[start..];
    let list = &list[..list.find(");").expect("the case list ends")];
    let cases = list.split(',').filter(|c| !c.trim().is_empty()).count();
    let architecture = read("docs/ARCHITECTURE.md");
    let stated = architecture
        .split_once("`store_contract_tests!` runs the same ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("docs/ARCHITECTURE.md says how many cases store_contract_tests! runs");
    assert_eq!(
        stated, cases,
        "docs/ARCHITECTURE.md's store contract case count"
    );
}
