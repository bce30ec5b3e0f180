//! `GET /api/openapi.json`: the OpenAPI 3.1 document, derived from the code.
//!
//! Schemas come from the same structs serde uses (their doc comments become descriptions);
//! each operation is declared by `#[utoipa::path]` next to its handler. The answers every
//! operation shares are added here from the operation's shape rather than written per route:
//! 400 (bad query or body), 401 (unless it needs no key), 404 (unknown id), and 413/415 for
//! operations with a body. A test keeps the document and [`crate::routes::ROUTES`] equal.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::answers::{CommandAnswer, Deleted, ErrorBody, Health};
use crate::handlers::{
    audit, commands, domains, events, hosts, instances, keys, lifecycle, machines, meta, people,
    projects, usage, webhooks,
};
use crate::{ApiBody, MAX_BODY};

/// The declaration the document is derived from.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Jeto",
        description = "Drive Vagrant environments over HTTP: start, stop, reload, rsync, provision \
            and run scripts on instances. Keys go in `X-JETO-KEY: KEY` (the original header) or \
            `Authorization: Bearer KEY`. Bodies are JSON (`Content-Type: application/json`) of at \
            most 64 KiB. Every error is `{\"error\": {\"code\", \"message\"}}`."
    ),
    paths(
        meta::health, meta::me, meta::ready, meta::reload, meta::metrics, response,
        instances::list, instances::create, instances::get, instances::post_state,
        instances::delete, instances::change, machines::get, machines::snapshots,
        commands::list, commands::create, commands::get, commands::cancel, commands::console,
        hosts::list, hosts::create, hosts::get, hosts::update, hosts::delete, hosts::boxes,
        hosts::workers,
        hosts::global_status,
        projects::list, projects::create, projects::get, projects::update, projects::delete,
        audit::list,
        people::list_users, people::create_user, people::get_user, people::update_user,
        people::delete_user, people::list_teams, people::create_team, people::get_team,
        people::update_team, people::delete_team,
        keys::list, keys::create, keys::revoke,
        events::stream,
        webhooks::list, webhooks::create, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::deliveries, webhooks::send_again,
        lifecycle::set, lifecycle::clear, lifecycle::keep_up,
        usage::user, usage::team, usage::project,
        domains::list, domains::create, domains::get, domains::update, domains::delete,
    ),
    components(schemas(ErrorBody, CommandAnswer, Deleted, Health)),
    security(("jetoKey" = []), ("bearer" = [])),
    modifiers(&SharedAnswers),
    tags(
        (name = "instances", description = "Vagrant environments and their state"),
        (name = "commands", description = "Actions run on instances, their history and consoles"),
        (name = "hosts", description = "Vagrant providers and their settings"),
        (name = "projects", description = "Admin-defined sources that keys which are not admin create instances from"),
        (name = "audit", description = "Who did what (admin only)"),
        (name = "people", description = "Users, teams and the keys users make for themselves"),
        (name = "events", description = "What happens, pushed as Server-Sent Events"),
        (name = "webhooks", description = "Endpoints that receive events, signed (Standard Webhooks), and their deliveries (admin only)"),
        (name = "domains", description = "Names at which the proxy serves a machine's web port, with who may visit"),
        (name = "meta", description = "Liveness and this document"),
    )
)]
pub struct ApiDoc;

/// Adds the security schemes and the answers every operation of a given shape shares.
struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "jetoKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-JETO-KEY"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_id = path.contains('{');
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.delete,
                &mut item.put,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_shared_answers(operation, has_id);
            }
        }
    }
}

fn add_shared_answers(operation: &mut Operation, has_id: bool) {
    let open = operation
        .security
        .as_ref()
        .is_some_and(|s| s.iter().any(|r| r == &Default::default()));
    let with_body = operation.request_body.is_some();
    let mut answers = vec![(
        "400",
        "Bad request: an unknown query parameter or an invalid body; the message says what is wrong and what is allowed".to_owned(),
    )];
    if !open {
        answers.push(("401", "Missing or unknown key".to_owned()));
    }
    if has_id {
        answers.push((
            "404",
            "No such instance, command or host visible to this key (ids that are not positive integers too)".to_owned(),
        ));
    }
    if with_body {
        answers.push((
            "413",
            format!("The body is larger than {} KiB", MAX_BODY / 1024),
        ));
        answers.push((
            "415",
            "The body is not sent as `Content-Type: application/json`".to_owned(),
        ));
    }
    for (status, description) in answers {
        if operation.responses.responses.contains_key(status) {
            continue;
        }
        let mut response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
                .build(),
        );
        if status == "401" {
            response = response.header(
                "WWW-Authenticate",
                HeaderBuilder::new().description(Some("Bearer")).build(),
            );
        }
        operation
            .responses
            .responses
            .insert(status.to_owned(), RefOr::T(response.build()));
    }
}

/// The document as JSON, for the service mounted at the root.
pub fn document() -> Bytes {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    document_under("", &DOCUMENT)
}

/// The document with `prefix` (where a router mounts the service) as its server, built once
/// into `cache`.
fn document_under(prefix: &str, cache: &OnceLock<Bytes>) -> Bytes {
    cache
        .get_or_init(|| {
            let mut document = ApiDoc::openapi();
            if !prefix.is_empty() {
                document.servers = Some(vec![utoipa::openapi::Server::new(prefix)]);
            }
            Bytes::from(document.to_json().expect("the OpenAPI document serialises"))
        })
        .clone()
}

/// `GET /api/openapi.json`: this document, no key needed.
#[utoipa::path(operation_id = "openapi", get, path = "/api/openapi.json", tag = "meta",
    summary = "This OpenAPI document (no key needed)", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) fn response(prefix: &str, cache: &OnceLock<Bytes>) -> Response<ApiBody> {
    let document = if prefix.is_empty() {
        document()
    } else {
        document_under(prefix, cache)
    };
    let mut response = Response::new(ApiBody::full(document));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
