#include "auth/session_table.hpp"

#include <algorithm>

namespace courtroute::auth {

const char* to_string(session_state s) noexcept {
    switch (s) {
    case session_state::live: return "live";
    case session_state::logging_in: return "logging_in";
    case session_state::backoff: return "backoff";
    case session_state::failed: return "failed";
    case session_state::mfa_required: return "mfa_required";
    case session_state::expired: return "expired";
    }
    return "unknown";
}

session_table::session_table(session_table_options options) : options_(options) {}

bool session_table::live(const session_entry& s, time_point now) const {
    return !s.token.empty() && now < s.hard_expiry && now - s.last_used < options_.idle_timeout;
}

const session_table::credential_entry* session_table::credential(const credential_id& id) const {
    auto it = credentials_.find(id);
    return it == credentials_.end() ? nullptr : &it->second;
}

acquire_result session_table::acquire(const session_key& key, time_point now) {
    auto& c = credentials_[key.credential];
    auto& s = sessions_[key];
    acquire_result r;
    if (c.permanent) {
        r.what = acquire_result::action::refuse;
        r.cause = *c.permanent;
        r.reason = *c.permanent == login_kind::mfa_required
                       ? "the login needs a one-time passcode that was missing or wrong; store a TOTP secret or replace the credential"
                       : "the login was rejected for bad credentials; it will not be retried until the credential is replaced";
        return r;
    }
    if (live(s, now)) {
        s.last_used = now;
        r.what = acquire_result::action::use;
        r.token = s.token;
        r.expires = std::min(s.hard_expiry, now + options_.idle_timeout);
        return r;
    }
    bool took_over = false;
    if (c.in_flight) {
        if (now - c.login_started < options_.login_timeout) {
            r.what = acquire_result::action::wait;
            r.reason = "a login for this credential is in progress";
            return r;
        }
        took_over = true;  // the running login's driver vanished without abandon()
    }
    if (!took_over && c.service_errors > 0 && now < c.retry_at) {
        r.what = acquire_result::action::refuse;
        r.cause = login_kind::service_error;
        r.retry_at = c.retry_at;
        auto secs = std::chrono::ceil<std::chrono::seconds>(c.retry_at - now).count();
        r.reason = "the login service failed " + std::to_string(c.service_errors) +
                   " time(s) in a row; next attempt allowed in " + std::to_string(secs) + " s";
        return r;
    }
    c.in_flight = true;
    c.attempt = next_attempt_++;
    c.login_for = key;
    c.login_started = now;
    r.what = acquire_result::action::login;
    r.attempt = c.attempt;
    r.reason = took_over ? "the previous login attempt timed out" : s.ever ? "the session expired" : "";
    s.token.clear();
    return r;
}

bool session_table::complete(const session_key& key, std::uint64_t attempt, const login_outcome& outcome,
                             time_point now, std::optional<duration> max_age) {
    auto it = credentials_.find(key.credential);
    if (it == credentials_.end() || !it->second.in_flight || it->second.attempt != attempt ||
        it->second.login_for != key)
        return false;
    auto& c = it->second;
    c.in_flight = false;

    auto kind = outcome.kind;
    if (kind == login_kind::success && outcome.token.empty()) kind = login_kind::service_error;
    switch (kind) {
    case login_kind::success: {
        auto lifetime = options_.max_lifetime;
        if (max_age && *max_age > duration::zero()) lifetime = std::min(lifetime, *max_age);
        auto& s = sessions_[key];
        s.token = outcome.token;
        s.notice = outcome.notice;
        s.obtained = now;
        s.last_used = now;
        s.hard_expiry = now + lifetime;
        s.ever = true;
        s.proved = false;
        c.detail.clear();
        c.service_errors = 0;
        c.unclear = 0;
        break;
    }
    case login_kind::service_error: {
        c.detail = outcome.detail.empty() ? std::string("the login service failed") : outcome.detail;
        if (outcome.unclear && key.credential.kind == session_kind::cmecf &&
            ++c.unclear >= options_.unclear_limit) {
            // Not a network fault: the court answered, and we cannot tell that the password was
            // right. Stop before its lockout; a person checks and replaces the credential.
            c.permanent = login_kind::bad_credentials;
            c.detail = "the court's login answered unclearly " + std::to_string(c.unclear) +
                       " times in a row (" + c.detail +
                       "); not tried again, to stay clear of its lockout: check the login in a browser, "
                       "then store it again with courtroute ecf set";
            break;
        }
        c.service_errors = std::min(c.service_errors + 1, 62);
        // 1 s, 2 s, 4 s, ... capped: doubling stops once the cap is reached (no overflow).
        auto delay = options_.backoff_initial;
        for (int i = 1; i < c.service_errors && delay < options_.backoff_max; ++i) delay *= 2;
        c.retry_at = now + std::min(delay, options_.backoff_max);
        break;
    }
    case login_kind::bad_credentials:
    case login_kind::mfa_required:
        c.permanent = kind;
        c.detail = outcome.detail;
        // Every session of a rejected credential is useless now.
        for (auto s = sessions_.lower_bound(session_key{key.credential, {}});
             s != sessions_.end() && s->first.credential == key.credential; ++s)
            s->second.token.clear();
        break;
    }
    return true;
}

bool session_table::abandon(const session_key& key, std::uint64_t attempt) {
    auto it = credentials_.find(key.credential);
    if (it == credentials_.end() || !it->second.in_flight || it->second.attempt != attempt) return false;
    it->second.in_flight = false;
    return true;
}

void session_table::touch(const session_key& key, time_point now) {
    auto it = sessions_.find(key);
    if (it != sessions_.end() && live(it->second, now)) it->second.last_used = std::max(it->second.last_used, now);
}

bool session_table::invalidate(const session_key& key, std::string_view token, time_point now) {
    auto it = sessions_.find(key);
    if (it == sessions_.end() || token.empty() || it->second.token != token) return false;
    it->second.token.clear();
    credentials_[key.credential].relogin = now;
    return true;
}

void session_table::prove(const session_key& key, std::string_view token) {
    auto s = sessions_.find(key);
    if (s != sessions_.end() && !token.empty() && s->second.token == token) s->second.proved = true;
}

bool session_table::relogin_allowed(const session_key& key, std::string_view token, time_point now) const {
    auto s = sessions_.find(key);
    if (s == sessions_.end() || s->second.token != token) return true;
    // A session that worked and now is refused has expired: that re-login is never held back.
    // The budget is for sessions a court refuses from the start (a page that always looks logged out).
    if (s->second.proved) return true;
    const auto* c = credential(key.credential);
    return !c || !c->relogin || now - *c->relogin >= options_.relogin_interval;
}

std::optional<login_kind> session_table::verdict(const credential_id& id) const {
    const auto* c = credential(id);
    return c ? c->permanent : std::nullopt;
}

std::vector<session_table::dropped> session_table::drop(const std::function<bool(const credential_id&)>& stale) {
    std::vector<dropped> out;
    for (auto c = credentials_.begin(); c != credentials_.end();) {
        if (c->second.in_flight || !stale(c->first)) {
            ++c;
            continue;
        }
        for (auto s = sessions_.lower_bound(session_key{c->first, {}});
             s != sessions_.end() && s->first.credential == c->first;) {
            if (!s->second.token.empty()) out.push_back({s->first, std::move(s->second.token)});
            s = sessions_.erase(s);
        }
        c = credentials_.erase(c);
    }
    return out;
}

std::size_t session_table::prune(time_point now) {
    std::size_t n = 0;
    for (auto s = sessions_.begin(); s != sessions_.end();) {
        const auto* c = credential(s->first.credential);
        bool busy = c && c->in_flight && c->login_for == s->first;
        if (live(s->second, now) || busy) {
            ++s;
        } else {
            s = sessions_.erase(s);
            ++n;
        }
    }
    for (auto c = credentials_.begin(); c != credentials_.end();) {
        const auto& e = c->second;
        bool has_sessions = [&] {
            auto s = sessions_.lower_bound(session_key{c->first, {}});
            return s != sessions_.end() && s->first.credential == c->first;
        }();
        bool keep = e.permanent || e.in_flight || has_sessions || (e.service_errors > 0 && now < e.retry_at) ||
                    e.unclear > 0 || (e.relogin && now - *e.relogin < options_.relogin_interval);
        if (keep) {
            ++c;
        } else {
            c = credentials_.erase(c);
            ++n;
        }
    }
    return n;
}

session_info session_table::info(const session_key& key, const session_entry& s, const credential_entry* c,
                                 time_point now) const {
    session_info out;
    out.key = key;
    if (c && c->permanent) {
        out.state = *c->permanent == login_kind::mfa_required ? session_state::mfa_required : session_state::failed;
        out.detail = c->detail;
    } else if (live(s, now)) {
        out.state = session_state::live;
        out.obtained = s.obtained;
        out.expires = std::min(s.hard_expiry, s.last_used + options_.idle_timeout);
        out.notice = s.notice;
    } else if (c && c->in_flight && c->login_for == key) {
        out.state = session_state::logging_in;
    } else if (c && c->service_errors > 0 && now < c->retry_at) {
        out.state = session_state::backoff;
        out.retry_at = c->retry_at;
        out.detail = c->detail;
    } else {
        out.state = session_state::expired;
        if (s.ever) out.obtained = s.obtained;
    }
    return out;
}

std::vector<session_info> session_table::snapshot(time_point now) const {
    std::vector<session_info> out;
    out.reserve(sessions_.size());
    for (const auto& [key, s] : sessions_) out.push_back(info(key, s, credential(key.credential), now));
    return out;
}

std::optional<session_info> session_table::find(const session_key& key, time_point now) const {
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return std::nullopt;
    return info(it->first, it->second, credential(key.credential), now);
}

} // namespace courtroute::auth
