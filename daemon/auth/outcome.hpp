#pragma once
/// The result of one login attempt (PACER central sign-on or a legacy court's login.pl),
/// shared by the response parsers and the session table so they speak one vocabulary.
#include <cstddef>
#include <string>
#include <string_view>

namespace courtroute::auth {

/// What a login attempt tells the daemon to do next.
enum class login_kind {
    success,         ///< a session token was obtained; use it
    bad_credentials, ///< the login or password was rejected: never retry this credential revision
    mfa_required,    ///< a one-time passcode was missing or wrong: never retry this revision
    service_error,   ///< the service misbehaved (status, body shape): not the password's fault, back off
};

/// One login attempt's outcome. Holds a secret (`token`): never log or print the struct as a whole.
struct login_outcome {
    login_kind kind = login_kind::service_error; ///< the verdict
    std::string token;  ///< the session token when `kind == success` (a secret), else empty
    std::string notice; ///< a notice shown by the service on success (e.g. password expiring); safe text, may be empty
    std::string detail; ///< why a login failed; safe text (control characters removed, at most 300 bytes)
    /// A service_error where the service did answer, but with neither a session nor a failure it
    /// names (a non-2xx status, new wording). A legacy court's unclear answers count toward
    /// marking the credential failed: each may be a failed try toward its lockout.
    bool unclear = false;
    /// A success without a login: the session another daemon on the same store made (issue 14).
    bool shared = false;
};

/// Human name of a kind, for logs and warnings ("success", "bad_credentials", ...).
[[nodiscard]] const char* to_string(login_kind k) noexcept;

/// Text from an upstream service made safe to show or log: control characters dropped,
/// runs of whitespace collapsed, cut to at most `max_bytes` bytes without splitting a UTF-8 sequence.
[[nodiscard]] std::string safe_text(std::string_view text, std::size_t max_bytes = 300);

} // namespace courtroute::auth
