#pragma once
/// What a request on the listener is before anything is sent anywhere: a local endpoint, a
/// request for a court (path mode, or inside an intercepted tunnel), a CONNECT, or a refusal.
/// Sans-io: registry, config and the request line in, a value out.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "config/settings.hpp"
#include "core/url.hpp"
#include "registry/registry.hpp"
#include "routing/refusal.hpp"

namespace courtroute::routing {

/// The request line and the header facts the dispatch reads.
struct request_line {
    std::string_view method;        ///< as sent ("GET", "CONNECT")
    std::string_view target;        ///< as sent
    std::size_t host_headers = 1;   ///< how many Host headers came
    std::string_view host;          ///< the (first) Host header's value
};

/// The daemon's own pages.
enum class local_page {
    healthz, ///< GET /healthz
    status,  ///< GET /status
    metrics, ///< GET /metrics
    pac,     ///< GET /proxy.pac: the PAC file for browsers
    home,    ///< GET /: the status page for the signed-in user
};

/// A request for one of the daemon's own pages.
struct local_endpoint {
    local_page which; ///< the page
};

/// A request to forward to a court.
struct court_request {
    const court* target = nullptr; ///< the court (lives as long as the registry snapshot)
    std::string upstream_target;   ///< the origin-form target to send ("/cgi-bin/x?y")
    bool path_mode = false;        ///< came as /court/{id}/...: answers are rewritten back
    std::string host;              ///< the host asked for: the court's, or one of its extra_hosts
};

/// A CONNECT with a valid authority; what to do with it is `decide_connect`'s job, after
/// the client has authenticated.
struct connect_request {
    authority to; ///< host (lower-case) and port
};

/// A request read on the plain listener.
using plain_request = std::variant<local_endpoint, court_request, connect_request, refusal>;

/// Dispatches a request on the plain listener: CONNECT (authority checked), local endpoints
/// (GET and HEAD only, else 405 with `Allow`),
/// path mode `/court/{id}/{path}` (404 for an unknown court), absolute-form `http://` (400 to
/// a court: HTTPS only; 403 elsewhere), anything else 404.
[[nodiscard]] plain_request classify_plain(const request_line& line, const registry& reg);

/// What a CONNECT becomes.
struct intercept {
    const court* target = nullptr; ///< the court whose host was named
};
/// A blind byte tunnel (policy.other_hosts = "tunnel"): nothing injected.
struct blind_tunnel {
    authority to; ///< where to connect
};
/// CONNECT to a registry court on 443 is intercepted, if the local CA may sign for it
/// (`ca_permits`: its name constraints; else 502 saying to rotate the CA, before anything is
/// sent); elsewhere `policy.other_hosts` decides.
[[nodiscard]] std::variant<intercept, blind_tunnel, refusal> decide_connect(const authority& to, const registry& reg,
                                                                          const settings& cfg, bool ca_permits);

/// Dispatches a request inside a tunnel opened to `tunnel_host` (a registry court host): its
/// Host must name that host exactly (`:443` allowed), an absolute-form target must too, and a
/// CONNECT inside a tunnel is refused. Everything else is a request for that court.
[[nodiscard]] std::variant<court_request, refusal> classify_in_tunnel(const request_line& line,
                                                                     std::string_view tunnel_host, const registry& reg);

/// The headers that say where a request for a local page or path mode came from.
struct origin_facts {
    std::string_view host;            ///< the Host header
    std::string_view origin;          ///< the Origin header, if any
    bool has_origin = false;          ///< an Origin header came
    std::string_view sec_fetch_site;  ///< the Sec-Fetch-Site header, if any
};

/// Local pages and path mode answer only requests addressed to the listener itself: `Host` is
/// `localhost` or the listen address (with or without its port; any IP literal when listening on
/// a wildcard address). A name the attacker controls (DNS rebinding) is refused, and so is a
/// request a browser marks as coming from another site (`Origin` not this listener,
/// `Sec-Fetch-Site` other than `same-origin` or `none`). Nullopt when the request may be served.
[[nodiscard]] std::optional<refusal> check_local_origin(const origin_facts& facts, const endpoint& listen);

/// The token of an `Authorization: Bearer TOKEN` value, or nullopt.
[[nodiscard]] std::optional<std::string_view> bearer_token(std::string_view value);
/// The (user, token) of a `Proxy-Authorization: Basic base64(user:token)` value, or nullopt.
[[nodiscard]] std::optional<std::pair<std::string, std::string>> basic_credentials(std::string_view value);

} // namespace courtroute::routing
