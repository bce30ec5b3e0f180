//! `/api/instances/{id}/machines/{machine}` and `/api/instances/{id}/snapshots`.

use http::{Response, StatusCode};
use jeto_core::access::Principal;
use jeto_core::{Jeto, MachineDetails, MachineSnapshots};
use utoipa::IntoParams;

use super::IdPath;
use crate::answers::ErrorBody;
use crate::{response, ApiBody, ApiError};

type Answer = Result<Response<ApiBody>, ApiError>;

/// The `{id}` and `{machine}` of a machine route.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "read by the OpenAPI derive only; the router parses paths"
)]
pub struct MachinePath {
    /// The instance id (a positive integer).
    #[param(minimum = 1)]
    pub id: u64,
    /// The machine name.
    #[param(max_length = 128, pattern = "^[A-Za-z0-9_.][A-Za-z0-9_.-]*$")]
    pub machine: String,
}

/// `GET /api/instances/{id}/machines/{machine}`: state, IP, SSH details, forwarded ports.
#[utoipa::path(operation_id = "getMachine", get, path = "/api/instances/{id}/machines/{machine}", tag = "instances",
    summary = "One machine in detail: state, IP, SSH details (the key path for admins only), forwarded ports",
    params(MachinePath),
    responses(
        (status = 200, description = "The machine", body = MachineDetails),
        (status = 403, description = "The key may not read this instance's status", body = ErrorBody),
        (status = 503, description = "Vagrant cannot be run", body = ErrorBody),
    ))]
pub async fn get(jeto: &Jeto, who: &Principal, id: u64, machine: &str) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.machine(who, id, machine).await?,
    ))
}

/// `GET /api/instances/{id}/snapshots`: each machine's snapshots.
#[utoipa::path(operation_id = "listSnapshots", get, path = "/api/instances/{id}/snapshots", tag = "instances",
    summary = "The snapshots of each machine (take them with the snapshot_save action)",
    params(IdPath),
    responses(
        (status = 200, description = "Snapshots per machine", body = Vec<MachineSnapshots>),
        (status = 403, description = "The key may not read this instance's status", body = ErrorBody),
        (status = 409, description = "The provider does not support snapshots (`not_supported`)", body = ErrorBody),
        (status = 503, description = "Vagrant cannot be run", body = ErrorBody),
    ))]
pub async fn snapshots(jeto: &Jeto, who: &Principal, id: u64) -> Answer {
    Ok(response::json(
        StatusCode::OK,
        &jeto.snapshots(who, id).await?,
    ))
}
