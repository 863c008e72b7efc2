#pragma once
/// The names users type and the daemon stores, validated once for the CLI, the store and the proxy.
#include <string_view>

namespace courtroute {

/// A local user name: [A-Za-z0-9._-]{1,64}.
[[nodiscard]] bool valid_user_name(std::string_view name);

/// A court id: 1..16 lower-case letters and digits (`azb`, `ohndad`, `ca9`).
[[nodiscard]] bool valid_court_id(std::string_view id);

/// A PACER client code (PROTOCOL.md §9): 1..32 characters of letters, digits and `. _ - /`
/// (PACER forbids spaces and commas and names those four as what to use instead). The code also
/// travels as the `PacerClientCode` cookie, so nothing that could break a Cookie header passes.
[[nodiscard]] bool valid_client_code(std::string_view code);

/// The rule above in words, for error messages.
inline constexpr std::string_view client_code_rule = "1 to 32 letters, digits, '.', '_', '-' or '/'";

} // namespace courtroute
