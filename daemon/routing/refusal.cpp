#include "routing/refusal.hpp"

#include "core/text.hpp"

namespace courtroute::routing {

std::string refusal::body() const {
    std::string out = text;
    if (out.empty() && !warnings.empty()) out = warnings.front().message;
    if (out.empty()) out = "courtroute refused the request.";
    if (out.back() != '\n') out += '\n';
    return out;
}

refusal credentials_required(credentials_for place) {
    refusal r;
    r.status = place == credentials_for::proxy ? 407 : 401;
    r.outcome = "unauthenticated";
    r.extra_header = place == credentials_for::proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
    r.extra_value = place == credentials_for::proxy || place == credentials_for::page ? "Basic realm=\"courtroute\""
                                                                                     : "Bearer realm=\"courtroute\"";
    switch (place) {
    case credentials_for::path_mode:
        r.text = "courtroute needs 'Authorization: Bearer TOKEN' (courtroute user add)";
        break;
    case credentials_for::status:
        r.text = "/status shows a user's own routes and warnings: send 'Authorization: Bearer TOKEN' "
                 "(courtroute user add); the administrator's full view is `courtroute status`";
        break;
    case credentials_for::page:
        r.text = "the courtroute status page shows a user's own courts: sign in with your courtroute user name "
                 "and token (courtroute user add), or set policy.anonymous_user on a machine with one attorney";
        break;
    case credentials_for::proxy:
        r.text = "courtroute needs proxy credentials: http://USER:TOKEN@host:port";
        break;
    }
    return r;
}

refusal upstream_refusal(upstream_fault fault, std::string_view host, std::string_view detail) {
    refusal r;
    r.status = fault == upstream_fault::timeout ? 504 : 502;
    r.outcome = fault == upstream_fault::timeout ? "upstream_timeout" : "upstream_error";
    r.text = "courtroute could not get an answer from " + std::string(host) + ": " + std::string(detail) +
             ". Try again later.";
    // CONTRACT §4: a refusal carries a warning; the court's own 5xx are relayed, not refused.
    r.warnings.push_back(warning{fault == upstream_fault::timeout ? warning_code::upstream_timeout
                                                                  : warning_code::upstream_error,
                                 "", "", sanitized(r.text, 300)});
    return r;
}

} // namespace courtroute::routing
