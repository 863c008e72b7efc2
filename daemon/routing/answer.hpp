#pragma once
/// The second decision of a request, without sockets: what a court's answer means (logged out?
/// which menus?) and what of it reaches the client (Set-Cookie scrubbed, Location rewritten in
/// path mode, the route and warning headers).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fees/estimate.hpp"
#include "routing/request.hpp"

namespace courtroute::routing {

/// The facts of a court's answer that the decision reads.
struct answer_head {
    unsigned status = 200;          ///< the HTTP status
    std::string_view location;      ///< the Location header, if any
    std::string_view content_type;  ///< the Content-Type header, if any
    std::string_view body;          ///< the body read for inspection (all of it when `body_complete`)
    bool body_complete = false;     ///< `body` is the whole body
};

/// What the decision knows besides the answer.
struct answer_context {
    const forward_plan& plan;   ///< the plan the request was sent with
    const court& target;        ///< the court that answered
    const registry& reg;        ///< for rewriting redirects to other courts in path mode
    const user_facts& user;     ///< the user's facts when the request was planned
    bool path_mode = false;     ///< the client used /court/{id}/...
    bool fresh_session = false; ///< the session was obtained by a login made for this request
    bool repeated = false;      ///< this answers the repeat after a re-login
    unlinked_policy unlinked = unlinked_policy::warn; ///< to recompute warnings after an observation
    day today;                  ///< same
    std::int64_t now_unix = 0;  ///< same
    /// The credential's re-login budget is not spent (login_service::relogin_allowed). When it
    /// is, a "not logged in" answer is relayed with `session_rejected` and nobody logs in.
    bool relogin_allowed = true;
    std::string_view method = "GET"; ///< the request's method (a report's form is a GET, its results may be a POST)
};

/// What to do with the answer.
struct answer_decision {
    bool logged_out = false;          ///< the court says the session is missing or expired (PROTOCOL.md §3)
    bool drop_session = false;        ///< invalidate the session that was sent: the next request logs in
    bool relogin_and_repeat = false;  ///< discard this answer, log in, send the request once more
    std::optional<bool> session_rejected; ///< set (true) or clear (false) the court's `session_rejected` fact
    std::optional<bool> filing_menus;     ///< a logged-in PACER page showed the filing menus (true) or the limited menu
    std::optional<bool> link_mismatch;    ///< what it showed contradicts the recorded link (derived from `filing_menus`)
    std::optional<std::string> location;  ///< the Location to send instead (path mode)
    bool may_hold_receipt = false;        ///< a logged-in page that may carry PACER's Transaction Receipt (PROTOCOL.md §9)
    /// The client turned receipts off and this answer is charged: estimate it (unless a receipt shows after all).
    std::optional<fees::estimate_plan> estimate;
    std::vector<std::string> warnings;    ///< `Courtroute-Warning` values, CR/LF-free
    std::string_view route_name;          ///< the `Courtroute-Route` value
    std::string_view outcome;             ///< for the log line: ok, session_expired, session_rejected
};

/// Judges the answer (see answer_decision):
///  - "not logged in" to a session that was not fresh: drop it; log in and repeat when the plan
///    allows (the body was held), else pass the answer on;
///  - "not logged in" right after a fresh login: pass it on with `session_rejected` (no loop);
///  - a logged-in PACER page: compare its menus with the recorded link (`link_mismatch`;
///    nothing is inferred from a page with neither menu, nor for a shared account's filing menus);
///  - path mode: a redirect to a registry court comes back as `/court/{id}/...`, a relative one
///    under the court's own prefix.
[[nodiscard]] answer_decision shape_answer(const answer_head& answer, const answer_context& ctx);

/// True when a response header called `name` must not reach the client: hop-by-hop headers
/// (and those `connection` names). `Set-Cookie` is judged by strip_set_cookie.
[[nodiscard]] bool is_stripped_answer_header(std::string_view name, std::string_view connection);

/// True when a court's `Set-Cookie` value sets or clears a managed session cookie: it is dropped.
[[nodiscard]] bool strip_set_cookie(std::string_view value);

} // namespace courtroute::routing
