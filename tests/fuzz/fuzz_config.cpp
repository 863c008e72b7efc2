/// The main config loader (load_settings) on arbitrary file contents.
/// Properties: never throws; every problem is one line naming the file, in file order; a file
/// with no problem yields settings that satisfy CONTRACT §3's rules.
#include "config/settings.hpp"
#include "core/text.hpp"
#include "core/url.hpp"
#include "fuzz_support.hpp"

#include <algorithm>

using namespace courtroute;
using courtroute::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto file = fuzz::scratch_dir() / "conf" / "courtroute.toml";
    fuzz::write_file(file, fuzz::as_text(data, size));

    auto result = load_settings(file, true);

    for (const auto& e : result.errors) {
        check(e.file == file.string(), "a config diagnostic names another file");
        check(!e.message.empty(), "a config diagnostic has no message");
        check(e.line >= 0 && e.column >= 0, "a config diagnostic has a negative position");
        check(!has_ctl_breaks(e.to_string()), "a config diagnostic spans lines (CR, LF or NUL in it)");
    }
    check(std::is_sorted(result.errors.begin(), result.errors.end(),
                         [](const diagnostic& a, const diagnostic& b) {
                             return a.line != b.line ? a.line < b.line : a.column < b.column;
                         }),
          "config diagnostics are not in file order");
    if (!result.errors.empty()) return 0;

    const settings& s = result.value;
    check(s.source == file, "settings.source is not the file loaded");
    check(s.listen_proxy.port >= 1, "[listen] proxy accepted without a port");
    check(!s.listen_proxy.host.empty(), "[listen] proxy accepted without a host");
    check(parse_authority(s.listen_proxy.to_string(), port_rule::required).has_value(),
          "[listen] proxy does not round-trip through host:port");
    check(s.listen_threads <= 256, "[listen] threads accepted out of range");
    check(s.max_connections >= 1 && s.max_connections <= 1'000'000, "[listen] max_connections accepted out of range");
    for (const auto* url : {&s.pacer_auth_url, &s.pacer_logout_url}) {
        auto u = parse_url(*url);
        check(u && u->scheme == "https", "a [pacer] URL accepted that is not https://");
    }
    for (const auto& d : s.registry_dirs) check(d.is_absolute(), "a [registry] dirs entry was not resolved to an absolute path");
    check(s.state_dir.is_absolute(), "[state] dir was not resolved to an absolute path");
    check(s.key_file.empty() || s.key_file.is_absolute(), "[secrets] key_file was not resolved");
    check(s.upstream_ca_file.empty() || s.upstream_ca_file.is_absolute(), "[upstream] ca_file was not resolved");
    for (const auto& [from, to] : s.upstream_resolve) {
        check(from == to_lower(from), "an [upstream] resolve key is not lower-case");
        check(parse_authority(from, port_rule::required).has_value(), "an [upstream] resolve key is not host:port");
        check(to.port >= 1 && !to.host.empty(), "an [upstream] resolve target has no host or port");
    }
    check(!fuzz::has_control(s.anonymous_user), "[policy] anonymous_user holds control characters");
    return 0;
}
