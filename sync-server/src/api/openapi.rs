//! `GET /openapi.json`: the OpenAPI 3.1 description of every route, generated from the handlers'
//! `#[utoipa::path]` attributes and the wire types' schemas.
//!
//! The router adds each handler at the path and method its attribute names ([`super::Routes`]),
//! so a route cannot be served at one address and described at another; a test checks that the
//! routes the router serves and the operations [`ApiDoc`] lists are the same set. Every operation
//! also answers errors as `{code, message}` ([`ErrorBody`]): the `default` response of each one,
//! added here rather than repeated on every handler.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use sync_protocol::ids::{ConflictId, DeviceId, EventId, GateId, TicketId, TicketTypeId};
use sync_protocol::wire::ErrorBody;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::catalogue::TicketAction;

use super::{catalogue, conflicts, enrol, health, live, packages, reports, staff, sync};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatepass sync server",
        description = "Enrolment, packages, push and pull for the gate kiosks; the admin \
                       catalogue, conflicts and reports for staff. Kiosks authenticate with their \
                       device token, staff with a session token from `/api/v1/admin/login`, both \
                       as `Authorization: Bearer`. Every error answers `{code, message}`. The \
                       protocol is described in docs/protocol.md, the operations in \
                       docs/operations.md."
    ),
    paths(
        health::healthz,
        health::readyz,
        crate::metrics::serve,
        serve,
        enrol::enrol,
        sync::push,
        sync::pull,
        live::live,
        packages::manifest,
        packages::body,
        packages::publish,
        packages::list,
        staff::login,
        staff::logout,
        staff::me,
        staff::audit,
        catalogue::list_events,
        catalogue::create_event,
        catalogue::get_event,
        catalogue::update_event,
        catalogue::list_ticket_types,
        catalogue::create_ticket_type,
        catalogue::update_ticket_type,
        catalogue::list_gates,
        catalogue::create_gate,
        catalogue::update_gate,
        catalogue::list_forms,
        catalogue::upload_form,
        catalogue::import_csv,
        catalogue::list_tickets,
        catalogue::ticket_status,
        catalogue::create_enrolment_token,
        catalogue::list_devices,
        catalogue::revoke_device,
        conflicts::open_for_device,
        conflicts::list,
        conflicts::show,
        conflicts::resolve,
        reports::check_ins_csv,
        reports::registrations_csv,
        reports::badge_prints_csv,
        reports::stats,
    ),
    // Schemas named only by path parameters or the error answers (bodies bring their own).
    components(schemas(
        ErrorBody,
        EventId,
        TicketTypeId,
        GateId,
        TicketId,
        DeviceId,
        ConflictId,
        TicketAction
    )),
    modifiers(&Conventions),
    tags(
        (name = "kiosk", description = "What kiosks call: enrolment, push, pull, live updates, packages."),
        (name = "staff", description = "Staff sessions and the audit log."),
        (name = "catalogue", description = "Events, ticket types, gates, forms, imports, tickets, enrolment tokens, kiosks."),
        (name = "packages", description = "Publishing signed event packages."),
        (name = "conflicts", description = "Conflicts between kiosks' records, and their resolution."),
        (name = "reports", description = "Exports and counts."),
        (name = "health", description = "Probes, metrics and this description."),
    )
)]
pub struct ApiDoc;

/// What every operation shares: the bearer schemes, and errors as `{code, message}`.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            let mut scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            scheme.description = Some(description.to_owned());
            SecurityScheme::Http(scheme)
        };
        components.add_security_scheme(
            "device_token",
            bearer("A kiosk's device token, from its enrolment."),
        );
        components.add_security_scheme(
            "staff_session",
            bearer("A staff session token, from `POST /api/v1/admin/login`."),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Bearer <SYNC_METRICS_TOKEN>`: the configured scraper token.",
            ))),
        );
        let error = ResponseBuilder::new()
            .description("An error: `{code, message}` (see `ErrorCode` for every code).")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        ErrorBody::name(),
                    ))))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| RefOr::T(error.clone()));
            }
        }
    }
}

/// The description, made once.
static DESCRIPTION: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .expect("the OpenAPI description serializes")
});

/// The description as JSON (`sync-server openapi` prints it).
pub fn json() -> &'static str {
    DESCRIPTION.as_str()
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "health",
    summary = "This description (OpenAPI 3.1).",
    responses((status = 200, description = "The OpenAPI document.", body = Object))
)]
pub async fn serve() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DESCRIPTION.as_str(),
    )
        .into_response()
}
