#include "routing/answer.hpp"

#include <array>

#include "auth/cookies.hpp"
#include "auth/detect.hpp"
#include "core/text.hpp"
#include "core/url.hpp"
#include "fees/receipt.hpp"

namespace courtroute::routing {
namespace {

constexpr std::array<std::string_view, 8> hop_by_hop{"connection", "keep-alive", "proxy-connection",
                                                     "proxy-authenticate", "proxy-authorization", "te",
                                                     "trailer", "upgrade"};

std::optional<std::string> rewrite_location(std::string_view location, const court& c, const registry& reg) {
    if (location.empty()) return std::nullopt;
    if (auto u = parse_url(location)) {
        if (const court* to = reg.find_host(u->host); to && u->scheme == "https" && u->port == 443)
            return "/court/" + to->id + u->target;
        return std::nullopt;
    }
    if (location.front() == '/' && !location.starts_with("//")) return "/court/" + c.id + std::string(location);
    return std::nullopt;
}

} // namespace

answer_decision shape_answer(const answer_head& a, const answer_context& ctx) {
    answer_decision d;
    const auto& plan = ctx.plan;
    const court& c = ctx.target;
    d.route_name = to_string(plan.via);
    d.outcome = "ok";
    // One lower-case copy of the page for every check of it.
    const std::string lower = to_lower(a.body);
    d.logged_out =
        auth::looks_logged_out(static_cast<int>(a.status), a.location, a.content_type, auth::lower_body{lower});
    if (d.logged_out) {
        if (!ctx.fresh_session && !ctx.repeated && ctx.relogin_allowed) {
            d.drop_session = true;
            d.relogin_and_repeat = plan.repeat_after_relogin;
            d.outcome = "session_expired";
        } else {
            // A fresh session and still "not logged in": do not loop, say so.
            d.session_rejected = true;
            d.outcome = "session_rejected";
        }
    } else {
        d.session_rejected = false;
        // The ledger's cheap pre-check, on the lower-case copy made anyway (no second scan).
        d.may_hold_receipt = a.body_complete && a.status / 100 == 2 && fees::may_hold_receipt(lower);
        // Receipts turned off by the client: the courts still charge, so the ledger estimates.
        if (plan.via == route::pacer && a.status / 100 == 2 && fees::receipts_off(plan.client_cookies))
            d.estimate = fees::plan_estimate(ctx.method, plan.target, a.content_type, lower, a.body_complete);
        if (plan.via == route::pacer && a.body_complete && !a.body.empty() && ctx.user.pacer) {
            bool linked = ctx.user.links.contains(c.id);
            switch (auth::classify_menus(to_string(c.type), auth::lower_body{lower})) {
            case auth::menu_state::filing:
                d.filing_menus = true;
                d.link_mismatch = !linked && !ctx.user.pacer->shared;
                break;
            case auth::menu_state::limited:
                d.filing_menus = false;
                d.link_mismatch = linked;
                break;
            case auth::menu_state::unknown: break;
            }
        }
    }
    if (d.relogin_and_repeat) return d;  // this answer is discarded

    // Warnings as of now: recompute only when this answer changed a fact they depend on.
    const auto& rt = ctx.user.runtime;
    bool rejected_changes = d.session_rejected && *d.session_rejected != rt.session_rejected.contains(c.id);
    auto seen = ctx.user.observed.find(c.id);
    bool mismatch_changes =
        d.filing_menus && (seen == ctx.user.observed.end() || seen->second.filing_menus != *d.filing_menus);
    const std::vector<warning>* ws = &plan.warnings;
    std::vector<warning> recomputed;
    if (rejected_changes || mismatch_changes) {
        user_facts now = ctx.user;
        if (d.session_rejected) {
            if (*d.session_rejected) now.runtime.session_rejected.insert(c.id);
            else now.runtime.session_rejected.erase(c.id);
        }
        if (d.filing_menus) now.observed[c.id] = link_observation{c.id, *d.filing_menus, ctx.now_unix, "page"};
        recomputed = decide(c, now, ctx.today, ctx.unlinked, ctx.now_unix).warnings;
        ws = &recomputed;
    }
    d.warnings.reserve(ws->size());
    for (const auto& w : *ws)
        if (auto v = w.header_value(); !has_ctl_breaks(v)) d.warnings.push_back(std::move(v));
    if (ctx.path_mode) d.location = rewrite_location(trim(a.location), c, ctx.reg);
    return d;
}

bool is_stripped_answer_header(std::string_view name, std::string_view connection) {
    for (auto h : hop_by_hop)
        if (iequals(name, h)) return true;
    for (std::string_view rest = connection; !rest.empty();) {
        auto comma = rest.find(',');
        auto token = trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (!token.empty() && iequals(token, name) && !iequals(token, "close")) return true;
    }
    return false;
}

bool strip_set_cookie(std::string_view value) { return auth::is_managed_set_cookie(value); }

} // namespace courtroute::routing
