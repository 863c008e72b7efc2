#pragma once
/// Asks a running courtrouted for its /status document, so `courtroute status` shows what only
/// the daemon knows (live sessions, PACER notices, rejected sessions, link checks).
#include <boost/json/object.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/settings.hpp"

namespace courtroute::cli {

/// One HTTP/1.0 request on the daemon's administrator socket: (status, body), or nullopt when
/// nothing answers within `timeout`.
[[nodiscard]] std::optional<std::pair<int, std::string>> admin_request(const std::filesystem::path& socket_path,
                                                                       std::string_view method, std::string_view target,
                                                                       std::chrono::milliseconds timeout);

/// GET /status from the daemon's administrator socket `socket_path` (settings::admin_socket);
/// nullopt when none answers within `timeout` or the answer is not the status document.
[[nodiscard]] std::optional<boost::json::object> fetch_daemon_status(const std::filesystem::path& socket_path,
                                                                     std::chrono::milliseconds timeout);

} // namespace courtroute::cli
