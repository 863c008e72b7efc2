#include "routing/request.hpp"

#include <array>

#include "auth/cookies.hpp"
#include "core/names.hpp"
#include "core/text.hpp"
#include "core/url.hpp"

namespace courtroute::routing {
namespace {

refusal bad_request(std::string text, std::string_view outcome = "bad_request") {
    refusal r;
    r.status = 400;
    r.text = std::move(text);
    r.outcome = outcome;
    return r;
}

/// The path as a server would resolve it: decoded, `//` collapsed, `.` and `..` segments applied.
std::string normal_path(std::string_view raw) {
    auto decoded = percent_decode(raw, false);
    std::vector<std::string_view> segments;
    std::string_view rest = decoded;
    while (!rest.empty()) {
        auto slash = rest.find('/');
        auto seg = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (seg.empty() || seg == ".") continue;
        if (seg == "..") {
            if (!segments.empty()) segments.pop_back();
            continue;
        }
        segments.push_back(seg);
    }
    std::string out;
    for (auto seg : segments) {
        out += '/';
        out += seg;
    }
    return out.empty() ? "/" : out;
}

/// Request headers that never cross the proxy: hop-by-hop (RFC 9110 §7.6.1), the client's
/// credentials for us, and what the daemon sets itself.
constexpr std::array<std::string_view, 12> always_stripped{
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te",
    "trailer",    "upgrade",    "authorization",    "expect",              "transfer-encoding",  "cookie"};

} // namespace

bool is_logout(std::string_view target) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return false;
    auto path = target.substr(0, q);
    if (auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
    if (!iequals(normal_path(path), "/cgi-bin/login.pl")) return false;
    for (const auto& [name, value] : query_params(target))
        if (iequals(trim(name), "logout")) return true;
    return false;
}

bool is_idempotent(std::string_view m) {
    return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE";
}

request_decision plan_request(const request_head& head, const request_context& ctx) {
    const court& c = ctx.target;
    const user_facts& u = ctx.user;
    // RFC 9112 §3.2: a request with more than one Host is invalid; never guess which one counts.
    if (head.host_headers > 1) return bad_request("the request has more than one Host header");
    if (head.method == "TRACE" || head.method == "TRACK") {
        refusal r;
        r.status = 405;
        r.outcome = "method_refused";
        r.text = std::string(head.method) + " is not forwarded to courts: an echo would hand the injected session back";
        return r;
    }
    std::string client_code = u.pacer ? u.pacer->client_code : std::string();
    if (head.client_code_headers > 1) return bad_request("send Courtroute-Client-Code at most once", "bad_client_code");
    if (head.client_code_headers == 1) {
        auto code = trim(head.client_code);
        if (!valid_client_code(code))
            return bad_request("Courtroute-Client-Code must be " + std::string(client_code_rule), "bad_client_code");
        client_code = std::string(code);
    }
    if (is_logout(head.target)) {
        local_answer a;
        a.content_type = "text/html; charset=utf-8";
        a.outcome = "logout_kept";
        a.body = "<html><body><p>courtroute keeps this court session for all of your tools, so it was not ended. "
                 "Close this window; courtroute logs out when your credential is replaced or removed.</p></body></html>\n";
        return a;
    }
    auto d = decide(c, u, ctx.today, ctx.unlinked, ctx.now_unix);
    if (d.refusal_status) {
        refusal r;
        r.status = static_cast<unsigned>(d.refusal_status);
        r.warnings = std::move(d.warnings);
        return r;
    }
    forward_plan p;
    p.via = d.via;
    p.host = ctx.host.empty() ? std::string_view(c.host) : ctx.host;
    p.acms = p.host == c.host ? auth::acms::host_kind::other : auth::acms::kind_of(p.host);
    if (p.acms != auth::acms::host_kind::other) {
        // ACMS signs in with the PACER account itself: CM/ECF's link is not its business.
        if (d.via != route::pacer) {
            refusal r;
            r.status = 403;
            r.text = std::string(p.host) + " is ACMS, which takes a PACER account; " + c.id + " is on legacy CM/ECF";
            return r;
        }
        std::erase_if(d.warnings, [](const warning& w) {
            return w.code == warning_code::unlinked_nextgen || w.code == warning_code::link_mismatch;
        });
    }
    p.target = std::string(head.target);
    if (d.via == route::pacer) {
        p.session = auth::session_key::pacer(u.user, u.pacer->revision, client_code);
        p.client_code = std::move(client_code);
    } else {
        p.session = auth::session_key::cmecf(u.user, c.id, u.ecf.find(c.id)->second.revision);
    }
    p.client_cookies = auth::scrub_cookie_header(head.cookies);
    p.repeat_after_relogin = head.body_held;
    p.resend_on_stale_connection = is_idempotent(head.method);
    p.warnings = std::move(d.warnings);
    // Headers the Connection header names are hop-by-hop too.
    for (std::string_view rest = head.connection; !rest.empty();) {
        auto comma = rest.find(',');
        auto name = trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (!name.empty() && !iequals(name, "close") && !iequals(name, "keep-alive")) p.strip.push_back(name);
    }
    p.set = {{"Host", p.host}, {"Accept-Encoding", "identity"}};
    return p;
}

bool is_stripped(std::string_view name, const forward_plan& plan) {
    for (auto s : always_stripped)
        if (iequals(name, s)) return true;
    if (name.size() >= 11 && iequals(name.substr(0, 11), "courtroute-")) return true;
    for (auto s : plan.strip)
        if (iequals(name, s)) return true;
    return false;
}

std::optional<std::string> upstream_cookie(const forward_plan& plan, std::string_view token) {
    // Only cookie-octets reach the header (no CR/LF, no ';'): a hostile token cannot split it.
    if (!auth::is_cookie_value(token)) return std::nullopt;
    const bool pacer = plan.via == route::pacer;
    if (pacer && !plan.client_code.empty() && !auth::is_cookie_value(plan.client_code)) return std::nullopt;
    std::string out;
    out.reserve(2 * token.size() + plan.client_code.size() + plan.client_cookies.size() + 64);
    if (pacer) {
        out.append("NextGenCSO=").append(token).append("; PacerSession=").append(token);
        if (!plan.client_code.empty()) out.append("; PacerClientCode=").append(plan.client_code);
    } else {
        out.append("PacerSession=").append(token);
    }
    if (!plan.client_cookies.empty()) out.append("; ").append(plan.client_cookies);
    return out;
}

} // namespace courtroute::routing
