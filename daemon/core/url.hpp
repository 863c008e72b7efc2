#pragma once
/// The one parser of host names, authorities and URLs: the config (`[listen] proxy`, PACER
/// URLs, `[upstream] resolve`), the registry (`ecf_url`, `extra_hosts`), CONNECT authorities and
/// absolute request targets all go through it, so they agree on what a host is.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace courtroute {

/// True for a DNS host name (RFC 1123 labels of letters, digits and inner hyphens, 1..63 each,
/// 253 in all, no trailing dot) whose last label is not all digits (that reads as IPv4).
[[nodiscard]] bool is_host_name(std::string_view host);
/// True for a dotted-quad IPv4 literal.
[[nodiscard]] bool is_ipv4(std::string_view host);
/// True for an IPv6 literal, without brackets.
[[nodiscard]] bool is_ipv6(std::string_view host);
/// True for an IPv4 literal or an IPv6 literal (without brackets).
[[nodiscard]] bool is_ip_literal(std::string_view host);

/// `host[:port]` or `[v6][:port]`, checked.
struct authority {
    std::string host;         ///< lower-case, without brackets or a trailing dot
    std::uint16_t port = 0;   ///< 0 when none was written
    bool ip_literal = false;  ///< the host is an IPv4/IPv6 literal
};

/// What a written authority must have.
enum class port_rule {
    required, ///< `host:port` (listen addresses, CONNECT)
    optional, ///< `host` or `host:port` (URLs)
};

/// Parses an authority. On failure returns nullopt and, when `problem` is given, one phrase
/// saying why ("the ':port' is missing", "port 70000 is out of range 1-65535", ...) that quotes
/// the offending part safely. A trailing dot on a name is dropped (`ecf.azb.uscourts.gov.`).
[[nodiscard]] std::optional<authority> parse_authority(std::string_view text, port_rule rule,
                                                       std::string* problem = nullptr);

/// The parts of an absolute http(s) URL.
struct url_parts {
    std::string scheme;      ///< "https" or "http", lower-case
    std::string host;        ///< lower-case, no brackets
    std::uint16_t port = 0;  ///< explicit or the scheme's default
    bool port_given = false; ///< the URL wrote a port
    std::string target;      ///< path and query without the fragment, at least "/"
};

/// Parses `scheme://host[:port][/path][?query][#fragment]` with scheme http or https. User
/// information and control characters (CR/LF would split the request line the target goes
/// into) are refused. On failure returns nullopt and, when `problem` is given, why
/// ("must be an http(s):// URL", "holds a control character", "has no host",
/// "must not contain user information", "has a bad host '...'", "has a bad port: ...").
[[nodiscard]] std::optional<url_parts> parse_url(std::string_view url, std::string* problem = nullptr);

/// Percent-decodes `s` (a malformed escape stays as written); `plus_is_space` for query parts.
[[nodiscard]] std::string percent_decode(std::string_view s, bool plus_is_space);

/// The parameters of a request target's query (after `?`, before `#`), split on `&` and `;`,
/// names and values percent-decoded with `+` as space, in order; a name without `=` has an
/// empty value, empty parameters (`&&`) are skipped.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> query_params(std::string_view target);

} // namespace courtroute
