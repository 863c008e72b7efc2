#pragma once
/// login_service: the upstream sessions of every user, shared by all workers. One login per
/// credential at a time (single flight, whatever the client code), back-off after service
/// errors, expiry, and the logout of sessions whose credential was replaced or removed. The
/// session table itself is sans-io (auth/session_table); this class adds the locking, the waits
/// and the I/O of a login. Each worker keeps a `cache` of live tokens, so a request that finds
/// its session takes no lock.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "auth/outcome.hpp"
#include "auth/session_table.hpp"
#include "proxy/user_directory.hpp"
#include "proxy/net.hpp"
#include "registry/registry.hpp"
#include "routing/request.hpp"

namespace courtroute::proxy {

class worker;

class login_service {
public:
    /// A session to inject.
    struct ticket {
        std::string token;  ///< the session token (a secret)
        bool fresh = false; ///< obtained by a login made for this request
        bool proved = false; ///< a court already accepted this token (this worker told the table)
    };

    /// One worker's live tokens. Only that worker's thread uses it.
    class cache {
    public:
        cache() = default;

    private:
        friend class login_service;
        struct entry {
            std::string token;
            std::chrono::steady_clock::time_point expires;  ///< as the table said when it was fetched
            std::chrono::steady_clock::time_point checked;  ///< when the table last saw it used
            bool proved = false;                            ///< the table knows a court accepted it
        };
        std::unordered_map<auth::session_key, entry, auth::session_key_hash> entries_;
        std::uint64_t epoch_ = 0;
    };

    /// Sessions with the given tunables.
    explicit login_service(auth::session_table_options options = {});

    /// The session for `plan` at court `c`: from the worker's cache, else the table, else a login
    /// made by this call (others wait for it). Refusals (a failed credential, back-off, a login the
    /// service rejected) come back as values.
    net::awaitable<std::variant<ticket, routing::refusal>> session_for(worker& w, const routing::forward_plan& plan,
                                                                       const court& c);

    /// A court served a page with `token`: a later "not logged in" to it is a real expiry, which
    /// the re-login budget does not hold back. Tells the table once per token and worker.
    void prove(worker& w, const auth::session_key& key, std::string_view token);

    /// Whether a court's "not logged in" to `token` may lead to a new login now (at most one a
    /// minute per credential; always when another request already replaced the token).
    bool relogin_allowed(const auth::session_key& key, std::string_view token);

    /// The court said "not logged in" to `token`: the next request logs in again.
    void invalidate(const auth::session_key& key, std::string_view token);
    /// Shares PACER sessions through `users`' store when several daemons use it (issue 14): a
    /// session another daemon made is used instead of a login, one daemon logs in at a time,
    /// and a session a court refused is withdrawn for all. Called once, before serving.
    void share_through(user_directory& users) { shared_ = users.shares_sessions() ? &users : nullptr; }

    /// Drops every session whose credential is no longer stored at its revision and logs each
    /// one out upstream, from worker `w`.
    void drop_replaced(worker& w);

    /// Forgets expired sessions and ended back-offs (a timer calls it).
    void prune();

    /// The state of one session, for status (no secret).
    [[nodiscard]] std::optional<auth::session_info> find(const auth::session_key& key);
    /// How many sessions the table holds.
    [[nodiscard]] std::size_t size();

private:
    struct waiter;
    /// Logs in for `key` (the credential's one login in flight) and records the outcome.
    net::awaitable<auth::login_outcome> log_in(worker& w, const auth::session_key& key, const court& c);
    net::awaitable<auth::login_outcome> log_in_pacer(worker& w, const auth::session_key& key);
    /// The PACER login itself (log_in_pacer adds the sharing between daemons).
    net::awaitable<auth::login_outcome> pacer_login(worker& w, const auth::session_key& key);
    net::awaitable<auth::login_outcome> log_in_cmecf(worker& w, const auth::session_key& key, const court& c);
    routing::refusal refused(worker& w, const auth::session_key& key, const court& c, auth::login_kind cause,
                             const std::string& reason);
    void logout(worker& w, const auth::session_key& key, std::string token);
    /// Wakes everyone waiting for the credential's login (each on its own worker).
    void wake(const auth::credential_id& credential);

    std::mutex mutex_;
    auth::session_table table_;
    user_directory* shared_ = nullptr; ///< set when sessions are shared through a server store
    auth::session_table_options table_options_;
    /// How long a daemon waits for another daemon's PACER login, and how often it looks.
    static constexpr std::chrono::milliseconds shared_poll{100};
    static constexpr std::chrono::milliseconds shared_login_wait{20'000};
    std::map<auth::credential_id, std::vector<std::shared_ptr<waiter>>> waiters_;
    /// The last TOTP time step sent per PACER login: a code is never sent twice (PACER may
    /// refuse a reused code, and a refusal would mark a good credential failed).
    std::map<std::string, std::int64_t> totp_steps_;

    /// The Unix time whose TOTP step no login of `pacer_login` has used yet: now, or the start
    /// of the next step after a wait (at most 30 s).
    net::awaitable<std::int64_t> fresh_totp_time(worker& w, const std::string& pacer_login);
    std::atomic<std::uint64_t> epoch_{1};  ///< bumped when a token stops being valid
};

} // namespace courtroute::proxy
