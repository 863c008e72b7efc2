#pragma once
/// RFC 6238 time-based one-time passcodes (the PACER MFA code) and the RFC 4648 base32
/// decoding of the secret as authenticator apps show it.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace courtroute::auth {

/// Decodes RFC 4648 base32 (alphabet A–Z, 2–7), case-insensitively, ignoring spaces, tabs and
/// '=' padding anywhere (secrets are often shown in groups and without padding). Returns nullopt on
/// any other character, or when the length cannot come from whole bytes (1, 3 or 6 trailing symbols:
/// a truncated secret). The result is a secret: never log it.
[[nodiscard]] std::optional<std::string> base32_decode(std::string_view text);

/// The RFC 6238 code (HMAC-SHA1, RFC 4226 dynamic truncation) for `unix_time`, zero-padded to
/// `digits`. Throws std::invalid_argument (naming the parameter, never the secret) when
/// `digits` is outside 1..10, `step` is not positive or `unix_time` is negative.
[[nodiscard]] std::string totp(std::string_view secret_bytes, std::int64_t unix_time, int digits = 6, int step = 30);

/// Convenience for the PACER login: the 6-digit, 30-second code for a base32 secret, or
/// nullopt when the secret does not decode or decodes to nothing.
[[nodiscard]] std::optional<std::string> totp_from_base32(std::string_view base32_secret, std::int64_t unix_time);

} // namespace courtroute::auth
