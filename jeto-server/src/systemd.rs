//! Telling systemd (`Type=notify`, see `packaging/systemd/`) when the process is ready, reloads
//! and stops. Nothing is sent when systemd did not start it (no `NOTIFY_SOCKET`).

use sd_notify::NotifyState;

/// Serving: `READY=1`, with a status line for `systemctl status`.
pub(crate) fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Reading the config again (then [`ready`] again).
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// Draining before the stop.
pub(crate) fn stopping() {
    notify(&[
        NotifyState::Stopping,
        NotifyState::Status("draining: running commands finish, new ones are refused"),
    ]);
}

fn notify(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::warn!(%error, "could not notify systemd");
    }
}
