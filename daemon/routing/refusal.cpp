#include "routing/refusal.hpp"

namespace courtroute::routing {

std::string refusal::body() const {
    std::string out = text;
    if (out.empty() && !warnings.empty()) out = warnings.front().message;
    if (out.empty()) out = "courtroute refused the request.";
    if (out.back() != '\n') out += '\n';
    return out;
}

refusal upstream_refusal(upstream_fault fault, std::string_view host, std::string_view detail) {
    refusal r;
    r.status = fault == upstream_fault::timeout ? 504 : 502;
    r.outcome = fault == upstream_fault::timeout ? "upstream_timeout" : "upstream_error";
    r.text = "courtroute could not get an answer from " + std::string(host) + ": " + std::string(detail) +
             ". Try again later.";
    return r;
}

} // namespace courtroute::routing
