/// The one URL parser (parse_url) and the authority parser under it (parse_authority).
/// Properties: never throws; an accepted URL has an http(s) scheme, a valid lower-case host
/// name or IP literal, a port, and a target that starts with '/' and holds no fragment or
/// control character (it becomes a request line); written
/// back out it parses to the same parts; a refusal says why in printable text.
#include <string>

#include "core/text.hpp"
#include "core/url.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto text = fuzz::as_text(data, size);
    std::string problem;
    auto u = parse_url(text, &problem);
    if (!u) {
        check(!problem.empty() && !fuzz::has_control(problem), "a refused URL has no printable reason");
    } else {
        check(u->scheme == "http" || u->scheme == "https", "a URL accepted with another scheme");
        check(is_host_name(u->host) || is_ip_literal(u->host), "a URL accepted with a bad host");
        check(u->host == to_lower(u->host), "a URL's host is not lower-case");
        check(u->port >= 1, "a URL has port 0");
        check(!u->target.empty() && u->target.front() == '/', "a URL's target does not start with '/'");
        check(u->target.find('#') == std::string::npos, "a URL's target holds its fragment");
        check(!fuzz::has_control(u->target), "a URL's target holds control characters (it goes into a request line)");
        bool v6 = u->host.find(':') != std::string::npos;
        std::string again = u->scheme + "://" + (v6 ? "[" + u->host + "]" : u->host) +
                            (u->port_given ? ":" + std::to_string(u->port) : "") + u->target;
        auto w = parse_url(again);
        check(w && w->scheme == u->scheme && w->host == u->host && w->port == u->port &&
                  w->port_given == u->port_given && w->target == u->target,
              "a URL written back out does not parse to the same parts");
    }
    for (auto rule : {port_rule::required, port_rule::optional}) {
        problem.clear();
        auto a = parse_authority(text, rule, &problem);
        if (!a) {
            check(!problem.empty() && !fuzz::has_control(problem), "a refused authority has no printable reason");
            continue;
        }
        check(a->ip_literal ? is_ip_literal(a->host) : is_host_name(a->host), "an authority accepted with a bad host");
        check(a->host == to_lower(a->host), "an authority's host is not lower-case");
        if (rule == port_rule::required) check(a->port >= 1, "an authority accepted without its required port");
    }
    return 0;
}
