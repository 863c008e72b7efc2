#pragma once
/// The session cookies the daemon owns (PROTOCOL.md §2, §4): it strips them from clients'
/// requests, injects its own, and removes them from courts' Set-Cookie headers so session
/// secrets never reach a client (CONTRACT.md §5).
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace courtroute::auth {

/// Cookie names that carry a PACER or CM/ECF session: `NextGenCSO`, `PacerSession`, `PacerClientCode`.
inline constexpr std::array<std::string_view, 3> managed_cookie_names{"NextGenCSO", "PacerSession",
                                                                     "PacerClientCode"};

/// True when `name` (already trimmed) is a managed cookie name. RFC 6265 names are
/// case-sensitive, but this compares ASCII case-insensitively on purpose: a client could
/// otherwise smuggle `nextgencso=...` past the scrubber to a server that folds case, and no
/// legitimate client cookie uses a case variant of these names.
[[nodiscard]] bool is_managed_cookie_name(std::string_view name) noexcept;

/// True when `name` is an RFC 6265 cookie-name (an RFC 7230 token: no separators, CTLs or space).
[[nodiscard]] bool is_cookie_name(std::string_view name) noexcept;

/// True when `value` is 1..4096 RFC 6265 cookie-octets (printable ASCII except space, `"`, `,`, `;`, `\`).
/// Everything the daemon writes into a Cookie header must pass this (CR/LF would split the header).
[[nodiscard]] bool is_cookie_value(std::string_view value) noexcept;

/// A request's `Cookie` header value without the managed cookies; the other pairs keep their
/// order and are re-joined with "; ". Empty pieces are dropped, and so is any piece in which a
/// lenient server could read a managed name (split on ',' too, names trimmed of any whitespace
/// or control byte: `a=1, NextGenCSO=x`) or that holds CR, LF or NUL. May return an empty
/// string (then the caller should drop the header rather than send it empty).
[[nodiscard]] std::string scrub_cookie_header(std::string_view cookie_header);

/// `scrubbed` (output of scrub_cookie_header) with `add` appended as `name=value` pairs.
/// Returns nullopt (and writes nothing) when any name is not a cookie-name, any value is not
/// valid cookie-octets or `scrubbed` holds CR, LF or NUL: such text must never reach a header. Values are secrets; the caller
/// must not log them.
[[nodiscard]] std::optional<std::string> inject_cookies(std::string_view scrubbed,
                                                        const std::vector<std::pair<std::string, std::string>>& add);

/// True when a response `Set-Cookie` header value sets (or clears) a managed cookie: the proxy
/// drops that header. A value with no '=' in its first pair counts as managed when that pair's
/// text is a managed name (browsers differ on how they read such a header; dropping is safe), and
/// so does a first pair in which a lenient client could read one (`x=1, NextGenCSO=t`).
[[nodiscard]] bool is_managed_set_cookie(std::string_view set_cookie_value) noexcept;

} // namespace courtroute::auth
