#pragma once
/// acms_service: the ACMS sessions of PROTOCOL.md §10, one per (user, court), shared by every
/// worker. It runs the sans-io sign-in (`auth::acms::signin`) over the worker's verified
/// upstream connections with the user's PACER session, one sign-in in flight per (user, court)
/// (others wait for it), keeps the session's cookies and API token away from clients, voids a
/// session made with an older PACER session, and after a failure answers with the reason for a
/// minute instead of signing in again (no loop, no storm of PACER logins).
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "auth/acms.hpp"
#include "proxy/net.hpp"
#include "registry/registry.hpp"
#include "routing/refusal.hpp"

namespace courtroute::proxy {

class worker;

class acms_service {
public:
    /// A signed-in ACMS session (its secrets stay in the daemon).
    struct session {
        std::uint64_t id = 0;           ///< names this session (invalidation is by id)
        std::string pacer_token;        ///< the PACER session it was made with (a newer one voids it)
        auth::acms::cookie_jar jar;     ///< ACMS's cookies
        std::optional<std::string> token; ///< the API bearer token, once a page carried it
    };

    /// A sign-in that did not complete: the refusal to give (502, `acms_signin_failed`), and
    /// whether PACER's identity provider refused the PACER session itself.
    struct failure {
        routing::refusal refusal;
        bool pacer_rejected = false;
    };

    /// The ACMS session of `user` at court `c` (whose pages host is `pages_host`), made with
    /// `pacer_token`: a live one, else one signed in by this call (others wait for it).
    net::awaitable<std::variant<std::shared_ptr<const session>, failure>> session_for(worker& w, const std::string& user,
                                                                                        const court& c,
                                                                                        const std::string& pages_host,
                                                                                        const std::string& pacer_token);

    /// ACMS said "not logged in" to session `id`: the next request signs in again.
    void invalidate(const std::string& user, const std::string& court, std::uint64_t id);
    /// Cookies ACMS set on an answer through session `id` (kept, never shown to the client).
    void absorb(const std::string& user, const std::string& court, std::uint64_t id, std::string_view host,
                const std::vector<std::string>& set_cookies);
    /// A page through session `id` carried the API token.
    void note_token(const std::string& user, const std::string& court, std::uint64_t id, std::string token);

    /// How long a failed sign-in is answered with its reason before the next try.
    static constexpr std::chrono::seconds retry_after{60};

private:
    struct waiter {
        explicit waiter(net::any_io_executor ex) : timer(ex) {}
        net::steady_timer timer;
    };
    struct entry {
        std::shared_ptr<session> live;
        bool in_flight = false;
        std::vector<std::shared_ptr<waiter>> waiters;
        std::optional<failure> failed;
        std::string failed_pacer_token;  ///< the PACER session the failed sign-in used
        std::chrono::steady_clock::time_point failed_until{};
    };
    using key = std::pair<std::string, std::string>; // (user, court)

    net::awaitable<std::variant<session, failure>> sign_in(worker& w, const std::string& user, const court& c,
                                                           const std::string& pages_host, const std::string& pacer_token);
    void wake(entry& e);

    std::mutex mutex_;
    std::map<key, entry> entries_;
    std::uint64_t next_id_ = 1;
};

} // namespace courtroute::proxy
