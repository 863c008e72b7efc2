#pragma once
/// PACER central sign-on (PROTOCOL.md §1): building the cso-auth / cso-logout request bodies
/// and judging cso-auth's answer. No I/O: the proxy posts the bodies and hands back what came.
#include "auth/outcome.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace courtroute::auth {

/// The outcome of a PACER login; `kind` says what to do (see login_kind).
using pacer_outcome = login_outcome;

/// The JSON body for `POST .../services/cso-auth`: string members `loginId`, `password`,
/// `clientCode` (only when non-empty), `redactFlag` = "1" (the filer accepts the redaction
/// rules), `otpCode` (only when given). The result holds the password: never log it.
[[nodiscard]] std::string pacer_login_body(std::string_view login, std::string_view password,
                                           std::string_view client_code, const std::optional<std::string>& otp);

/// Judges cso-auth's answer:
///  - success: HTTP 200, a JSON object, `loginResult` "0" (a string or the number 0) and a
///    `nextGenCSO` token valid as a cookie value (is_cookie_value: 1..4096 cookie-octets);
///    `errorDescription`, if any, becomes `notice` (PACER sends notices on success);
///  - service_error: any other status, a body that is not a JSON object, no usable
///    `loginResult`, or "0" with a missing or invalid token (not the password's fault: back off);
///  - mfa_required: a non-zero result whose description mentions a one-time passcode, OTP,
///    MFA, multi-/two-factor or a verification/authentication code;
///  - bad_credentials: any other non-zero result.
/// `detail` holds the failure's description as safe text (safe_text, 300 bytes at most) or a
/// sentence of ours; `content_type` is not trusted (PACER may mislabel JSON), the body is parsed.
[[nodiscard]] pacer_outcome parse_pacer_response(int http_status, std::string_view content_type, std::string_view body);

/// The JSON body for `POST .../services/cso-logout`: `{"nextGenCSO":"<token>"}`. Holds the token.
[[nodiscard]] std::string pacer_logout_body(std::string_view token);

/// True when a description from PACER speaks of a one-time passcode / MFA (see parse_pacer_response).
[[nodiscard]] bool mentions_one_time_code(std::string_view description);

} // namespace courtroute::auth
