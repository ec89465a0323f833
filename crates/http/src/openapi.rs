//! The OpenAPI document, generated from the handlers' annotations, and the
//! Swagger UI (vendored into the binary: no network needed).

use crate::routes::{
    account, admin, catalog, dev, events, health, holds, payments, queue, room, waitlist,
};
use crate::{ApiState, ErrorCode};
use axum::Router;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "boxoffice",
        description = "Concert tickets through a waiting room. Every response uses the envelope \
            {\"code\",\"message\",\"data\"}; error codes are listed in docs/API.md."
    ),
    paths(
        dev::sign_in,
        queue::challenge,
        queue::issue,
        queue::current,
        queue::leave,
        queue::events,
        room::public,
        room::lottery,
        catalog::concerts,
        catalog::popular,
        catalog::schedules,
        catalog::seats,
        holds::hold,
        holds::list_holds,
        holds::extend_hold,
        holds::release,
        waitlist::join_waitlist,
        waitlist::leave_waitlist,
        waitlist::list_waitlist,
        payments::pay,
        account::balance,
        account::charge,
        account::reservations,
        account::cancel_reservation,
        admin::concerts,
        admin::create_concert,
        admin::update_concert,
        admin::set_entry_rules,
        admin::entry_rules,
        admin::set_cancellation_policy,
        admin::show_cancellation_policy,
        admin::remove_cancellation_policy,
        admin::revoke_admission,
        admin::call_off_concert,
        admin::call_off_date,
        room::change,
        room::show,
        room::audit,
        room::samples,
        admin::invariants,
        admin::reconcile_ledger,
        events::dead_letters,
        events::replay_matching,
        events::replay,
        events::outbox,
        events::metrics,
        health::live,
        health::ready,
    )
)]
struct ApiDoc;

/// `/openapi.json` and the Swagger UI at `/docs`.
pub(crate) fn docs() -> Router<ApiState> {
    Router::from(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", document()))
        .with_state(())
}

/// The document: the handlers' annotations, completed by [`complete`].
pub(crate) fn document() -> Value {
    complete(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}

/// docs/API.md, whose error-code table is the one list of codes, their
/// statuses and their meanings (a test holds it to the code).
const API_MD: &str = include_str!("../../../docs/API.md");

/// `(code, meaning)` for each row of the error-code table; the status is
/// the code's own ([`ErrorCode::status`]).
fn error_table() -> Vec<(&'static str, &'static str)> {
    let Some(start) = API_MD.find("## Error codes") else {
        return Vec::new();
    };
    API_MD[start..]
        .lines()
        .skip_while(|line| !line.starts_with("| `"))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| {
            let mut cells = line.trim_matches('|').splitn(3, '|').map(str::trim);
            let code = cells.next()?.trim_matches('`');
            let _status = cells.next()?;
            Some((code, cells.next()?))
        })
        .collect()
}

/// The tags in the order of a fan's journey; the operator's last.
const TAGS: [(&str, &str); 7] = [
    (
        "dev",
        "Signing in without an identity provider (development).",
    ),
    (
        "queue",
        "The waiting room: a queue ticket, its place, its stream, leaving.",
    ),
    ("catalog", "Concerts, their rooms, dates and seats."),
    (
        "booking",
        "Holding a seat for five minutes, extending it once, and paying for it.",
    ),
    ("account", "The prepaid balance and the fan's reservations."),
    (
        "admin",
        "The operator's API: catalog, rooms, invariants, events.",
    ),
    ("health", "Probes and metrics."),
];

/// Codes a route answers beyond those its shape implies (a body, a path
/// parameter, a credential), by operation id.
const ROUTE_CODES: &[(&str, &[ErrorCode])] = &[
    ("sign_in", &[ErrorCode::DEV_SIGN_IN_DISABLED]),
    ("challenge", &[ErrorCode::CONCERT_NOT_FOUND]),
    (
        "issue",
        &[
            ErrorCode::PROOF_OF_WORK_REQUIRED,
            ErrorCode::PROOF_OF_WORK_EXPIRED,
            ErrorCode::PROOF_OF_WORK_REPLAYED,
            ErrorCode::CONCERT_NOT_FOUND,
            ErrorCode::SALE_NOT_OPEN,
            ErrorCode::SALE_CLOSED,
            ErrorCode::SOLD_OUT,
        ],
    ),
    ("current", &[ErrorCode::QUEUE_TOKEN_NOT_YOURS]),
    ("leave", &[ErrorCode::QUEUE_TOKEN_NOT_YOURS]),
    ("events", &[ErrorCode::QUEUE_TOKEN_NOT_YOURS]),
    ("public", &[ErrorCode::CONCERT_NOT_FOUND]),
    (
        "lottery",
        &[ErrorCode::CONCERT_NOT_FOUND, ErrorCode::LOTTERY_NOT_DRAWN],
    ),
    (
        "schedules",
        &[
            ErrorCode::QUEUE_TOKEN_NOT_ACTIVE,
            ErrorCode::QUEUE_TOKEN_NOT_YOURS,
            ErrorCode::QUEUE_TOKEN_WRONG_CONCERT,
            ErrorCode::CONCERT_NOT_FOUND,
        ],
    ),
    (
        "seats",
        &[
            ErrorCode::QUEUE_TOKEN_NOT_ACTIVE,
            ErrorCode::QUEUE_TOKEN_NOT_YOURS,
            ErrorCode::QUEUE_TOKEN_WRONG_CONCERT,
            ErrorCode::SCHEDULE_NOT_FOUND,
        ],
    ),
    (
        "hold",
        &[
            ErrorCode::QUEUE_TOKEN_NOT_ACTIVE,
            ErrorCode::QUEUE_TOKEN_NOT_YOURS,
            ErrorCode::QUEUE_TOKEN_WRONG_CONCERT,
            ErrorCode::SCHEDULE_NOT_FOUND,
            ErrorCode::SEAT_NOT_FOUND,
            ErrorCode::SEAT_ALREADY_HELD,
            ErrorCode::SEAT_ALREADY_SOLD,
            ErrorCode::SCHEDULE_CANCELLED,
            ErrorCode::HOLD_LIMIT_REACHED,
            ErrorCode::UNFUNDED_HOLD_LIMIT_REACHED,
            ErrorCode::TOO_MANY_LAPSED_HOLDS,
            ErrorCode::PURCHASE_LIMIT_REACHED,
        ],
    ),
    (
        "release",
        &[
            ErrorCode::HOLD_NOT_OWNED,
            ErrorCode::HOLD_NOT_FOUND,
            ErrorCode::HOLD_NOT_LIVE,
        ],
    ),
    ("list_holds", &[]),
    (
        "join_waitlist",
        &[
            ErrorCode::SCHEDULE_NOT_FOUND,
            ErrorCode::SCHEDULE_NOT_SOLD_OUT,
            ErrorCode::SCHEDULE_CANCELLED,
        ],
    ),
    ("leave_waitlist", &[ErrorCode::NOT_ON_WAITLIST]),
    ("list_waitlist", &[]),
    (
        "extend_hold",
        &[
            ErrorCode::HOLD_NOT_OWNED,
            ErrorCode::HOLD_NOT_FOUND,
            ErrorCode::HOLD_NOT_LIVE,
            ErrorCode::HOLD_ALREADY_EXTENDED,
            ErrorCode::HOLD_NOT_EXTENDABLE,
        ],
    ),
    (
        "pay",
        &[
            ErrorCode::HOLD_NOT_OWNED,
            ErrorCode::QUEUE_TOKEN_WRONG_CONCERT,
            ErrorCode::HOLD_NOT_FOUND,
            ErrorCode::HOLD_EXPIRED,
            ErrorCode::HOLD_ALREADY_PAID,
            ErrorCode::INSUFFICIENT_BALANCE,
        ],
    ),
    ("charge", &[ErrorCode::BALANCE_LIMIT_EXCEEDED]),
    (
        "cancel_reservation",
        &[
            ErrorCode::RESERVATION_NOT_OWNED,
            ErrorCode::RESERVATION_NOT_FOUND,
            ErrorCode::RESERVATION_ALREADY_CANCELLED,
            ErrorCode::CANCELLATION_CLOSED,
        ],
    ),
    ("admin_concerts", &[]),
    ("create_concert", &[]),
    (
        "update_concert",
        &[
            ErrorCode::CONCERT_NOT_FOUND,
            ErrorCode::SCHEDULE_NOT_FOUND,
            ErrorCode::SCHEDULE_ON_SALE,
        ],
    ),
    ("set_entry_rules", &[ErrorCode::CONCERT_NOT_FOUND]),
    ("entry_rules", &[ErrorCode::CONCERT_NOT_FOUND]),
    ("set_cancellation_policy", &[ErrorCode::CONCERT_NOT_FOUND]),
    ("show_cancellation_policy", &[ErrorCode::CONCERT_NOT_FOUND]),
    (
        "remove_cancellation_policy",
        &[ErrorCode::CONCERT_NOT_FOUND],
    ),
    ("call_off_concert", &[ErrorCode::CONCERT_NOT_FOUND]),
    (
        "call_off_date",
        &[ErrorCode::CONCERT_NOT_FOUND, ErrorCode::SCHEDULE_NOT_FOUND],
    ),
    (
        "revoke_admission",
        &[ErrorCode::CONCERT_NOT_FOUND, ErrorCode::ADMISSION_NOT_FOUND],
    ),
    (
        "change",
        &[
            ErrorCode::CONCERT_NOT_FOUND,
            ErrorCode::ROOM_TRANSITION_INVALID,
            ErrorCode::ROOM_CHANGED_CONCURRENTLY,
        ],
    ),
    ("show", &[ErrorCode::CONCERT_NOT_FOUND]),
    ("audit", &[ErrorCode::CONCERT_NOT_FOUND]),
    ("samples", &[ErrorCode::CONCERT_NOT_FOUND]),
    ("dead_letters", &[ErrorCode::VALIDATION_FAILED]),
    (
        "replay",
        &[
            ErrorCode::DEAD_LETTER_NOT_FOUND,
            ErrorCode::DEAD_LETTER_ALREADY_REPLAYED,
            ErrorCode::DEAD_LETTER_REPLAY_IN_PROGRESS,
            ErrorCode::DELIVERY_FAILED,
        ],
    ),
];

/// Headers the security schemes stand for, dropped from the parameters.
const CREDENTIAL_HEADERS: [&str; 4] = ["Authorization", "Queue-Token", "X-Admin-Key", "Client-Id"];

/// Completes the generated document: security schemes and each
/// operation's requirements, every error status a route can answer with
/// its codes, meanings and an example, and the tags
/// in the fan's order.
fn complete(mut doc: Value) -> Value {
    let table = error_table();
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "An access token from the identity provider, or from the dev sign-in (auth.mode = jwt)."
        },
        "clientId": {
            "type": "apiKey", "in": "header", "name": "Client-Id",
            "description": "The fan's id, set by an authenticating gateway (auth.mode = trusted_header)."
        },
        "queueToken": {
            "type": "apiKey", "in": "header", "name": "Queue-Token",
            "description": "The queue ticket (polling, the stream, leaving) or the admission pass (browsing, holding)."
        },
        "adminKey": {
            "type": "apiKey", "in": "header", "name": "X-Admin-Key",
            "description": "The operator's key (admin.api_key, or ./data/admin.key in the embedded mode)."
        }
    });
    doc["tags"] = Value::Array(
        TAGS.iter()
            .map(|(name, description)| json!({"name": name, "description": description}))
            .collect(),
    );
    let Some(paths) = doc["paths"].as_object_mut() else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, operation) in item.iter_mut() {
            complete_operation(path, operation, &table);
        }
    }
    doc
}

fn complete_operation(path: &str, op: &mut Value, table: &[(&'static str, &'static str)]) {
    let admin = op["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "admin"));
    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
    let headers: Vec<String> = op["parameters"]
        .as_array()
        .map(|params| {
            params
                .iter()
                .filter(|p| p["in"] == "header")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let has = |name: &str| headers.iter().any(|h| h == name);
    let fan = has("Authorization");
    let queue_token = has("Queue-Token");
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        params.retain(|p| {
            !(p["in"] == "header"
                && p["name"]
                    .as_str()
                    .is_some_and(|n| CREDENTIAL_HEADERS.contains(&n)))
        });
        if params.is_empty() {
            op.as_object_mut().map(|o| o.remove("parameters"));
        }
    }
    let mut security = Vec::new();
    if admin {
        security.push(json!({"adminKey": []}));
        security.push(json!({"bearer": []}));
    } else if fan && queue_token {
        security.push(json!({"bearer": [], "queueToken": []}));
        security.push(json!({"clientId": [], "queueToken": []}));
    } else if fan {
        security.push(json!({"bearer": []}));
        security.push(json!({"clientId": []}));
    }
    let secured = !security.is_empty();
    if secured {
        op["security"] = Value::Array(security);
    }
    let has_body = op.get("requestBody").is_some();
    let has_path_params = path.contains('{');
    let mut codes: Vec<ErrorCode> = Vec::new();
    if has_body {
        codes.extend([
            ErrorCode::MALFORMED_JSON,
            ErrorCode::INVALID_REQUEST_BODY,
            ErrorCode::VALIDATION_FAILED,
        ]);
        codes.extend([
            ErrorCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UNSUPPORTED_MEDIA_TYPE,
        ]);
    }
    if has_path_params {
        codes.push(ErrorCode::INVALID_PATH_PARAMETER);
    }
    if has("Idempotency-Key") {
        codes.extend([
            ErrorCode::INVALID_IDEMPOTENCY_KEY,
            ErrorCode::IDEMPOTENCY_REQUEST_IN_PROGRESS,
            ErrorCode::IDEMPOTENCY_KEY_REUSED,
        ]);
    }
    if secured {
        codes.push(ErrorCode::DUPLICATE_HEADER);
    }
    if admin {
        codes.extend([
            ErrorCode::ADMIN_KEY_INVALID,
            ErrorCode::AUTH_INVALID,
            ErrorCode::AUTH_EXPIRED,
            ErrorCode::ADMIN_DISABLED,
            ErrorCode::ADMIN_ROLE_REQUIRED,
        ]);
    } else if fan {
        codes.extend([
            ErrorCode::AUTH_REQUIRED,
            ErrorCode::AUTH_INVALID,
            ErrorCode::AUTH_EXPIRED,
            ErrorCode::CLIENT_ID_REQUIRED,
            ErrorCode::INVALID_CLIENT_ID,
        ]);
    }
    if queue_token {
        codes.extend([
            ErrorCode::QUEUE_TOKEN_REQUIRED,
            ErrorCode::QUEUE_TOKEN_INVALID,
            ErrorCode::QUEUE_TOKEN_EXPIRED,
        ]);
    }
    if let Some((_, specific)) = ROUTE_CODES.iter().find(|(name, _)| *name == id) {
        codes.extend(specific.iter());
    }
    // Rate-limited: every route of a class (docs/API.md#rate-limits).
    if op["responses"].get("429").is_some() || admin || fan || id == "sign_in" {
        codes.push(ErrorCode::RATE_LIMITED);
    }
    if id != "live" {
        codes.push(ErrorCode::SERVICE_UNAVAILABLE);
    }
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };
    // A status the annotations list with no code left for it keeps its place.
    let mut by_status: std::collections::BTreeMap<u16, Vec<(&str, &str)>> = Default::default();
    for code in codes {
        let meaning = table
            .iter()
            .find(|(c, _)| *c == code.as_str())
            .map_or("", |(_, meaning)| *meaning);
        let entry = by_status.entry(code.status().as_u16()).or_default();
        if !entry.iter().any(|(c, _)| *c == code.as_str()) {
            entry.push((code.as_str(), meaning));
        }
    }
    for (status, entries) in &by_status {
        let description = entries
            .iter()
            .map(|(code, meaning)| format!("- `{code}`: {meaning}"))
            .collect::<Vec<_>>()
            .join("\n");
        let example = json!({"code": entries[0].0, "message": example_message(entries[0].1)});
        responses.insert(
            status.to_string(),
            json!({
                "description": description,
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorBody"},
                    "example": example
                }}
            }),
        );
    }
    for (status, response) in responses.iter_mut() {
        let missing = response["description"].as_str().is_none_or(str::is_empty);
        if missing {
            response["description"] = json!(success_description(status));
        }
    }
}

/// The first sentence of a meaning, as an example message.
fn example_message(meaning: &str) -> String {
    let sentence = meaning.split(". ").next().unwrap_or(meaning);
    sentence.trim_end_matches('.').replace('`', "")
}

fn success_description(status: &str) -> &'static str {
    match status {
        "200" => "OK: the envelope's `data` holds the answer.",
        "201" => "Created: the envelope's `data` holds what was made.",
        "204" => "No content.",
        "304" => "Not modified.",
        _ => "See docs/API.md.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Value {
        document()
    }

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                all.push((path.clone(), method.clone(), op.clone()));
            }
        }
        all
    }

    /// docs/openapi.json is the served document, so that every change to
    /// it shows in review. `UPDATE_OPENAPI_SNAPSHOT=1` rewrites it.
    #[test]
    fn the_document_matches_its_snapshot_in_docs() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let text = serde_json::to_string_pretty(&served()).unwrap_or_default() + "\n";
        if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
            std::fs::write(path, &text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
        }
        let snapshot = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            snapshot == text,
            "docs/openapi.json differs from the served document: run \
             UPDATE_OPENAPI_SNAPSHOT=1 cargo test -p boxoffice-http openapi, and review the diff"
        );
    }

    #[test]
    fn every_response_has_a_description_and_every_operation_id_is_unique() {
        let doc = served();
        let mut ids = std::collections::HashSet::new();
        for (path, method, op) in operations(&doc) {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(ids.insert(id.clone()), "{id} twice");
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }

    #[test]
    fn each_error_status_lists_its_codes_with_an_example_and_each_code_is_in_the_table() {
        let doc = served();
        let table = error_table();
        assert!(
            table.len() > 50,
            "the error table of docs/API.md was not read"
        );
        for (path, method, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if !status.starts_with('4') && !status.starts_with('5') {
                    continue;
                }
                let example = &response["content"]["application/json"]["example"];
                let code = example["code"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} {status} has no example"));
                assert!(
                    table.iter().any(|(c, _)| *c == code),
                    "{method} {path}: the example {code} is not in docs/API.md"
                );
                let answered = code
                    .parse::<ErrorCode>()
                    .map(|c| c.status().as_str().to_owned());
                assert_eq!(
                    answered,
                    Ok(status.clone()),
                    "{method} {path}: the example {code} is not answered with {status}"
                );
                let description = response["description"].as_str().unwrap_or_default();
                assert!(
                    description.contains(&format!("`{code}`")),
                    "{method} {path} {status}"
                );
            }
        }
    }

    #[test]
    fn every_route_specific_code_is_in_the_table_and_listed_under_its_status() {
        let doc = served();
        let table = error_table();
        for (id, codes) in ROUTE_CODES {
            let op = operations(&doc)
                .into_iter()
                .find(|(_, _, op)| op["operationId"] == *id)
                .map(|(_, _, op)| op)
                .unwrap_or_else(|| panic!("ROUTE_CODES names no operation {id}"));
            for code in *codes {
                assert!(
                    table.iter().any(|(c, _)| *c == code.as_str()),
                    "{code} ({id}) is not in docs/API.md's table"
                );
                let status = code.status().as_u16();
                let description = op["responses"][status.to_string()]["description"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    description.contains(&format!("`{code}`")),
                    "{id}: {code} is not under {status}"
                );
            }
        }
    }

    #[test]
    fn routes_list_the_statuses_their_shape_implies() {
        let doc = served();
        let find = |id: &str| {
            operations(&doc)
                .into_iter()
                .find(|(_, _, op)| op["operationId"] == id)
                .map(|(_, _, op)| op)
                .unwrap_or_else(|| panic!("no operation {id}"))
        };
        let statuses = |id: &str| -> Vec<String> {
            find(id)["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(s, _)| s.clone())
                .collect()
        };
        // A body: 400, 413, 415; a fan's credential: 401; a rate class: 429; a dependency: 503.
        for status in [
            "400", "401", "403", "404", "409", "413", "415", "429", "503",
        ] {
            assert!(
                statuses("hold").contains(&status.to_owned()),
                "hold lacks {status}"
            );
        }
        assert!(statuses("pay").contains(&"422".to_owned()));
        assert!(statuses("change").contains(&"409".to_owned()));
        assert!(!statuses("live").contains(&"503".to_owned()));
        assert!(
            !statuses("concerts").contains(&"401".to_owned()),
            "the catalog needs no credential"
        );
        let hold = find("hold");
        assert_eq!(
            hold["security"],
            json!([{"bearer": [], "queueToken": []}, {"clientId": [], "queueToken": []}])
        );
        assert!(
            hold["parameters"]
                .as_array()
                .is_none_or(|p| p.iter().all(|p| p["in"] != "header")),
            "credential headers stay parameters"
        );
        assert_eq!(
            find("show")["security"],
            json!([{"adminKey": []}, {"bearer": []}])
        );
        let tags: Vec<&str> = doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(tags.first(), Some(&"dev"));
        assert_eq!(tags[tags.len() - 2..], ["admin", "health"]);
        assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    }
}
