#include "core/text.hpp"

#include <array>
#include <cctype>
#include <ctime>
#include <cstdio>

namespace courtroute {

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

bool icontains(std::string_view haystack, std::string_view needle) {
    if (needle.empty()) return true;
    if (needle.size() > haystack.size()) return false;
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
        if (iequals(haystack.substr(i, needle.size()), needle)) return true;
    return false;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool has_ctl_breaks(std::string_view s) {
    return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

namespace {
constexpr std::string_view b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        auto n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
        out += b64[(n >> 18) & 63];
        out += b64[(n >> 12) & 63];
        out += b64[(n >> 6) & 63];
        out += b64[n & 63];
    }
    if (i + 1 == bytes.size()) {
        auto n = static_cast<unsigned char>(bytes[i]) << 16;
        out += b64[(n >> 18) & 63];
        out += b64[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == bytes.size()) {
        auto n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
        out += b64[(n >> 18) & 63];
        out += b64[(n >> 12) & 63];
        out += b64[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    std::size_t pad = 0;
    for (char c : text) {
        if (c == '=') { ++pad; continue; }
        if (pad) return std::nullopt;  // data after padding
        auto pos = b64.find(c);
        if (pos == std::string_view::npos) return std::nullopt;
        acc = (acc << 6) | static_cast<unsigned>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    if (pad > 2) return std::nullopt;
    return out;
}

std::string hex_encode(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

day today() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    return day{std::chrono::year{tm.tm_year + 1900}, std::chrono::month{static_cast<unsigned>(tm.tm_mon + 1)},
               std::chrono::day{static_cast<unsigned>(tm.tm_mday)}};
}

std::string to_string(day d) {
    std::array<char, 16> buf{};
    std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02u", static_cast<int>(d.year()),
                  static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
    return buf.data();
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace courtroute

namespace courtroute {

std::optional<url_parts> parse_url(std::string_view url) {
    url_parts out;
    auto colon = url.find("://");
    if (colon == std::string_view::npos) return std::nullopt;
    out.scheme = to_lower(url.substr(0, colon));
    if (out.scheme != "https" && out.scheme != "http") return std::nullopt;
    auto rest = url.substr(colon + 3);
    auto end = rest.find_first_of("/?#");
    auto authority = rest.substr(0, end);
    auto tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
    std::string_view host = authority, port;
    if (authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port = after.substr(1);
        }
    } else if (auto c = authority.rfind(':'); c != std::string_view::npos) {
        host = authority.substr(0, c);
        port = authority.substr(c + 1);
    }
    if (host.empty()) return std::nullopt;
    for (char ch : host)
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':' || ch == '_'))
            return std::nullopt;
    out.host = to_lower(host);
    if (!out.host.empty() && out.host.back() == '.') out.host.pop_back();
    if (port.empty()) {
        out.port = out.scheme == "https" ? 443 : 80;
    } else {
        unsigned v = 0;
        if (port.size() > 5) return std::nullopt;
        for (char ch : port) {
            if (ch < '0' || ch > '9') return std::nullopt;
            v = v * 10 + static_cast<unsigned>(ch - '0');
        }
        if (v == 0 || v > 65535) return std::nullopt;
        out.port = static_cast<std::uint16_t>(v);
    }
    auto hash = tail.find('#');
    out.target = std::string(tail.substr(0, hash));
    if (out.target.empty() || out.target.front() == '?') out.target = "/" + out.target;  // GCC 12 -Wrestrict misfires on insert(0, ...)
    return out;
}

} // namespace courtroute
