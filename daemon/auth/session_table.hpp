#pragma once
/// A sans-io cache of upstream sessions (PACER central sign-on or one legacy court) with
/// single-flight logins, expiry and back-off. It never performs I/O and never reads a clock:
/// the caller passes `now` into every call, so tests step it through time.
///
/// Two levels. A *credential* (user, kind, court, revision) is what a login spends: at most one
/// login per credential is in flight at a time, whatever client code it is for, so N client codes
/// never send N copies of a bad password; a rejection marks the credential failed for good and a
/// service error starts its back-off. A *session* (credential + client code) holds one token.
/// A replaced credential has a new revision, hence new keys: that is how a failed credential is
/// ever tried again (CONTRACT.md §5: never repeat a rejected login).
///
/// Driving loop (the login service):
///   auto r = table.acquire(key, now);
///   use    → send r.token; on a "not logged in" answer call invalidate(key, r.token, now)
///            and acquire again (once: PROTOCOL.md §3 says do not loop);
///   login  → log in, then complete(key, r.attempt, outcome, now) and wake the waiters;
///            on cancellation call abandon(key, r.attempt);
///   wait   → wait until the credential's login completes, then acquire again;
///   refuse → answer with r.reason (and r.cause for the warning code).
/// Not thread-safe: use it from one strand or behind one mutex.
#include "auth/outcome.hpp"
#include "auth/session_key.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace courtroute::auth {

/// Tunables of a session_table; the defaults suit PACER (lifetime unpublished, PROTOCOL.md §2).
struct session_table_options {
    std::chrono::steady_clock::duration max_lifetime = std::chrono::hours(8); ///< hard cap on a session's age
    std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(30); ///< unused this long → expired
    std::chrono::steady_clock::duration backoff_initial = std::chrono::seconds(1); ///< delay after the first service error
    std::chrono::steady_clock::duration backoff_max = std::chrono::minutes(5); ///< cap of the doubling delay
    /// An in-flight login older than this is presumed lost (its driver died without abandon()):
    /// the next caller takes over the login instead of waiting forever.
    std::chrono::steady_clock::duration login_timeout = std::chrono::minutes(2);
    /// A court saying "not logged in" to a session causes at most one new login per credential
    /// in this span (a page that always looks logged out must not log in on every request).
    std::chrono::steady_clock::duration relogin_interval = std::chrono::minutes(1);
    /// A CM/ECF credential whose logins got this many unclear answers in a row is marked failed:
    /// each might be a failed try, and legacy courts lock an account after five.
    int unclear_limit = 2;
};

/// A key's state, as shown by snapshot().
enum class session_state {
    live,          ///< a session token is held and not expired
    logging_in,    ///< a login for the credential is in flight; callers wait
    backoff,       ///< recent service errors; logins refused until `retry_at`
    failed,        ///< the credential revision was rejected (bad credentials); never retried
    mfa_required,  ///< PACER wanted a one-time passcode it did not get; never retried
    expired,       ///< no usable token; the next acquire logs in
};

/// Human name of a state ("live", "logging_in", ...), for status output.
[[nodiscard]] const char* to_string(session_state s) noexcept;

/// What acquire() tells the caller to do.
struct acquire_result {
    /// The caller's next step.
    enum class action {
        use,    ///< a live session exists: send `token`
        login,  ///< the caller is now THE one logging in for this credential; report with complete()
        wait,   ///< a login for this credential is in flight: wait for it, then acquire again
        refuse, ///< no login allowed now: `reason` says why, `cause` which failure
    };
    action what = action::refuse; ///< the step to take
    std::string token;            ///< the session token for `use` (a secret), else empty
    std::string reason;           ///< for `refuse` (and `login` after an expiry): a safe sentence for logs and clients
    std::uint64_t attempt = 0;    ///< for `login`: the ticket to pass to complete()/abandon()
    login_kind cause = login_kind::success; ///< for `refuse`: service_error (backoff), bad_credentials or mfa_required
    std::optional<std::chrono::steady_clock::time_point> retry_at; ///< for a backoff refusal: when logins resume
    std::optional<std::chrono::steady_clock::time_point> expires;  ///< for `use`: when the session ends at the latest
};

/// One key's state for status listings; holds no secret.
struct session_info {
    session_key key;                                  ///< the caller's key
    session_state state = session_state::expired;     ///< where the key stands at `now`
    std::optional<std::chrono::steady_clock::time_point> obtained;  ///< when the session was obtained (live/expired)
    std::optional<std::chrono::steady_clock::time_point> expires;   ///< the earlier of hard expiry and idle expiry (live)
    std::optional<std::chrono::steady_clock::time_point> retry_at;  ///< end of the backoff (backoff)
    std::string detail; ///< the last failure's safe text (failed, mfa_required, backoff)
    std::string notice; ///< the service's notice on the last successful login (live), e.g. password expiring
};

/// The cache. See the file comment for the driving loop.
class session_table {
public:
    using clock = std::chrono::steady_clock;    ///< the only clock; its time is injected, never read
    using time_point = clock::time_point;       ///< a moment
    using duration = clock::duration;           ///< a span

    /// A table with the given tunables.
    explicit session_table(session_table_options options = {});

    /// What to do for `key` at `now` (see acquire_result). A `use` also counts as activity
    /// (refreshes the idle timer): the token is about to be sent upstream.
    [[nodiscard]] acquire_result acquire(const session_key& key, time_point now);

    /// Reports the login started by acquire() with ticket `attempt`. `success` stores the token
    /// (its lifetime is `max_age` when given, capped by options.max_lifetime; a success with an
    /// empty token counts as a service error); `service_error` starts or doubles the credential's
    /// back-off; `bad_credentials` and `mfa_required` mark the credential failed for good. Returns
    /// false and changes nothing when `attempt` is not the credential's current login (it timed
    /// out and another caller took over, or the credential was dropped).
    bool complete(const session_key& key, std::uint64_t attempt, const login_outcome& outcome, time_point now,
                  std::optional<duration> max_age = std::nullopt);

    /// The login with ticket `attempt` was cancelled before an answer (shutdown, client gone):
    /// clears the in-flight mark without a backoff so the next caller logs in. Returns whether it applied.
    bool abandon(const session_key& key, std::uint64_t attempt);

    /// Records activity on a live session (a court answered with it): restarts its idle timer.
    void touch(const session_key& key, time_point now);

    /// The court said "not logged in" to `token`: drops the session if it still holds that token,
    /// so of several concurrent invalidations only the first causes a re-login. Returns whether it dropped one.
    bool invalidate(const session_key& key, std::string_view token, time_point now);

    /// A session token handed back by drop(): the caller logs it out upstream.
    struct dropped {
        session_key key;   ///< whose it was
        std::string token; ///< the live token (a secret)
    };
    /// A court served a page with `token`: it worked, so a later "not logged in" is an expiry.
    void prove(const session_key& key, std::string_view token);

    /// A court called `token` "not logged in": may the caller invalidate it and log in again at
    /// `now`? Yes when the token is no longer the key's session (another request already
    /// replaced it: acquiring again costs no extra login); otherwise at most one such re-login
    /// per credential per `relogin_interval`.
    [[nodiscard]] bool relogin_allowed(const session_key& key, std::string_view token, time_point now) const;

    /// The permanent verdict on a credential (bad_credentials or mfa_required), if it has one.
    [[nodiscard]] std::optional<login_kind> verdict(const credential_id& id) const;

    /// Forgets every session and credential for which `stale(credential)` is true (its credential
    /// was replaced or removed) and returns the tokens they held. Credentials with a login in
    /// flight are left alone (their login completes, and the next call drops them).
    [[nodiscard]] std::vector<dropped> drop(const std::function<bool(const credential_id&)>& stale);

    /// Forgets what is not worth keeping at `now`: expired sessions, ended back-offs. Failed
    /// credentials stay (they stop a rejected login from being repeated). Returns how many went.
    std::size_t prune(time_point now);

    /// Every session's state at `now`, sorted by key; no secrets.
    [[nodiscard]] std::vector<session_info> snapshot(time_point now) const;

    /// The state of one key at `now`, if the table knows it.
    [[nodiscard]] std::optional<session_info> find(const session_key& key, time_point now) const;

private:
    struct credential_entry {
        std::optional<login_kind> permanent; // bad_credentials or mfa_required: never log in again
        std::string detail;                  // last failure's safe text
        bool in_flight = false;              // a login is running
        std::uint64_t attempt = 0;           // ticket of the running login
        session_key login_for;               // the session the running login is for
        time_point login_started{};          // when it started
        int service_errors = 0;              // consecutive service errors (backoff exponent)
        time_point retry_at{};               // no login before this (when service_errors > 0)
        std::optional<time_point> relogin;   // when a court last made a session of it void
        int unclear = 0;                     // unclear answers in a row (CM/ECF)
    };
    struct session_entry {
        std::string token;      // live session token (secret); empty when none
        std::string notice;     // PACER's notice on the last success
        time_point obtained{};  // when `token` was obtained
        time_point hard_expiry{};
        time_point last_used{}; // idle timer base
        bool ever = false;      // a token was ever held (an expiry, not a first login)
        bool proved = false;    // a court accepted `token` at least once
    };

    [[nodiscard]] bool live(const session_entry& s, time_point now) const;
    [[nodiscard]] session_info info(const session_key& key, const session_entry& s, const credential_entry* c,
                                    time_point now) const;
    [[nodiscard]] const credential_entry* credential(const credential_id& id) const;

    session_table_options options_;
    std::map<credential_id, credential_entry> credentials_;
    std::map<session_key, session_entry> sessions_;
    std::uint64_t next_attempt_ = 1;
};

} // namespace courtroute::auth
