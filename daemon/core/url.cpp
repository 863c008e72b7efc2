#include "core/url.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "core/text.hpp"

namespace courtroute {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void say(std::string* problem, std::string text) {
    if (problem) *problem = std::move(text);
}

/// Parses a decimal port 1..65535; on failure says why.
std::optional<std::uint16_t> parse_port(std::string_view text, std::string* problem) {
    if (text.empty()) return say(problem, "the port is missing"), std::nullopt;
    if (text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit))
        return say(problem, "port " + quote(text) + " is not a number"), std::nullopt;
    unsigned value = 0;
    for (char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value < 1 || value > 65535)
        return say(problem, "port " + std::to_string(value) + " is out of range 1-65535"), std::nullopt;
    return static_cast<std::uint16_t>(value);
}

} // namespace

bool is_ipv4(std::string_view host) {
    if (host.empty() || host.size() > 15) return false;
    std::string copy(host); // inet_pton needs a NUL-terminated string
    in_addr addr{};
    return inet_pton(AF_INET, copy.c_str(), &addr) == 1;
}

bool is_ipv6(std::string_view host) {
    if (host.empty() || host.size() > 45) return false;
    std::string copy(host);
    in6_addr addr{};
    return inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

bool is_ip_literal(std::string_view host) { return is_ipv4(host) || is_ipv6(host); }

bool is_host_name(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    std::size_t start = 0;
    std::string_view last;
    while (true) {
        auto dot = host.find('.', start);
        auto label = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || label.size() > 63) return false;
        if (label.front() == '-' || label.back() == '-') return false;
        for (char c : label)
            if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-')) return false;
        last = label;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    // A name whose last label is all digits would be read as an IPv4 address by resolvers.
    return !std::all_of(last.begin(), last.end(), is_digit);
}

std::optional<authority> parse_authority(std::string_view text, port_rule rule, std::string* problem) {
    if (text.empty()) return say(problem, "it is empty"), std::nullopt;
    authority out;
    std::string_view host, port_text;
    bool has_port = false;
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return say(problem, "the IPv6 address lacks its closing ']'"), std::nullopt;
        host = text.substr(1, close - 1);
        if (!is_ipv6(host)) return say(problem, quote(host) + " is not an IPv6 address"), std::nullopt;
        auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return say(problem, "there is garbage after the IPv6 address"), std::nullopt;
            has_port = true;
            port_text = rest.substr(1);
        }
        out.ip_literal = true;
    } else {
        auto colon = text.rfind(':');
        host = text.substr(0, colon);
        if (colon != std::string_view::npos) {
            if (host.find(':') != std::string_view::npos)
                return say(problem, "an IPv6 address must be written in brackets, as [::1]:3128"), std::nullopt;
            has_port = true;
            port_text = text.substr(colon + 1);
        }
        if (host.empty()) return say(problem, "the host is missing"), std::nullopt;
        if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
        out.ip_literal = is_ipv4(host);
        if (!out.ip_literal && !is_host_name(host))
            return say(problem, quote(host) + " is not a valid host name or IPv4 address"), std::nullopt;
    }
    if (!has_port && rule == port_rule::required) return say(problem, "the ':port' is missing"), std::nullopt;
    if (has_port) {
        auto port = parse_port(port_text, problem);
        if (!port) return std::nullopt;
        out.port = *port;
    }
    out.host = to_lower(host);
    return out;
}

std::optional<url_parts> parse_url(std::string_view url, std::string* problem) {
    auto sep = url.find("://");
    if (sep == std::string_view::npos) return say(problem, "must be an http(s):// URL"), std::nullopt;
    url_parts out;
    out.scheme = to_lower(url.substr(0, sep));
    if (out.scheme != "https" && out.scheme != "http") return say(problem, "must be an http(s):// URL"), std::nullopt;
    // The target goes into a request line: CR/LF there would split it into a second header.
    if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
        return say(problem, "holds a control character"), std::nullopt;
    auto rest = url.substr(sep + 3);
    auto end = rest.find_first_of("/?#");
    auto written = rest.substr(0, end);
    auto tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (written.empty()) return say(problem, "has no host"), std::nullopt;
    if (written.find('@') != std::string_view::npos)
        return say(problem, "must not contain user information"), std::nullopt;
    std::string why;
    auto a = parse_authority(written, port_rule::optional, &why);
    if (!a) {
        bool port_fault = why.starts_with("port") || why.starts_with("the port");
        return say(problem, port_fault ? "has a bad port: " + why : "has a bad host: " + why), std::nullopt;
    }
    out.host = std::move(a->host);
    out.port_given = a->port != 0;
    out.port = a->port ? a->port : (out.scheme == "https" ? 443 : 80);
    out.target = std::string(tail.substr(0, tail.find('#')));
    if (out.target.empty() || out.target.front() == '?') out.target = "/" + out.target;  // GCC 12 -Wrestrict misfires on insert(0, ...)
    return out;
}

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

std::string percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += (plus_is_space && s[i] == '+') ? ' ' : s[i];
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> query_params(std::string_view target) {
    std::vector<std::pair<std::string, std::string>> out;
    auto q = target.find('?');
    if (q == std::string_view::npos) return out;
    auto query = target.substr(q + 1);
    query = query.substr(0, query.find('#'));
    while (!query.empty()) {
        auto end = query.find_first_of("&;");
        auto param = query.substr(0, end);
        query = end == std::string_view::npos ? std::string_view{} : query.substr(end + 1);
        if (param.empty()) continue;
        auto eq = param.find('=');
        out.emplace_back(percent_decode(param.substr(0, eq), true),
                         eq == std::string_view::npos ? std::string() : percent_decode(param.substr(eq + 1), true));
    }
    return out;
}

} // namespace courtroute
