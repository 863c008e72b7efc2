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

bool session_table::live(const entry& e, time_point now) const {
    return !e.token.empty() && now < e.hard_expiry && now - e.last_used < options_.idle_timeout;
}

acquire_result session_table::start_login(entry& e, time_point now, std::string reason) {
    e.in_flight = true;
    e.attempt = next_attempt_++;
    e.login_started = now;
    acquire_result r;
    r.what = acquire_result::action::login;
    r.attempt = e.attempt;
    r.reason = std::move(reason);
    return r;
}

acquire_result session_table::acquire(std::string_view key, time_point now) {
    auto it = entries_.find(key);
    if (it == entries_.end()) it = entries_.emplace(std::string(key), entry{}).first;
    auto& e = it->second;

    if (e.permanent) {
        acquire_result r;
        r.what = acquire_result::action::refuse;
        r.cause = *e.permanent;
        r.reason = *e.permanent == login_kind::mfa_required
                       ? "the login needs a one-time passcode that was missing or wrong; store a TOTP secret or replace the credential"
                       : "the login was rejected for bad credentials; it will not be retried until the credential is replaced";
        return r;
    }
    if (live(e, now)) {
        e.last_used = now;
        acquire_result r;
        r.what = acquire_result::action::use;
        r.token = e.token;
        return r;
    }
    if (e.in_flight) {
        if (now - e.login_started < options_.login_timeout) {
            acquire_result r;
            r.what = acquire_result::action::wait;
            r.reason = "a login for this session is in progress";
            return r;
        }
        // The running login's driver vanished without abandon(): take over.
        return start_login(e, now, "the previous login attempt timed out");
    }
    if (e.service_errors > 0 && now < e.retry_at) {
        acquire_result r;
        r.what = acquire_result::action::refuse;
        r.cause = login_kind::service_error;
        r.retry_at = e.retry_at;
        auto secs = std::chrono::ceil<std::chrono::seconds>(e.retry_at - now).count();
        r.reason = "the login service failed " + std::to_string(e.service_errors) +
                   " time(s) in a row; next attempt allowed in " + std::to_string(secs) + " s";
        return r;
    }
    std::string why = e.token.empty() ? std::string{} : std::string("the session expired");
    e.token.clear();
    return start_login(e, now, std::move(why));
}

bool session_table::complete(std::string_view key, std::uint64_t attempt, const login_outcome& outcome,
                             time_point now, std::optional<duration> max_age) {
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.in_flight || it->second.attempt != attempt) return false;
    auto& e = it->second;
    e.in_flight = false;

    auto kind = outcome.kind;
    if (kind == login_kind::success && outcome.token.empty()) kind = login_kind::service_error;
    switch (kind) {
    case login_kind::success: {
        auto lifetime = options_.max_lifetime;
        if (max_age && *max_age > duration::zero()) lifetime = std::min(lifetime, *max_age);
        e.token = outcome.token;
        e.notice = outcome.notice;
        e.detail.clear();
        e.obtained = now;
        e.last_used = now;
        e.hard_expiry = now + lifetime;
        e.service_errors = 0;
        break;
    }
    case login_kind::service_error: {
        e.token.clear();
        e.detail = outcome.detail.empty() ? std::string("the login service failed") : outcome.detail;
        e.service_errors = std::min(e.service_errors + 1, 62);
        // 1 s, 2 s, 4 s, ... capped: doubling stops once the cap is reached (no overflow).
        auto delay = options_.backoff_initial;
        for (int i = 1; i < e.service_errors && delay < options_.backoff_max; ++i) delay *= 2;
        e.retry_at = now + std::min(delay, options_.backoff_max);
        break;
    }
    case login_kind::bad_credentials:
    case login_kind::mfa_required:
        e.token.clear();
        e.permanent = kind;
        e.detail = outcome.detail;
        break;
    }
    return true;
}

bool session_table::abandon(std::string_view key, std::uint64_t attempt) {
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.in_flight || it->second.attempt != attempt) return false;
    it->second.in_flight = false;
    return true;
}

void session_table::touch(std::string_view key, time_point now) {
    auto it = entries_.find(key);
    if (it != entries_.end() && live(it->second, now)) it->second.last_used = std::max(it->second.last_used, now);
}

bool session_table::invalidate(std::string_view key, std::string_view token, time_point /*now*/) {
    auto it = entries_.find(key);
    if (it == entries_.end() || token.empty() || it->second.token != token) return false;
    it->second.token.clear();
    return true;
}

std::size_t session_table::erase_prefix(std::string_view prefix) {
    std::size_t n = 0;
    for (auto it = entries_.lower_bound(prefix); it != entries_.end() && it->first.starts_with(prefix);) {
        it = entries_.erase(it);
        ++n;
    }
    return n;
}

std::optional<std::string> session_table::take_token(std::string_view key) {
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.in_flight) return std::nullopt;
    std::optional<std::string> token;
    if (!it->second.token.empty()) token = std::move(it->second.token);
    entries_.erase(it);
    return token;
}

std::size_t session_table::prune(time_point now) {
    std::size_t n = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
        const auto& e = it->second;
        bool keep = e.permanent || e.in_flight || live(e, now) || (e.service_errors > 0 && now < e.retry_at);
        if (keep) {
            ++it;
        } else {
            it = entries_.erase(it);
            ++n;
        }
    }
    return n;
}

session_info session_table::info(const std::string& key, const entry& e, time_point now) const {
    session_info s;
    s.key = key;
    if (e.permanent) {
        s.state = *e.permanent == login_kind::mfa_required ? session_state::mfa_required : session_state::failed;
        s.detail = e.detail;
    } else if (live(e, now)) {
        s.state = session_state::live;
        s.obtained = e.obtained;
        s.expires = std::min(e.hard_expiry, e.last_used + options_.idle_timeout);
        s.notice = e.notice;
    } else if (e.in_flight) {
        s.state = session_state::logging_in;
    } else if (e.service_errors > 0 && now < e.retry_at) {
        s.state = session_state::backoff;
        s.retry_at = e.retry_at;
        s.detail = e.detail;
    } else {
        s.state = session_state::expired;
        if (!e.token.empty()) s.obtained = e.obtained;
    }
    return s;
}

std::vector<session_info> session_table::snapshot(time_point now) const {
    std::vector<session_info> out;
    out.reserve(entries_.size());
    for (const auto& [key, e] : entries_) out.push_back(info(key, e, now));
    return out;
}

std::optional<session_info> session_table::find(std::string_view key, time_point now) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return info(it->first, it->second, now);
}

} // namespace courtroute::auth
