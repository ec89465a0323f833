//! Numbers the docs state and the code decides, read from both: the error
//! codes of docs/API.md against those `crates/http/src` answers with, the
//! defaults in the README's configuration table against
//! `Settings::default()`, and the store contract's case count in
//! docs/ARCHITECTURE.md against `store_contract_tests!`.
//!
//! There is no enum of error codes to ask: each code is a `&'static str`
//! given to an `ApiError` where the refusal is made
//! (`ApiError::new(StatusCode::X, "CODE", ..)`, `bad_request`, `not_found`,
//! `conflict`, and the bot gate's `(code, message)` pairs). So the code side
//! is read from the sources the table names, as text.

use boxoffice_server::config::Settings;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Code-shaped strings in `crates/http/src` that are not error codes.
const NOT_CODES: [&str; 1] = [
    // A token state, in the admin API's view of a fan's token.
    "PRE_QUEUE",
];

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

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// String literals shaped like a code (`"SEAT_ALREADY_HELD"`: an upper-case
/// letter, then upper-case letters, digits and at least one underscore):
/// where the opening quote is, where the closing one ends, and the code.
fn code_literals(text: &str) -> Vec<(usize, usize, &str)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < bytes.len()
            && (bytes[j].is_ascii_uppercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_')
        {
            j += 1;
        }
        let word = &text[i + 1..j];
        if j < bytes.len()
            && bytes[j] == b'"'
            && word.starts_with(|c: char| c.is_ascii_uppercase())
            && word.contains('_')
        {
            found.push((i, j + 1, word));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    found
}

/// `StatusCode::NAME` as a number.
fn status_number(name: &str) -> u16 {
    match name {
        "OK" => 200,
        "CREATED" => 201,
        "NO_CONTENT" => 204,
        "BAD_REQUEST" => 400,
        "UNAUTHORIZED" => 401,
        "FORBIDDEN" => 403,
        "NOT_FOUND" => 404,
        "METHOD_NOT_ALLOWED" => 405,
        "CONFLICT" => 409,
        "PAYLOAD_TOO_LARGE" => 413,
        "UNSUPPORTED_MEDIA_TYPE" => 415,
        "UNPROCESSABLE_ENTITY" => 422,
        "TOO_MANY_REQUESTS" => 429,
        "INTERNAL_SERVER_ERROR" => 500,
        "BAD_GATEWAY" => 502,
        "SERVICE_UNAVAILABLE" => 503,
        "GATEWAY_TIMEOUT" => 504,
        other => panic!("add StatusCode::{other} to status_number"),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_uppercase() || c == '_'
}

/// The `StatusCode` name `text` ends with (may be empty).
fn trailing_name(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &text[start..]
}

/// The `StatusCode` name `text` starts with (may be empty).
fn leading_name(text: &str) -> &str {
    let end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
    &text[..end]
}

/// The status the code literal at `start..end` is answered with, read from
/// what it is given to.
fn status_of(text: &str, start: usize, end: usize) -> Option<u16> {
    let before = text[..start].trim_end();
    if let Some(call) = before.strip_suffix(',') {
        let call = call.trim_end();
        let name = trailing_name(call);
        if !name.is_empty() && call[..call.len() - name.len()].ends_with("StatusCode::") {
            return Some(status_number(name));
        }
    }
    for (helper, status) in [
        ("bad_request(", 400),
        ("not_found(", 404),
        ("conflict(", 409),
    ] {
        if before.ends_with(helper) {
            return Some(status);
        }
    }
    if before.ends_with("=> (") {
        // A `(code, message)` pair, given to the `ApiError::new(StatusCode::X,
        // code, message)` that follows it.
        let after = &text[end..];
        let at = after.find("StatusCode::")? + "StatusCode::".len();
        return Some(status_number(leading_name(&after[at..])));
    }
    None
}

/// Whether the literal at `start` is in a comment or an OpenAPI
/// description or example, where codes are named, not answered.
fn in_prose(text: &str, start: usize) -> bool {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    line.trim_start().starts_with("//")
        || line.contains("description =")
        || line.contains("example =")
}

/// The codes `crates/http/src` answers with and their statuses, and the
/// code-shaped strings it could not pair with a status (code, file).
fn produced_codes() -> (Codes, Vec<(String, String)>) {
    let mut files = Vec::new();
    rust_files(&repo().join("crates/http/src"), &mut files);
    let mut produced = Codes::new();
    let mut unpaired = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        // Unit tests name codes; they answer none.
        let text = match source.find("#[cfg(test)]\nmod tests") {
            Some(i) => &source[..i],
            None => source.as_str(),
        };
        for (start, end, code) in code_literals(text) {
            match status_of(text, start, end) {
                Some(status) => {
                    produced.entry(code.to_owned()).or_default().insert(status);
                }
                None if !in_prose(text, start) => {
                    unpaired.push((code.to_owned(), file.display().to_string()));
                }
                None => {}
            }
        }
    }
    (produced, unpaired)
}

#[test]
fn the_error_code_table_lists_exactly_the_codes_answered_with_their_statuses() {
    let documented = documented_codes();
    let (produced, unpaired) = produced_codes();
    assert!(
        produced.len() >= 40,
        "found only {} codes in crates/http/src",
        produced.len()
    );
    let mut problems = Vec::new();
    for (code, statuses) in &produced {
        match documented.get(code) {
            None => problems.push(format!(
                "{code} (status {statuses:?}) is answered but not in docs/API.md's table"
            )),
            Some(listed) if listed != statuses => problems.push(format!(
                "{code} is answered with {statuses:?}; docs/API.md says {listed:?}"
            )),
            Some(_) => {}
        }
    }
    for code in documented.keys() {
        if !produced.contains_key(code) {
            problems.push(format!(
                "{code} is in docs/API.md's table but crates/http/src never answers it"
            ));
        }
    }
    for (code, file) in &unpaired {
        if !documented.contains_key(code) && !NOT_CODES.contains(&code.as_str()) {
            problems.push(format!(
                "{code} in {file}: not paired with a status by this test and not documented \
                 (an error code made some new way, or add it to NOT_CODES)"
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
