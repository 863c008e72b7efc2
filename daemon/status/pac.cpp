#include "status/pac.hpp"

#include "core/url.hpp"

namespace courtroute {

namespace {

/// Registry hosts are validated DNS names; anything else is left out rather than escaped into
/// JavaScript.
bool plain_dns_name(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    for (char c : h)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
    return true;
}

} // namespace

std::string pac_proxy_authority(std::string_view host_header, const endpoint& listen) {
    auto a = parse_authority(host_header, port_rule::optional);
    if (!a) return listen.to_string();
    endpoint e{a->host, a->port ? a->port : listen.port};
    return e.to_string();
}

std::string proxy_pac(const registry& reg, std::string_view proxy) {
    std::string out;
    auto hosts = reg.hosts();
    out.reserve(512 + hosts.size() * 32);
    out += "// courtroute: court hosts through the local proxy, everything else direct.\n"
           "// Generated from the court registry (";
    out += std::to_string(reg.courts().size());
    out += " courts, ";
    out += std::to_string(hosts.size());
    out += " hosts); it follows the daemon's reloads.\nvar courtrouteHosts = {\n";
    bool first = true;
    for (auto& h : hosts) {
        if (!plain_dns_name(h)) continue;
        out += first ? "  \"" : ",\n  \"";
        out += h;
        out += "\": 1";
        first = false;
    }
    out += "\n};\n\nfunction FindProxyForURL(url, host) {\n"
           "  var h = String(host).toLowerCase();\n"
           "  if (h.charAt(h.length - 1) === \".\") h = h.substring(0, h.length - 1);\n"
           "  if (Object.prototype.hasOwnProperty.call(courtrouteHosts, h)) return \"PROXY ";
    out += proxy;
    out += "\";\n  return \"DIRECT\";\n}\n";
    return out;
}

} // namespace courtroute
