//! The route table, shared by the router and the OpenAPI test, and the matcher.

use crate::ApiError;

/// Which route a path matched, with its numeric parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/api/health`
    Health,
    /// `/api/openapi.json`
    OpenApi,
    /// `/api/instances`
    Instances,
    /// `/api/instances/{id}`
    Instance(u64),
    /// `/api/instances/{id}/commands`
    Commands(u64),
    /// `/api/instances/{id}/commands/{cid}`
    Command(u64, u64),
    /// `/api/instances/{id}/commands/{cid}/console`
    Console(u64, u64),
    /// `/api/hosts`
    Hosts,
    /// `/api/hosts/{id}`
    Host(u64),
    /// `/api/projects`
    Projects,
    /// `/api/projects/{id}`
    Project(u64),
    /// `/api/audit`
    Audit,
    /// `/api/instances/{id}/machines/{machine}` (the machine name is the path's last segment)
    Machine(u64),
    /// `/api/instances/{id}/snapshots`
    Snapshots(u64),
    /// `/api/hosts/{id}/boxes`
    Boxes(u64),
    /// `/api/global-status`
    GlobalStatus,
    /// `/api/hosts/{id}/workers`
    Workers(u64),
    /// `/api/me`
    Me,
    /// `/api/users`
    Users,
    /// `/api/users/{id}`
    User(u64),
    /// `/api/teams`
    Teams,
    /// `/api/teams/{id}`
    Team(u64),
    /// `/api/keys`
    Keys,
    /// `/api/keys/{id}`
    Key(u64),
    /// `/api/ready`
    Ready,
    /// `/api/reload`
    Reload,
    /// `/api/events`
    Events,
    /// `/metrics`
    Metrics,
    /// `/api/webhooks`
    Webhooks,
    /// `/api/webhooks/{id}`
    Webhook(u64),
    /// `/api/webhooks/{id}/deliveries`
    Deliveries(u64),
    /// `/api/webhooks/{id}/deliveries/{did}`
    Delivery(u64, u64),
    /// `/api/instances/{id}/expiry`
    Expiry(u64),
    /// `/api/instances/{id}/keep-up`
    KeepUp(u64),
    /// `/api/users/{id}/usage`
    UserUsage(u64),
    /// `/api/teams/{id}/usage`
    TeamUsage(u64),
    /// `/api/projects/{id}/usage`
    ProjectUsage(u64),
    /// `/api/domains`
    Domains,
    /// `/api/domains/{id}`
    Domain(u64),
}

impl Route {
    /// The route's pattern in [`ROUTES`] (`/api/instances/{id}`): what logs and the audit
    /// record instead of the path as sent, which is the client's to make arbitrarily long.
    pub fn template(self) -> &'static str {
        let index = match self {
            Route::Health => 0,
            Route::OpenApi => 1,
            Route::Instances => 2,
            Route::Instance(_) => 3,
            Route::Commands(_) => 4,
            Route::Command(..) => 5,
            Route::Console(..) => 6,
            Route::Hosts => 7,
            Route::Host(_) => 8,
            Route::Projects => 9,
            Route::Project(_) => 10,
            Route::Audit => 11,
            Route::Machine(_) => 12,
            Route::Snapshots(_) => 13,
            Route::Boxes(_) => 14,
            Route::GlobalStatus => 15,
            Route::Workers(_) => 16,
            Route::Me => 17,
            Route::Users => 18,
            Route::User(_) => 19,
            Route::Teams => 20,
            Route::Team(_) => 21,
            Route::Keys => 22,
            Route::Key(_) => 23,
            Route::Ready => 24,
            Route::Reload => 25,
            Route::Events => 26,
            Route::Metrics => 27,
            Route::Webhooks => 28,
            Route::Webhook(_) => 29,
            Route::Deliveries(_) => 30,
            Route::Delivery(..) => 31,
            Route::Expiry(_) => 32,
            Route::KeepUp(_) => 33,
            Route::UserUsage(_) => 34,
            Route::TeamUsage(_) => 35,
            Route::ProjectUsage(_) => 36,
            Route::Domains => 37,
            Route::Domain(_) => 38,
        };
        ROUTES[index].0
    }

    /// The instance the route is about, if any.
    pub fn instance(self) -> Option<u64> {
        match self {
            Route::Instance(id)
            | Route::Commands(id)
            | Route::Command(id, _)
            | Route::Console(id, _)
            | Route::Machine(id)
            | Route::Snapshots(id)
            | Route::Expiry(id)
            | Route::KeepUp(id) => Some(id),
            _ => None,
        }
    }
}

/// Every route: its path pattern and the methods it answers.
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/api/health", &["GET"]),
    ("/api/openapi.json", &["GET"]),
    ("/api/instances", &["GET", "POST"]),
    ("/api/instances/{id}", &["GET", "POST", "PATCH", "DELETE"]),
    ("/api/instances/{id}/commands", &["GET", "POST"]),
    ("/api/instances/{id}/commands/{cid}", &["GET", "DELETE"]),
    ("/api/instances/{id}/commands/{cid}/console", &["GET"]),
    ("/api/hosts", &["GET", "POST"]),
    ("/api/hosts/{id}", &["GET", "PUT", "DELETE"]),
    ("/api/projects", &["GET", "POST"]),
    ("/api/projects/{id}", &["GET", "PUT", "DELETE"]),
    ("/api/audit", &["GET"]),
    ("/api/instances/{id}/machines/{machine}", &["GET"]),
    ("/api/instances/{id}/snapshots", &["GET"]),
    ("/api/hosts/{id}/boxes", &["GET"]),
    ("/api/global-status", &["GET"]),
    ("/api/hosts/{id}/workers", &["GET"]),
    ("/api/me", &["GET"]),
    ("/api/users", &["GET", "POST"]),
    ("/api/users/{id}", &["GET", "PUT", "DELETE"]),
    ("/api/teams", &["GET", "POST"]),
    ("/api/teams/{id}", &["GET", "PUT", "DELETE"]),
    ("/api/keys", &["GET", "POST"]),
    ("/api/keys/{id}", &["DELETE"]),
    ("/api/ready", &["GET"]),
    ("/api/reload", &["POST"]),
    ("/api/events", &["GET"]),
    ("/metrics", &["GET"]),
    ("/api/webhooks", &["GET", "POST"]),
    ("/api/webhooks/{id}", &["GET", "PUT", "DELETE"]),
    ("/api/webhooks/{id}/deliveries", &["GET"]),
    ("/api/webhooks/{id}/deliveries/{did}", &["POST"]),
    ("/api/instances/{id}/expiry", &["PUT", "DELETE"]),
    ("/api/instances/{id}/keep-up", &["POST"]),
    ("/api/users/{id}/usage", &["GET"]),
    ("/api/teams/{id}/usage", &["GET"]),
    ("/api/projects/{id}/usage", &["GET"]),
    ("/api/domains", &["GET", "POST"]),
    ("/api/domains/{id}", &["GET", "PUT", "DELETE"]),
];

/// Matches a path against [`ROUTES`]. Parameters must be positive integers; anything else
/// (`0`, `-1`, `abc`, too large) matches no route, so it is a 404 like an absent id.
///
/// The original Jeto's running code served `/api/instances/{id}/command[/{cid}]`: that
/// singular is read as the plural route, for its clients.
pub fn match_path(path: &str) -> Result<(Route, &'static [&'static str]), ApiError> {
    let mut segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if segments.len() >= 5 && segments[..3] == ["", "api", "instances"] && segments[4] == "command"
    {
        segments[4] = "commands";
    }
    for (index, (pattern, methods)) in ROUTES.iter().enumerate() {
        let parts: Vec<&str> = pattern.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = parts.iter().zip(&segments).all(|(part, segment)| {
            if *part == "{machine}" {
                // Any segment: the handler checks the name and answers 400 for a bad one.
                !segment.is_empty()
            } else if part.starts_with('{') {
                match segment.parse::<u64>() {
                    // Ids are int64 in the document and in the store.
                    Ok(n) if n > 0 && n <= i64::MAX as u64 && !segment.starts_with('+') => {
                        params.push(n);
                        true
                    }
                    _ => false,
                }
            } else {
                part == segment
            }
        });
        if matched {
            let route = match (index, params.as_slice()) {
                (0, _) => Route::Health,
                (1, _) => Route::OpenApi,
                (2, _) => Route::Instances,
                (3, [id]) => Route::Instance(*id),
                (4, [id]) => Route::Commands(*id),
                (5, [id, cid]) => Route::Command(*id, *cid),
                (6, [id, cid]) => Route::Console(*id, *cid),
                (7, _) => Route::Hosts,
                (8, [id]) => Route::Host(*id),
                (9, _) => Route::Projects,
                (10, [id]) => Route::Project(*id),
                (11, _) => Route::Audit,
                (12, [id]) => Route::Machine(*id),
                (13, [id]) => Route::Snapshots(*id),
                (14, [id]) => Route::Boxes(*id),
                (15, _) => Route::GlobalStatus,
                (16, [id]) => Route::Workers(*id),
                (17, _) => Route::Me,
                (18, _) => Route::Users,
                (19, [id]) => Route::User(*id),
                (20, _) => Route::Teams,
                (21, [id]) => Route::Team(*id),
                (22, _) => Route::Keys,
                (23, [id]) => Route::Key(*id),
                (24, _) => Route::Ready,
                (25, _) => Route::Reload,
                (26, _) => Route::Events,
                (27, _) => Route::Metrics,
                (28, _) => Route::Webhooks,
                (29, [id]) => Route::Webhook(*id),
                (30, [id]) => Route::Deliveries(*id),
                (31, [id, did]) => Route::Delivery(*id, *did),
                (32, [id]) => Route::Expiry(*id),
                (33, [id]) => Route::KeepUp(*id),
                (34, [id]) => Route::UserUsage(*id),
                (35, [id]) => Route::TeamUsage(*id),
                (36, [id]) => Route::ProjectUsage(*id),
                (37, _) => Route::Domains,
                (38, [id]) => Route::Domain(*id),
                _ => unreachable!("ROUTES and this match list the same routes"),
            };
            return Ok((route, methods));
        }
    }
    Err(ApiError::no_route(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive_integers() {
        assert_eq!(
            match_path("/api/instances/7").unwrap().0,
            Route::Instance(7)
        );
        assert_eq!(
            match_path("/api/instances/7/").unwrap().0,
            Route::Instance(7)
        );
        assert_eq!(
            match_path("/api/instances/7/commands/3/console").unwrap().0,
            Route::Console(7, 3)
        );
        // The original's singular.
        assert_eq!(
            match_path("/api/instances/7/command/3").unwrap().0,
            Route::Command(7, 3)
        );
        assert_eq!(
            match_path("/api/instances/7/command").unwrap().0,
            Route::Commands(7)
        );
        assert_eq!(
            match_path("/api/instances/7/machines/web").unwrap().0,
            Route::Machine(7)
        );
        assert_eq!(
            match_path("/api/instances/7/commands/3/console")
                .unwrap()
                .0
                .template(),
            "/api/instances/{id}/commands/{cid}/console"
        );
        for (pattern, _) in ROUTES {
            let example = pattern
                .replace("{machine}", "web")
                .replace("{id}", "1")
                .replace("{cid}", "2")
                .replace("{did}", "3");
            assert_eq!(match_path(&example).unwrap().0.template(), *pattern);
        }
        for bad in [
            "/api/instances/0",
            "/api/instances/-1",
            "/api/instances/abc",
            "/api/instances/99999999999999999999",
            "/api/instances/9223372036854775808",
            "/api/instances/+1",
            "/api/nope",
            "/",
        ] {
            assert!(match_path(bad).is_err(), "{bad}");
        }
    }
}
