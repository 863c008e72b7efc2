#pragma once
/// The systemd notify protocol (sd_notify): READY, RELOADING, STOPPING, STATUS.
/// A no-op when the daemon was not started by a service manager (no $NOTIFY_SOCKET).
#include <string_view>

namespace courtroute::notify {

/// The listener is up and the store is open.
void ready(std::string_view status_line);
/// A reload (SIGHUP) has begun; `ready()` ends it.
void reloading();
/// SIGTERM: shutting down.
void stopping();
/// A one-line summary shown by `systemctl status`.
void status(std::string_view status_line);

} // namespace courtroute::notify
