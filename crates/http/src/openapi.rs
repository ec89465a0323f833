//! The OpenAPI document, generated from the handlers' annotations, and the
//! Swagger UI (vendored into the binary: no network needed).

use crate::ApiState;
use crate::routes::{account, admin, catalog, dev, events, health, holds, payments, queue, room};
use axum::Router;
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
        holds::release,
        payments::pay,
        account::balance,
        account::charge,
        account::reservations,
        admin::concerts,
        admin::create_concert,
        admin::set_entry_rules,
        admin::entry_rules,
        admin::revoke_admission,
        room::change,
        room::show,
        room::audit,
        room::samples,
        admin::invariants,
        events::dead_letters,
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
    Router::from(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi())).with_state(())
}
