#pragma once
/// Small string and time helpers shared by every module.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courtroute {

/// ASCII lower-case copy (host names, header names).
[[nodiscard]] std::string to_lower(std::string_view s);
/// Case-insensitive ASCII equality.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b);
/// Case-insensitive ASCII substring search.
[[nodiscard]] bool icontains(std::string_view haystack, std::string_view needle);
/// Case-insensitive ASCII prefix and suffix tests.
[[nodiscard]] bool istarts_with(std::string_view s, std::string_view prefix);
[[nodiscard]] bool iends_with(std::string_view s, std::string_view suffix);
/// HTML's ASCII whitespace (space, tab, CR, LF, FF).
[[nodiscard]] constexpr bool is_html_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}
/// Trims spaces and tabs on both ends.
[[nodiscard]] std::string_view trim(std::string_view s);
/// True when `s` holds CR, LF or NUL: such a value must never be written into a header.
[[nodiscard]] bool has_ctl_breaks(std::string_view s);
/// `s` in single quotes, safe to put in a one-line message or log: control bytes become '?',
/// and past `max` bytes it is cut and ends in "...". The one quoting helper of every module.
[[nodiscard]] std::string quote(std::string_view s, std::size_t max = 80);
/// `quote` without the quotes.
[[nodiscard]] std::string sanitized(std::string_view s, std::size_t max = 80);

/// RFC 4648 base64 (standard alphabet, padded).
[[nodiscard]] std::string base64_encode(std::string_view bytes);
/// Decodes standard base64; nullopt on any invalid character.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);
/// Lower-case hex.
[[nodiscard]] std::string hex_encode(std::string_view bytes);

/// A calendar day.
using day = std::chrono::year_month_day;
/// Today in the machine's local time zone (courts publish cutover dates as local dates).
[[nodiscard]] day today();
/// `YYYY-MM-DD`.
[[nodiscard]] std::string to_string(day d);
/// Seconds since the Unix epoch, now.
[[nodiscard]] std::int64_t unix_now();
/// `unix` (seconds) in UTC, formatted by strftime's `format` (at most 63 characters of output).
[[nodiscard]] std::string utc_time(std::int64_t unix, const char* format);

} // namespace courtroute
