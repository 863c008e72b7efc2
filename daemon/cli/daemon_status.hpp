#pragma once
/// Asks a running courtrouted for its /status document, so `courtroute status` shows what only
/// the daemon knows (live sessions, PACER notices, rejected sessions, link checks).
#include <boost/json/object.hpp>

#include <chrono>
#include <optional>

#include "config/settings.hpp"

namespace courtroute::cli {

/// GET /status from the daemon listening at `at`; nullopt when none answers within `timeout`
/// or the answer is not the status document. Plain HTTP on the local listener; no credentials.
[[nodiscard]] std::optional<boost::json::object> fetch_daemon_status(const endpoint& at,
                                                                     std::chrono::milliseconds timeout);

} // namespace courtroute::cli
