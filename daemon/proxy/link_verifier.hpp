#pragma once
/// link_verifier: `courtroute verify` — asks a NextGen court, through the user's one PACER
/// session (no extra login when one is live), whether it shows the filing menus, records what
/// it saw, and says what to do next (PROTOCOL.md §5).
#include <string>

#include "proxy/net.hpp"
#include "registry/registry.hpp"

namespace courtroute::proxy {

class worker;

/// One court's verdict.
struct link_verdict {
    std::string court;
    std::string verdict;   ///< "linked", "not linked", or "unknown" (nothing could be concluded)
    std::string saw;       ///< what the court showed, in words ("the filing menus (Civil, Criminal)")
    bool recorded = false; ///< a link is recorded in the store
    std::string next_step; ///< the one thing to do now
    bool error = false;    ///< the court could not be asked (no PACER login, not NextGen, upstream failure)

    /// As JSON (one object).
    [[nodiscard]] std::string json() const;
};

/// Fetches `c`'s main page as `user` on worker `w` and decides. Never throws for expected
/// failures: they come back as a verdict with `error` set and the reason in `saw`.
net::awaitable<link_verdict> verify_link(worker& w, const std::string& user, const court& c);

} // namespace courtroute::proxy
