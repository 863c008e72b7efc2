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

std::string scrub_cookie_header(std::string_view cookie_header) {
    std::string out;
    while (!cookie_header.empty()) {
        auto semi = cookie_header.find(';');
        auto piece = trim(cookie_header.substr(0, semi));
        cookie_header = semi == std::string_view::npos ? std::string_view{} : cookie_header.substr(semi + 1);
        if (piece.empty()) continue;
        auto eq = piece.find('=');
        auto name = trim(piece.substr(0, eq));
        // A nameless piece ("=x" or "x") is kept unless its whole text is a managed name.
        if (is_managed_cookie_name(name)) continue;
        if (!out.empty()) out += "; ";
        out += piece;
    }
    return out;
}

std::optional<std::string> inject_cookies(std::string_view scrubbed,
                                          const std::vector<std::pair<std::string, std::string>>& add) {
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
    auto first = set_cookie_value.substr(0, set_cookie_value.find(';'));
    auto name = trim(first.substr(0, first.find('=')));
    return is_managed_cookie_name(name);
}

} // namespace courtroute::auth
