#include "auth/cookies.hpp"

#include "core/text.hpp"

namespace courtroute::auth {

bool is_managed_cookie_name(std::string_view name) noexcept {
    for (auto m : managed_cookie_names)
        if (iequals(name, m)) return true;
    return false;
}

bool is_cookie_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    constexpr std::string_view separators = "()<>@,;:\\\"/[]?={} \t";
    for (char ch : name) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f || separators.find(ch) != std::string_view::npos) return false;
    }
    return true;
}

bool is_cookie_value(std::string_view value) noexcept {
    if (value.empty() || value.size() > 4096) return false;
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        // cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
        if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\') return false;
    }
    return true;
}

namespace {

/// `s` without leading and trailing bytes <= 0x20 or 0x7f: what lenient cookie parsers strip
/// (Perl's \s, for one, includes \v and \f).
std::string_view strip_lenient(std::string_view s) {
    auto junk = [](char ch) { return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f; };
    while (!s.empty() && junk(s.front())) s.remove_prefix(1);
    while (!s.empty() && junk(s.back())) s.remove_suffix(1);
    return s;
}

/// True when a lenient server could read a managed cookie in `pair`: CGI.pm and other old
/// parsers split cookies on ',' as well as ';' and trim any whitespace, so
/// `a=1, NextGenCSO=x` or `\vNextGenCSO=x` would reach the court as a client-chosen session.
bool names_managed_cookie(std::string_view pair) {
    while (true) {
        auto comma = pair.find(',');
        auto part = pair.substr(0, comma);
        if (is_managed_cookie_name(strip_lenient(part.substr(0, part.find('='))))) return true;
        if (comma == std::string_view::npos) return false;
        pair.remove_prefix(comma + 1);
    }
}

} // namespace

std::string scrub_cookie_header(std::string_view cookie_header) {
    std::string out;
    while (!cookie_header.empty()) {
        auto semi = cookie_header.find(';');
        auto piece = trim(cookie_header.substr(0, semi));
        cookie_header = semi == std::string_view::npos ? std::string_view{} : cookie_header.substr(semi + 1);
        if (piece.empty()) continue;
        // A nameless piece ("=x" or "x") is kept unless its whole text is a managed name; a
        // piece holding CR, LF or NUL could never be sent in a header, so it goes too.
        if (names_managed_cookie(piece) || has_ctl_breaks(piece)) continue;
        if (!out.empty()) out += "; ";
        out += piece;
    }
    return out;
}

std::optional<std::string> inject_cookies(std::string_view scrubbed,
                                          const std::vector<std::pair<std::string, std::string>>& add) {
    if (has_ctl_breaks(scrubbed)) return std::nullopt;
    for (const auto& [name, value] : add)
        if (!is_cookie_name(name) || !is_cookie_value(value)) return std::nullopt;
    std::string out(trim(scrubbed));
    for (const auto& [name, value] : add) {
        if (!out.empty()) out += "; ";
        out += name;
        out += '=';
        out += value;
    }
    return out;
}

bool is_managed_set_cookie(std::string_view set_cookie_value) noexcept {
    return names_managed_cookie(set_cookie_value.substr(0, set_cookie_value.find(';')));
}

} // namespace courtroute::auth
