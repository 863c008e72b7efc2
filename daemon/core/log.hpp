#pragma once
/// One line per event on stderr (journald), as `event key=value ...`.
/// Callers pass identifiers only (user names, court ids, credential ids, outcomes): never a
/// password, token, cookie value or one-time code. Values are quoted when they contain spaces
/// and stripped of control characters so a hostile value cannot forge a log line.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace courtroute::log {

using field = std::pair<std::string_view, std::string_view>;

/// Writes `event k=v k=v` to stderr as one line.
void event(std::string_view name, std::initializer_list<field> fields = {});

/// Formats a line as `event` writes it (for tests).
[[nodiscard]] std::string format(std::string_view name, std::initializer_list<field> fields);

} // namespace courtroute::log
