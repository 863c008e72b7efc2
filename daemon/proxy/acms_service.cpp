#include "proxy/acms_service.hpp"

#include "auth/cookies.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "proxy/daemon.hpp"
#include "proxy/worker.hpp"

namespace courtroute::proxy {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
namespace acms = auth::acms;

namespace {

acms_service::failure failed(const std::string& user, const court& c, const std::string& pages_host, std::string reason,
                             bool pacer_rejected) {
    acms_service::failure f;
    f.pacer_rejected = pacer_rejected;
    f.refusal.status = 502;
    f.refusal.outcome = "acms_signin_failed";
    f.refusal.text = "courtroute could not sign in to ACMS at " + pages_host + ": " + reason;
    f.refusal.warnings.push_back(warning{warning_code::acms_signin_failed, user, c.id,
                                         "the ACMS sign-in through PACER's identity provider did not complete (" +
                                             sanitized(reason, 300) +
                                             "); courtroute tries again in a minute, or at once after a new PACER "
                                             "login: if it persists, sign in to ACMS once in a browser"});
    return f;
}

} // namespace

net::awaitable<std::variant<acms_service::session, acms_service::failure>>
acms_service::sign_in(worker& w, const std::string& user, const court& c, const std::string& pages_host,
                      const std::string& pacer_token) {
    if (!auth::is_cookie_value(pacer_token)) co_return failed(user, c, pages_host, "the PACER session token is not a cookie value", false);
    acms::signin steps(pages_host);
    acms::request r = steps.start();
    for (;;) {
        http::request<http::string_body> req{r.method == "POST" ? http::verb::post : http::verb::get, r.target, 11};
        std::string cookie = r.cookies;
        if (r.pacer_cookie) cookie = "NextGenCSO=" + pacer_token + (cookie.empty() ? "" : "; " + cookie);
        if (!cookie.empty()) req.set(http::field::cookie, cookie);
        req.set(http::field::accept, "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8");
        if (r.method == "POST") {
            req.set(http::field::content_type, r.content_type);
            req.body() = std::move(r.body);
        }
        auto x = co_await w.upstream.exchange(r.host, 443, std::move(req));
        if (x.error) co_return failed(user, c, pages_host, r.host + " could not be reached: " + x.error.detail, false);
        acms::answer a;
        a.status = x.answer.result_int();
        a.location = x.answer[http::field::location];
        for (auto it = x.answer.find(http::field::set_cookie);
             it != x.answer.end() && it->name() == http::field::set_cookie; ++it)
            a.set_cookies.push_back(it->value());
        a.body = x.answer.body();
        auto next = steps.step(a);
        if (auto* more = std::get_if<acms::request>(&next)) {
            r = std::move(*more);
            continue;
        }
        if (auto* done = std::get_if<acms::signed_in>(&next))
            co_return session{0, pacer_token, std::move(done->jar), std::move(done->token)};
        auto& f = std::get<acms::failed>(next);
        co_return failed(user, c, pages_host, f.reason, f.pacer_rejected);
    }
}

net::awaitable<std::variant<std::shared_ptr<const acms_service::session>, acms_service::failure>>
acms_service::session_for(worker& w, const std::string& user, const court& c, const std::string& pages_host,
                          const std::string& pacer_token) {
    const key k{user, c.id};
    for (;;) {
        std::shared_ptr<waiter> wait;
        {
            std::lock_guard lock(mutex_);
            auto& e = entries_[k];
            if (e.live && e.live->pacer_token == pacer_token) co_return std::shared_ptr<const session>(e.live);
            e.live.reset();  // made with an older PACER session: a new PACER login voids it
            // A failure holds for a minute, except one caused by a PACER session since replaced.
            if (e.failed && clock_type::now() < e.failed_until &&
                !(e.failed->pacer_rejected && e.failed_pacer_token != pacer_token))
                co_return *e.failed;
            if (e.in_flight) {
                wait = std::make_shared<waiter>(w.io.get_executor());
                e.waiters.push_back(wait);
            } else {
                e.in_flight = true;
            }
        }
        if (wait) {
            // Woken (cancelled) when the sign-in ends; the limit only guards against a lost wake-up.
            wait->timer.expires_after(90s);
            co_await wait->timer.async_wait(use_tuple);
            continue;
        }
        std::variant<session, failure> result;
        try {
            result = co_await sign_in(w, user, c, pages_host, pacer_token);
        } catch (const std::exception& ex) {
            result = failed(user, c, pages_host, sanitized(ex.what(), 200), false);
        }
        const auto now_unix = unix_now();
        std::shared_ptr<session> made;
        std::optional<failure> fail;
        {
            std::lock_guard lock(mutex_);
            auto& e = entries_[k];
            e.in_flight = false;
            if (auto* s = std::get_if<session>(&result)) {
                s->id = next_id_++;
                made = std::make_shared<session>(std::move(*s));
                e.live = made;
                e.failed.reset();
            } else {
                fail = std::get<failure>(std::move(result));
                e.failed = fail;
                e.failed_pacer_token = pacer_token;
                e.failed_until = clock_type::now() + retry_after;
            }
            wake(e);
        }
        log::event("acms_signin", {{"user", user}, {"court", c.id}, {"outcome", made ? "signed_in" : "failed"}});
        w.owner.users->note_acms(user, c.id,
                                 acms_state{made ? acms_state::signed_in : acms_state::failed, now_unix,
                                            made ? (made->token ? "" : "no API token found on ACMS's pages") : fail->refusal.text});
        if (made) co_return std::shared_ptr<const session>(made);
        co_return *fail;
    }
}

void acms_service::wake(entry& e) {
    // Each waiter's timer belongs to its own worker: cancel it there.
    for (auto& x : e.waiters) net::post(x->timer.get_executor(), [x] { x->timer.cancel(); });
    e.waiters.clear();
}

void acms_service::invalidate(const std::string& user, const std::string& court, std::uint64_t id) {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find({user, court}); it != entries_.end() && it->second.live && it->second.live->id == id)
        it->second.live.reset();
}

void acms_service::absorb(const std::string& user, const std::string& court, std::uint64_t id, std::string_view host,
                          const std::vector<std::string>& set_cookies) {
    if (set_cookies.empty()) return;
    std::lock_guard lock(mutex_);
    auto it = entries_.find({user, court});
    if (it == entries_.end() || !it->second.live || it->second.live->id != id) return;
    // Copy on write: requests in flight keep reading the session they were given.
    auto next = std::make_shared<session>(*it->second.live);
    for (auto& sc : set_cookies) next->jar.absorb(host, sc);
    it->second.live = std::move(next);
}

void acms_service::note_token(const std::string& user, const std::string& court, std::uint64_t id, std::string token) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find({user, court});
    if (it == entries_.end() || !it->second.live || it->second.live->id != id || it->second.live->token == token) return;
    auto next = std::make_shared<session>(*it->second.live);
    next->token = std::move(token);
    it->second.live = std::move(next);
}

} // namespace courtroute::proxy
