#include "proxy/link_verifier.hpp"

#include <boost/json.hpp>

#include "auth/detect.hpp"
#include "core/log.hpp"
#include "core/url.hpp"
#include "policy/policy.hpp"
#include "proxy/daemon.hpp"
#include "proxy/http_wire.hpp"
#include "proxy/worker.hpp"
#include "routing/refusal.hpp"
#include "routing/request.hpp"

namespace courtroute::proxy {

std::string link_verdict::json() const {
    boost::json::object o{{"court", court}, {"verdict", verdict}, {"saw", saw},
                          {"recorded", recorded}, {"next_step", next_step}, {"error", error}};
    return boost::json::serialize(o);
}

namespace {

const char* filing_labels(court_type t) {
    switch (t) {
    case court_type::bankruptcy: return "Bankruptcy, Adversary";
    case court_type::district: return "Civil, Criminal";
    default: return "the court's filing menus";
    }
}

std::string troubleshooting(const court& c, const std::string& user) {
    return "the court shows only the limited menu although a link is recorded: refresh the page; log out, close "
           "the browser and log in again; clear cookies, cache and history; then run courtroute verify " +
           user + " " + c.id + " again. If the menus still do not appear, the link was not made: link again at " +
           c.ecf_url + " (Utilities), or run courtroute unlink " + user + " " + c.id;
}

} // namespace

net::awaitable<link_verdict> verify_link(worker& w, const std::string& user, const court& c) {
    link_verdict v;
    v.court = c.id;
    w.users.refresh();
    auto facts = w.users.facts(user);
    const auto today = w.today();
    v.recorded = facts->links.contains(c.id);
    auto fail = [&](std::string why, std::string next) {
        v.verdict = "unknown";
        v.error = true;
        v.saw = std::move(why);
        v.next_step = std::move(next);
        return v;
    };
    if (c.system_on(today) != court_system::nextgen)
        co_return fail(c.id + " is not on NextGen CM/ECF: it keeps its own court-issued logins, there is nothing to link",
                       "store the court's login with courtroute ecf set " + user + " " + c.id);
    if (!facts->pacer)
        co_return fail("no PACER login is stored for " + user,
                       "store it with courtroute pacer set " + user + " --login LOGIN (password on stdin)");

    // The plan of an ordinary GET of the court's main page, as a tool would send it; verification
    // only looks, so the unlinked policy never blocks it.
    const auto now_unix = unix_now();
    routing::request_head head;
    head.method = "GET";
    head.target = "/";
    auto decision = routing::plan_request(head, {c, *facts, c.host, unlinked_policy::warn, today, now_unix});
    if (auto* r = std::get_if<routing::refusal>(&decision)) co_return fail(r->body(), "see the message above");
    if (!std::holds_alternative<routing::forward_plan>(decision))
        co_return fail("the court's main page cannot be asked for", "try again");
    auto plan = std::get<routing::forward_plan>(std::move(decision));

    std::string target = "/";
    bool relogged = false;
    for (int hop = 0; hop < 6; ++hop) {
        auto got = co_await w.owner.logins.session_for(w, plan, c);
        if (auto* r = std::get_if<routing::refusal>(&got))
            co_return fail("the PACER login did not succeed: " + r->body(), "see courtroute status for the login's state");
        auto ticket = std::get<login_service::ticket>(std::move(got));
        auto cookie = routing::upstream_cookie(plan, ticket.token);
        if (!cookie) co_return fail("the session token is not a valid cookie", "try again");
        http::request_header<> req;
        req.method(http::verb::get);
        req.target(target);
        req.version(11);
        for (const auto& [name, value] : plan.set) req.set(name, value);
        req.set(http::field::cookie, *cookie);
        frame_whole(req, 0, true);
        std::string wire;
        append_head(wire, req);
        auto f = co_await w.upstream.fetch(plan.host, 443, wire, false, true, true);
        if (f.error)
            co_return fail("the court could not be reached: " + f.error.detail, "check the network, then try again");
        auto& res = f.parser->get();
        const std::string location(res[http::field::location]);
        const std::string content_type(res[http::field::content_type]);
        const int status = res.result_int();
        std::string body = std::move(f.body);
        if (f.parser->is_done() && f.parser->keep_alive()) w.upstream.release(std::move(f.conn));

        if (auth::looks_logged_out(status, location, content_type, body)) {
            if (relogged || ticket.fresh)
                co_return fail(c.id + " answered 'not logged in' right after a fresh PACER login",
                               "log in once at " + c.ecf_url + " in a browser to check the account");
            w.owner.logins.invalidate(plan.session, ticket.token);
            relogged = true;
            continue;
        }
        if (status >= 300 && status < 400 && !location.empty()) {
            // Follow the court's own redirects (to its main page), never to another host.
            if (location.front() == '/') {
                target = location;
                continue;
            }
            auto u = parse_url(location);
            if (u && u->host == plan.host) {
                target = u->target;
                continue;
            }
            co_return fail(c.id + " redirected to another host (" + location.substr(0, 100) + ")", "try again later");
        }
        if (status != 200)
            co_return fail(c.id + " answered HTTP " + std::to_string(status), "try again later");

        auto menus = auth::classify_menus(to_string(c.type), body);
        if (menus == auth::menu_state::unknown)
            co_return fail(c.id + "'s main page showed neither the filing menus nor the limited menu",
                           "look at " + c.ecf_url + " in a browser: " + "the menu bar should show " +
                               filing_labels(c.type));
        const bool filing = menus == auth::menu_state::filing;
        w.owner.users->note_observation(user, c.id, filing, now_unix, "verify");
        log::event("link_verified", {{"user", user}, {"court", c.id}, {"menus", filing ? "filing" : "limited"}});
        if (filing) {
            v.verdict = "linked";
            v.saw = std::string("the filing menus (") + filing_labels(c.type) + ")";
            v.next_step = v.recorded ? "nothing: the account is linked and recorded"
                                     : "record it: courtroute link " + user + " " + c.id;
            if (facts->pacer->shared)
                v.next_step = "the filing menus show for a shared PACER account; file with an individual account";
        } else {
            v.verdict = "not linked";
            v.saw = "the limited menu (Query, Reports, Utilities)";
            v.next_step = v.recorded ? troubleshooting(c, user) : linking_steps(c, user);
        }
        co_return v;
    }
    co_return fail(c.id + " redirected too many times", "try again later");
}

} // namespace courtroute::proxy
