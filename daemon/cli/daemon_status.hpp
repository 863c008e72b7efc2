#pragma once
/// Asks a running courtrouted for its /status document, so `courtroute status` shows what only
/// the daemon knows (live sessions, PACER notices, rejected sessions, link checks).
#include <boost/json/object.hpp>

#include <chrono>
#include <filesystem>
#include <optional>

#include "config/settings.hpp"

namespace courtroute::cli {

/// GET /status from the daemon's administrator socket `socket_path` (settings::admin_socket);
/// nullopt when none answers within `timeout` or the answer is not the status document.
[[nodiscard]] std::optional<boost::json::object> fetch_daemon_status(const std::filesystem::path& socket_path,
                                                                     std::chrono::milliseconds timeout);

} // namespace courtroute::cli
