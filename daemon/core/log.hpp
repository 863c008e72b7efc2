#pragma once
/// One line per event on stderr (journald), as `event key=value ...`.
/// Callers pass identifiers only (user names, court ids, credential ids, outcomes): never a
/// password, token, cookie value or one-time code. Values are quoted when they contain spaces
/// and stripped of control characters so a hostile value cannot forge a log line.
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace courtroute::log {

using field = std::pair<std::string_view, std::string_view>;

/// Writes `event k=v k=v` to stderr as one line (or into this thread's buffer, see below).
void event(std::string_view name, std::initializer_list<field> fields = {});

/// Buffers this thread's lines instead of writing each one: the proxy's worker threads log one
/// line per request and flush the batch shortly after (see `flush_this_thread`). `on_first_line`
/// runs when a line lands in an empty buffer, so the caller can schedule the flush. Lines past
/// 64 KiB are written at once. Passing an empty function turns buffering off (after a flush).
void buffer_this_thread(std::function<void()> on_first_line);

/// Writes this thread's buffered lines, if any, in one write.
void flush_this_thread();

/// Formats a line as `event` writes it (for tests).
[[nodiscard]] std::string format(std::string_view name, std::initializer_list<field> fields);

} // namespace courtroute::log
