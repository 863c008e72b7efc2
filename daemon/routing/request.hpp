#pragma once
/// The decision for one request to a court, without sockets: from what the client sent and what
/// the daemon knows (court, user facts, policy, date) to a local answer, a refusal, or a plan for
/// the upstream request. The proxy only carries the plan out.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "auth/acms.hpp"
#include "auth/session_key.hpp"
#include "config/settings.hpp"
#include "policy/policy.hpp"
#include "registry/registry.hpp"
#include "routing/refusal.hpp"

namespace courtroute::routing {

/// The header facts of a client's request that the decision reads (views into the request).
struct request_head {
    std::string_view method;               ///< as sent ("GET")
    std::string_view target;               ///< the origin-form target for the court ("/cgi-bin/x?y")
    std::size_t host_headers = 1;          ///< how many Host headers came
    std::size_t client_code_headers = 0;   ///< how many Courtroute-Client-Code headers came
    std::string_view client_code;          ///< the Courtroute-Client-Code value, when one came
    std::string_view cookies;              ///< every Cookie header, joined with "; "
    std::string_view connection;           ///< the Connection header (it names more hop-by-hop headers)
    bool body_held = true;                 ///< the whole body is in hand (false: a large upload still streams)
};

/// What the decision knows besides the request.
struct request_context {
    const court& target;        ///< the court the request is for
    const user_facts& user;     ///< stored and runtime facts of the authenticated user (no secrets)
    std::string_view host;      ///< the court host the request is for (its ecf_url host or an extra_hosts entry)
    unlinked_policy unlinked;   ///< `[policy] unlinked_nextgen`
    day today;                  ///< for `nextgen_since` and cutover warnings
    std::int64_t now_unix = 0;  ///< for the password-age warning
};

/// How to send a request on to the court.
struct forward_plan {
    route via = route::pacer;               ///< whose session is injected
    std::string_view host;                  ///< the host asked for: SNI, certificate name and Host
    auth::acms::host_kind acms = auth::acms::host_kind::other; ///< an ACMS host: its own session, never a CM/ECF cookie
    std::string target;                     ///< the origin-form target to send
    auth::session_key session;              ///< the session to inject
    std::string client_code;                ///< the PACER client code the request bills to (may be empty)
    std::string client_cookies;             ///< the client's own cookies, the managed ones removed
    bool repeat_after_relogin = true;       ///< may be sent once more after a "not logged in" and a fresh login
    bool resend_on_stale_connection = true; ///< idempotent: may be re-sent when a pooled connection turns out dead
    std::vector<warning> warnings;          ///< every warning for this user at this court, now
    std::vector<std::string_view> strip;    ///< request headers to remove before sending (case-insensitive)
    std::vector<std::pair<std::string_view, std::string_view>> set; ///< request headers to set
};

/// The outcome of the decision.
using request_decision = std::variant<forward_plan, refusal, local_answer>;

/// The decision for one request (CONTRACT §1 and §5):
///  - 400 for two Host headers, two client codes, or a client code outside PACER's rule;
///  - 405 for TRACE and TRACK (a court that echoes them would hand the injected session back);
///  - a local answer for a logout at `/cgi-bin/login.pl` in any spelling (`?logout`,
///    `?x=1&LOGOUT=1`, `%6Cogin.pl`, `//cgi-bin/./login.pl`): it would end the session that all
///    of the user's tools share;
///  - the routing table's refusals (403 policy, 502 a failed credential) with their warnings;
///  - otherwise a plan: PACER session under the request's or the stored client code at a NextGen
///    court, the court's own session at a legacy one; hop-by-hop headers, credentials and
///    `Courtroute-*` headers stripped; Host the one asked for (an `extra_hosts` entry is sent to
///    that host, not to the court's CM/ECF host); identity encoding, so login pages can be read.
///    At an ACMS host (PROTOCOL.md §10) the plan names the PACER session the ACMS sign-in uses;
///    the I/O layer injects ACMS's own session there, never a PACER or CM/ECF cookie, and the
///    CM/ECF link warnings do not apply.
[[nodiscard]] request_decision plan_request(const request_head& head, const request_context& ctx);

/// The `Cookie` header to send with `plan` and session `token`: the daemon's cookies first
/// (`NextGenCSO`, `PacerSession`, `PacerClientCode` for PACER; `PacerSession` for a legacy court),
/// then the client's own. Nullopt when the token or code is not a valid cookie value.
[[nodiscard]] std::optional<std::string> upstream_cookie(const forward_plan& plan, std::string_view token);

/// True when a client request header called `name` must not be forwarded under `plan`: hop-by-hop
/// headers (RFC 9110 §7.6.1) and those the Connection header names, the client's credentials for
/// the daemon (`Authorization`, `Proxy-Authorization`), every `Courtroute-*` header, `Expect`,
/// `Transfer-Encoding` (the proxy frames the body itself) and `Cookie` (replaced by upstream_cookie).
[[nodiscard]] bool is_stripped(std::string_view name, const forward_plan& plan);

/// True when `target` asks a court's `login.pl` to log out, however it is spelled.
[[nodiscard]] bool is_logout(std::string_view target);

/// True for the methods RFC 9110 §9.2.2 calls idempotent (GET, HEAD, OPTIONS, PUT, DELETE).
[[nodiscard]] bool is_idempotent(std::string_view method);

} // namespace courtroute::routing
