#include "routing/classify.hpp"

#include "core/text.hpp"

namespace courtroute::routing {
namespace {

refusal refuse(unsigned status, std::string text) {
    refusal r;
    r.status = status;
    r.text = std::move(text);
    return r;
}

/// The Host header without ":443" and a trailing dot, lower-case.
std::string normal_host(std::string_view host) {
    std::string h = to_lower(trim(host));
    if (h.ends_with(":443")) h.resize(h.size() - 4);
    if (h.size() > 1 && h.back() == '.') h.pop_back();
    return h;
}

std::optional<local_page> local_page_at(std::string_view path) {
    if (path == "/") return local_page::home;
    if (path == "/healthz") return local_page::healthz;
    if (path == "/status") return local_page::status;
    if (path == "/metrics") return local_page::metrics;
    if (path == "/proxy.pac") return local_page::pac;
    return std::nullopt;
}

} // namespace

plain_request classify_plain(const request_line& line, const registry& reg) {
    if (line.method == "CONNECT") {
        auto to = parse_authority(line.target, port_rule::required);
        if (!to) return refuse(400, "CONNECT needs host:port");
        return connect_request{std::move(*to)};
    }
    std::string_view target = line.target;
    if (target.empty() || target.front() != '/') {
        // Absolute-form: a plain http:// request through the proxy.
        auto url = parse_url(target);
        if (url && reg.find_host(url->host))
            return refuse(400, "courts are reached over HTTPS only: use https:// through this proxy");
        return refuse(403, "courtroute only proxies HTTPS to the courts in its registry");
    }
    auto path = target.substr(0, target.find('?'));
    if (auto page = local_page_at(path)) {
        if (line.method == "GET" || line.method == "HEAD") return local_endpoint{*page};
        auto r = refuse(405, "courtroute's own pages answer GET and HEAD only");
        r.extra_header = "Allow";
        r.extra_value = "GET, HEAD";
        return r;
    }
    if (path.starts_with("/court/")) {
        auto rest = target.substr(7);
        auto slash = rest.find_first_of("/?");
        auto id = rest.substr(0, slash);
        const court* c = reg.find_id(id);
        if (!c) return refuse(404, "no court " + quote(id) + " in the registry");
        court_request out{c, slash == std::string_view::npos ? "/" : std::string(rest.substr(slash)), true, c->host};
        if (out.upstream_target.front() == '?') out.upstream_target.insert(out.upstream_target.begin(), '/');
        return out;
    }
    return refuse(404, "courtroute serves / (status page), /proxy.pac, /healthz, /status, /metrics and "
                       "/court/{id}/{path}");
}

std::variant<intercept, blind_tunnel, refusal> decide_connect(const authority& to, const registry& reg,
                                                              const settings& cfg, bool ca_permits) {
    const court* c = reg.find_host(to.host);
    if (c && to.port == 443) {
        if (ca_permits) return intercept{c};
        // A court added outside the CA's constraints after it was made needs a new CA, not a
        // leaf clients would (rightly) reject.
        auto r = refuse(502, "courtroute's local CA is not permitted to sign for " + to.host + " (court " + c->id +
                                 " was added to the registry after the CA was created); an administrator must run "
                                 "`courtroute ca --rotate`, have clients trust the new CA (`courtroute ca --install`) "
                                 "and reload courtroute. Nothing was sent upstream.");
        r.outcome = "ca_not_permitted";
        return r;
    }
    if (c || cfg.other_hosts == other_hosts_policy::refuse)
        return refuse(403, to.host + ":" + std::to_string(to.port) +
                               " is not a court host in the registry (policy.other_hosts = refuse)");
    return blind_tunnel{to};
}

std::variant<court_request, refusal> classify_in_tunnel(const request_line& line, std::string_view tunnel_host,
                                                        const registry& reg) {
    const court* c = reg.find_host(tunnel_host);
    if (line.host_headers > 1) return refuse(400, "the request has more than one Host header");
    if (normal_host(line.host) != tunnel_host || !c) {
        auto r = refuse(403, "the Host header does not name the host this tunnel was opened to (" +
                                 std::string(tunnel_host) + "); nothing was sent upstream");
        r.outcome = "host_mismatch";
        return r;
    }
    if (line.method == "CONNECT") {
        auto r = refuse(405, "CONNECT inside a tunnel is not allowed");
        r.outcome = "method_refused";
        return r;
    }
    std::string_view target = line.target;
    if (!target.empty() && target.front() == '/') return court_request{c, std::string(target), false, std::string(tunnel_host)};
    // Absolute-form inside a tunnel: accept only when it names the same host.
    auto u = parse_url(target);
    if (!u || u->host != tunnel_host || u->scheme != "https") return refuse(400, "bad request target");
    return court_request{c, std::move(u->target), false, std::string(tunnel_host)};
}

namespace {

/// True when `host` (a Host header or an Origin's host[:port]) names the listener.
bool names_listener(std::string_view host, const endpoint& listen) {
    auto a = parse_authority(trim(host), port_rule::optional);
    if (!a || (a->port != 0 && a->port != listen.port)) return false;
    if (a->host == "localhost") return true;
    auto own = to_lower(listen.host);
    if (a->host == own) return true;
    // A wildcard listener is reached on any of the machine's addresses: accept IP literals only.
    bool wildcard = own == "0.0.0.0" || own == "::";
    return wildcard && a->ip_literal;
}

} // namespace

std::optional<refusal> check_local_origin(const origin_facts& f, const endpoint& listen) {
    auto refuse_with = [](std::string text) {
        auto r = refuse(403, std::move(text));
        r.outcome = "foreign_origin";
        return r;
    };
    if (!names_listener(f.host, listen))
        return refuse_with("courtroute answers its own pages and path mode only for Host localhost or " +
                           listen.to_string() + "; this request named " + quote(f.host, 100));
    if (f.has_origin) {
        auto o = trim(f.origin);
        bool same = iequals(o.substr(0, 7), "http://") && names_listener(o.substr(7), listen);
        if (!same) return refuse_with("courtroute refuses requests sent from another site (Origin " + quote(o, 100) + ")");
    }
    auto site = trim(f.sec_fetch_site);
    if (!site.empty() && !iequals(site, "same-origin") && !iequals(site, "none"))
        return refuse_with("courtroute refuses requests a browser sends from another site (Sec-Fetch-Site " +
                           quote(site, 40) + ")");
    return std::nullopt;
}

std::optional<std::string_view> bearer_token(std::string_view value) {
    value = trim(value);
    auto space = value.find(' ');
    if (space == std::string_view::npos || !iequals(value.substr(0, space), "Bearer")) return std::nullopt;
    auto token = trim(value.substr(space + 1));
    if (token.empty()) return std::nullopt;
    return token;
}

std::optional<std::pair<std::string, std::string>> basic_credentials(std::string_view value) {
    value = trim(value);
    auto space = value.find(' ');
    if (space == std::string_view::npos || !iequals(value.substr(0, space), "Basic")) return std::nullopt;
    auto decoded = base64_decode(trim(value.substr(space + 1)));
    if (!decoded) return std::nullopt;
    auto colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    return std::pair{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

} // namespace courtroute::routing
