#include "proxy/login_service.hpp"

#include <set>

#include "auth/legacy.hpp"
#include "auth/pacer.hpp"
#include "auth/totp.hpp"
#include "core/log.hpp"
#include "core/url.hpp"
#include "proxy/daemon.hpp"
#include "proxy/worker.hpp"

namespace courtroute::proxy {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using auth::acquire_result;
using auth::login_kind;
using auth::session_key;

/// Someone waiting, on its own worker, for a credential's login to finish.
struct login_service::waiter {
    explicit waiter(net::any_io_executor ex) : timer(ex) {}
    net::steady_timer timer;
};

login_service::login_service(auth::session_table_options options) : table_(options), table_options_(options) {}

net::awaitable<std::variant<login_service::ticket, routing::refusal>>
login_service::session_for(worker& w, const routing::forward_plan& plan, const court& c) {
    const auto& key = plan.session;
    auto now = clock_type::now();
    auto& mine = w.sessions;
    // The hot path: this worker already holds a live token, nothing invalidated since.
    if (auto e = epoch_.load(std::memory_order_acquire); e != mine.epoch_) {
        mine.entries_.clear();
        mine.epoch_ = e;
    }
    if (auto hit = mine.entries_.find(key); hit != mine.entries_.end()) {
        // Tell the table about the use now and then, so the idle timer sees a busy session.
        if (now < hit->second.expires && now - hit->second.checked < 60s)
            co_return ticket{hit->second.token, false, hit->second.proved};
        mine.entries_.erase(hit);
    }
    for (;;) {
        acquire_result r;
        std::shared_ptr<waiter> wait;
        {
            std::lock_guard lock(mutex_);
            now = clock_type::now();
            r = table_.acquire(key, now);
            if (r.what == acquire_result::action::wait) {
                wait = std::make_shared<waiter>(w.io.get_executor());
                waiters_[key.credential].push_back(wait);
            }
        }
        switch (r.what) {
        case acquire_result::action::use:
            mine.entries_[key] = {r.token, r.expires.value_or(now + 60s), now};
            co_return ticket{std::move(r.token), false};
        case acquire_result::action::wait:
            // Woken (cancelled) by the login's end; the limit only guards against a lost wake-up.
            wait->timer.expires_after(130s);
            co_await wait->timer.async_wait(use_tuple);
            continue;
        case acquire_result::action::refuse:
            co_return refused(w, key, c, r.cause, r.reason);
        case acquire_result::action::login:
            break;
        }
        // This call is the credential's one login in flight; everyone else waits for it.
        auto outcome = co_await log_in(w, key, c);
        {
            std::lock_guard lock(mutex_);
            table_.complete(key, r.attempt, outcome, clock_type::now());
            // Too many unclear answers in a row turn into a failed credential (session_table).
            if (outcome.kind == login_kind::service_error) {
                if (auto v = table_.verdict(key.credential)) {
                    outcome.kind = *v;
                    outcome.detail = table_.find(key, clock_type::now()).value_or(auth::session_info{}).detail;
                }
            }
        }
        wake(key.credential);
        const char* kind = auth::to_string(key.credential.kind);
        const char* result = outcome.shared ? "shared" : auth::to_string(outcome.kind);
        w.stats.login(kind, result);
        log::event("login", {{"user", key.credential.user}, {"court", key.credential.court}, {"kind", kind},
                             {"outcome", result}});
        switch (outcome.kind) {
        case login_kind::success:
            if (key.credential.kind == auth::session_kind::pacer && !outcome.shared)
                w.owner.users->note_pacer_notice(key.credential.user, outcome.notice);
            co_return ticket{std::move(outcome.token), true};
        case login_kind::bad_credentials:
        case login_kind::mfa_required:
            w.owner.users->mark(key.credential,
                                outcome.kind == login_kind::mfa_required ? credential_state::mfa_required
                                                                         : credential_state::failed,
                                outcome.detail);
            co_return refused(w, key, c, outcome.kind, outcome.detail);
        case login_kind::service_error:
            co_return refused(w, key, c, outcome.kind, outcome.detail);
        }
    }
}

routing::refusal login_service::refused(worker& w, const session_key& key, const court& c, login_kind cause,
                                         const std::string& reason) {
    routing::refusal r;
    r.status = 502;
    r.outcome = "login_refused";
    const bool pacer = key.credential.kind == auth::session_kind::pacer;
    const std::string court_id = pacer ? std::string() : c.id;
    if (cause == login_kind::service_error) {
        r.text = "the login service did not answer properly; retried later with back-off";
        r.warnings.push_back(warning{warning_code::login_failed, key.credential.user, court_id,
                                     "the login service is in trouble (" + reason +
                                         "); courtroute backs off and retries later"});
        return r;
    }
    // The standard warnings for the now-failed credential, as status shows them.
    w.users.refresh();
    auto facts = w.users.facts(key.credential.user);
    auto d = decide(c, *facts, w.today(), w.config()->cfg.unlinked, unix_now());
    for (auto& x : d.warnings)
        if (x.code == warning_code::login_failed || x.code == warning_code::mfa_required) r.warnings.push_back(x);
    if (r.warnings.empty())
        r.warnings.push_back(warning{cause == login_kind::mfa_required ? warning_code::mfa_required
                                                                       : warning_code::login_failed,
                                     key.credential.user, court_id, reason});
    r.text = cause == login_kind::mfa_required ? "PACER asks for a one-time passcode and no TOTP secret is stored"
                                               : "the login was refused: " + reason;
    return r;
}

void login_service::wake(const auth::credential_id& credential) {
    std::vector<std::shared_ptr<waiter>> woken;
    {
        std::lock_guard lock(mutex_);
        if (auto it = waiters_.find(credential); it != waiters_.end()) {
            woken = std::move(it->second);
            waiters_.erase(it);
        }
    }
    // Each waiter's timer belongs to its own worker: cancel it there.
    for (auto& x : woken) net::post(x->timer.get_executor(), [x] { x->timer.cancel(); });
}

net::awaitable<auth::login_outcome> login_service::log_in(worker& w, const session_key& key, const court& c) {
    auth::login_outcome outcome;
    try {
        // Not `co_return co_await` twice: GCC 12 mis-handles the frames of such a pair.
        if (key.credential.kind == auth::session_kind::pacer) outcome = co_await log_in_pacer(w, key);
        else outcome = co_await log_in_cmecf(w, key, c);
    } catch (const std::exception& e) {
        outcome = auth::login_outcome{login_kind::service_error, {}, {}, auth::safe_text(e.what())};
    }
    co_return outcome;
}

net::awaitable<auth::login_outcome> login_service::log_in_pacer(worker& w, const session_key& key) {
    if (!shared_) co_return co_await pacer_login(w, key);
    // Several daemons on one store: one PACER session per credential firm-wide. Use the one
    // another daemon published; else take the credential's lease (one login in flight across
    // daemons), look once more, and log in; while another daemon holds the lease, wait for its
    // session. A store that cannot be reached refuses new logins (the sessions held keep serving).
    auth::login_outcome outcome;
    const std::string lease = "pacer:" + key.credential.user + ":" + key.client_code;
    auto adopt = [&](store::shared_session s) {
        outcome = {login_kind::success, std::move(s.token), {}, {}};
        outcome.shared = true;
    };
    net::steady_timer pause(w.io);
    for (int tries = 0;; ++tries) {
        if (auto s = shared_->shared_pacer_session(key.credential, key.client_code)) {
            adopt(std::move(*s));
            co_return outcome;
        }
        auto got = shared_->take_login_lease(lease);
        if (got == user_directory::lease::held) break;
        if (got == user_directory::lease::store_down) {
            outcome.detail = "the firm's store cannot be reached: no new PACER login until it is back";
            co_return outcome;
        }
        if (tries >= shared_login_wait / shared_poll) {
            outcome.detail = "another daemon's PACER login for this user did not finish in time";
            co_return outcome;
        }
        pause.expires_after(shared_poll);
        co_await pause.async_wait(use_tuple);
    }
    if (auto s = shared_->shared_pacer_session(key.credential, key.client_code)) {
        adopt(std::move(*s));
    } else {
        try {
            outcome = co_await pacer_login(w, key);
        } catch (...) {
            shared_->release_login_lease(lease);
            throw;
        }
        if (outcome.kind == login_kind::success) {
            auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(table_options_.max_lifetime).count();
            shared_->publish_pacer_session(key.credential, key.client_code, outcome.token, unix_now() + lifetime);
        }
    }
    shared_->release_login_lease(lease);
    co_return outcome;
}

net::awaitable<auth::login_outcome> login_service::pacer_login(worker& w, const session_key& key) {
    auto snap = w.config();
    auto cred = w.owner.users->open_pacer(key.credential.user, key.credential.revision);
    auth::login_outcome outcome;
    std::optional<std::string> otp;
    bool otp_ok = true;
    if (cred && !cred->totp_secret.empty()) {
        auto when = co_await fresh_totp_time(w, cred->login);
        otp = auth::totp_from_base32(cred->totp_secret, when);
        otp_ok = otp.has_value();
    }
    if (!cred) {
        // Replaced while we waited: nothing to spend; the next request uses the new credential.
        outcome.detail = "the credential was just replaced";
    } else if (!otp_ok) {
        outcome = {login_kind::bad_credentials, {}, {}, "the stored TOTP secret is not valid base32"};
    } else {
        auto url = parse_url(snap->cfg.pacer_auth_url);
        http::request<http::string_body> req{http::verb::post, url->target, 11};
        req.set(http::field::content_type, "application/json");
        req.set(http::field::accept, "application/json");
        req.body() = auth::pacer_login_body(cred->login, cred->password, key.client_code, otp);
        auto x = co_await w.upstream.exchange(url->host, url->port, std::move(req));
        if (x.error) outcome.detail = x.error.detail;
        else outcome = auth::parse_pacer_response(x.answer.result_int(), x.answer[http::field::content_type], x.answer.body());
    }
    co_return outcome;
}

net::awaitable<std::int64_t> login_service::fresh_totp_time(worker& w, const std::string& pacer_login) {
    constexpr std::int64_t step_seconds = 30;  // RFC 6238's default, which PACER uses
    for (;;) {
        auto now = unix_now();
        std::int64_t wait_s = 0;
        {
            std::lock_guard lock(mutex_);
            auto& last = totp_steps_[pacer_login];
            if (now / step_seconds > last) {
                last = now / step_seconds;
                co_return now;
            }
            wait_s = (last + 1) * step_seconds - now;
        }
        log::event("totp_wait", {{"login", pacer_login}, {"seconds", std::to_string(wait_s)}});
        net::steady_timer t(w.io.get_executor(), std::chrono::seconds(wait_s));
        co_await t.async_wait(use_tuple);
    }
}

net::awaitable<auth::login_outcome> login_service::log_in_cmecf(worker& w, const session_key& key, const court& c) {
    auto cred = w.owner.users->open_ecf(key.credential.user, key.credential.court, key.credential.revision);
    auth::login_outcome outcome;
    if (!cred) {
        outcome.detail = "the credential was just replaced";
    } else {
        http::request<http::string_body> req{http::verb::post, "/cgi-bin/login.pl", 11};
        req.set(http::field::content_type, "application/x-www-form-urlencoded");
        req.body() = auth::legacy_login_form(cred->login, cred->password);
        auto x = co_await w.upstream.exchange(c.host, 443, std::move(req));
        if (x.error) outcome.detail = x.error.detail;
        else outcome = auth::parse_legacy_login(x.answer.result_int(), x.answer.body());
    }
    co_return outcome;
}

void login_service::prove(worker& w, const session_key& key, std::string_view token) {
    {
        std::lock_guard lock(mutex_);
        table_.prove(key, token);
    }
    if (auto hit = w.sessions.entries_.find(key); hit != w.sessions.entries_.end() && hit->second.token == token)
        hit->second.proved = true;
}

bool login_service::relogin_allowed(const session_key& key, std::string_view token) {
    std::lock_guard lock(mutex_);
    return table_.relogin_allowed(key, token, clock_type::now());
}

void login_service::invalidate(const session_key& key, std::string_view token) {
    {
        std::lock_guard lock(mutex_);
        if (table_.invalidate(key, token, clock_type::now())) epoch_.fetch_add(1, std::memory_order_release);
    }
    // A court refused it: no daemon on the store may hand it out again.
    if (shared_ && key.credential.kind == auth::session_kind::pacer)
        shared_->withdraw_pacer_session(key.credential, key.client_code, std::string(token));
}

void login_service::drop_replaced(worker& w) {
    // Which credentials are still stored at their revision: asked outside our lock (store I/O).
    std::vector<auth::credential_id> known;
    {
        std::lock_guard lock(mutex_);
        for (const auto& s : table_.snapshot(clock_type::now()))
            if (known.empty() || known.back() != s.key.credential) known.push_back(s.key.credential);
    }
    std::set<auth::credential_id> stale;
    for (const auto& c : known)
        if (!w.owner.users->current(c)) stale.insert(c);
    if (stale.empty()) return;
    std::vector<auth::session_table::dropped> gone;
    {
        std::lock_guard lock(mutex_);
        gone = table_.drop([&](const auth::credential_id& c) { return stale.contains(c); });
        epoch_.fetch_add(1, std::memory_order_release);
    }
    for (const auto& c : stale)
        log::event("session_dropped", {{"user", c.user}, {"kind", auth::to_string(c.kind)}, {"court", c.court},
                                       {"reason", "credential replaced or removed"}});
    for (auto& g : gone) logout(w, g.key, std::move(g.token));
}

void login_service::logout(worker& w, const session_key& key, std::string token) {
    net::co_spawn(
        w.io,
        [&w, key, token = std::move(token)]() -> net::awaitable<void> {
            auto snap = w.config();
            std::string host;
            std::uint16_t port = 443;
            http::request<http::string_body> req{http::verb::get, "/cgi-bin/login.pl?logout", 11};
            const char* kind = auth::to_string(key.credential.kind);
            if (key.credential.kind == auth::session_kind::pacer) {
                auto url = parse_url(snap->cfg.pacer_logout_url);
                if (!url) co_return;
                host = url->host;
                port = url->port;
                req.method(http::verb::post);
                req.target(url->target);
                req.set(http::field::content_type, "application/json");
                req.set(http::field::accept, "application/json");
                req.body() = auth::pacer_logout_body(token);
            } else {
                const court* c = snap->reg->find_id(key.credential.court);
                if (!c) co_return;  // a court gone from the registry: nowhere to log out
                host = c->host;
                req.set(http::field::cookie, "PacerSession=" + token);
            }
            auto x = co_await w.upstream.exchange(host, port, std::move(req));
            if (x.error)
                log::event("logout_failed", {{"kind", kind}, {"host", host}, {"error", x.error.detail}});
            else
                log::event("logout", {{"kind", kind}, {"host", host}, {"status", std::to_string(x.answer.result_int())}});
        },
        [](std::exception_ptr e) {
            if (e) log::event("task_failed", {{"task", "logout"}});
        });
}

void login_service::prune() {
    std::lock_guard lock(mutex_);
    if (table_.prune(clock_type::now()) > 0) epoch_.fetch_add(1, std::memory_order_release);
}

std::optional<auth::session_info> login_service::find(const session_key& key) {
    std::lock_guard lock(mutex_);
    return table_.find(key, clock_type::now());
}

std::size_t login_service::size() {
    std::lock_guard lock(mutex_);
    return table_.snapshot(clock_type::now()).size();
}

} // namespace courtroute::proxy
