#pragma once
/// What the daemon answers instead of forwarding: a refusal (CONTRACT §5: 403 policy, 502
/// upstream or login failure, 504 upstream timeout, 4xx for bad requests) or a local answer.
/// Plain values: every decision step returns them, nothing throws them.
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace courtroute::routing {

/// A request the daemon answers itself with an error.
struct refusal {
    unsigned status = 403;            ///< the HTTP status
    std::vector<warning> warnings;    ///< one `Courtroute-Warning` header each
    std::string text;                 ///< the one-paragraph body; empty: the first warning's message
    std::string_view outcome = "refused"; ///< the log line's outcome
    std::string_view extra_header;    ///< one more header: the challenge of a 401/407, `Allow` of a 405
    std::string_view extra_value;     ///< its value

    /// The text body: `text`, else the first warning's message, else a generic sentence; one trailing newline.
    [[nodiscard]] std::string body() const;
};

/// An answer the daemon gives in place of the court's (e.g. a logout it keeps).
struct local_answer {
    unsigned status = 200;            ///< the HTTP status
    std::string_view content_type;    ///< its Content-Type
    std::string body;                 ///< the body
    std::string_view outcome;         ///< the log line's outcome
};

/// Where a request came without valid credentials (CONTRACT §4, §6).
enum class credentials_for {
    path_mode,  ///< `/court/...`: 401 with a Bearer challenge
    status,     ///< `/status` on the listener: 401 with a Bearer challenge
    page,       ///< the status page `/`: 401 with a Basic challenge (the browser asks once)
    proxy,      ///< CONNECT: 407 with a Basic challenge (what browsers can answer)
};

/// The one refusal for missing or wrong credentials at `place`: status, challenge and what to send.
[[nodiscard]] refusal credentials_required(credentials_for place);

/// Why an upstream exchange failed, as the I/O layer classifies its error codes.
enum class upstream_fault {
    unreachable, ///< no connection (DNS, refused, unreachable)
    timeout,     ///< a step ran past its timeout
    tls,         ///< the TLS handshake or the certificate check failed
    broken,      ///< the connection broke or the answer was not valid HTTP
};

/// The one mapping from an upstream failure to what the client gets: 504 for a timeout, 502
/// otherwise, with a sentence naming the host and the cause (`detail`, safe text).
[[nodiscard]] refusal upstream_refusal(upstream_fault fault, std::string_view host, std::string_view detail);

} // namespace courtroute::routing
