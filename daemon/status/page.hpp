#pragma once
/// The status page of `GET /` (CONTRACT §6, issue 11): one user's courts, routes, link states
/// and to-do list as a small, self-contained, accessible HTML page that refreshes itself. Pure:
/// built from that user's `/status` document, so it shows exactly what `/status` shows them
/// and never a secret (the document holds none).
#include <boost/json/object.hpp>
#include <string>

#include "registry/registry.hpp"

namespace courtroute {

/// Seconds between the page's own refreshes.
inline constexpr int status_page_refresh_s = 30;

/// The headers the page is served with besides its type: no script, no framing, no external
/// asset, no referrer, nothing cached.
inline constexpr std::string_view status_page_csp =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

/// The page for `user` from the `/status` document narrowed to them (`status_report` with one
/// user); `reg` names the courts and links them to their CM/ECF sites; `now_unix` dates it.
[[nodiscard]] std::string status_page(const boost::json::object& doc, const std::string& user, const registry& reg,
                                      std::int64_t now_unix);

} // namespace courtroute
