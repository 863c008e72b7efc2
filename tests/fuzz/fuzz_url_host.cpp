/// The host of a Location or script URL (auth::url_host) and the sign-on host test
/// (auth::is_login_host). Properties: never throws; a host is non-empty lower-case text without
/// '/', '\', '?', '#' or '@'; a query or fragment appended to a URL never changes its host (so
/// `https://evil/?pacer.login.uscourts.gov` stays evil); wherever the one URL parser
/// (parse_url) accepts a URL, url_host finds the same host.
#include <string>

#include "auth/detect.hpp"
#include "core/text.hpp"
#include "core/url.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto url = fuzz::as_text(data, size);
    auto host = auth::url_host(url);
    if (host) {
        check(!host->empty(), "url_host found an empty host");
        check(*host == to_lower(*host), "url_host's host is not lower-case");
        check(host->find_first_of("/\\?#@") == std::string::npos, "url_host's host holds a delimiter");
        if (auth::is_login_host(*host))
            check(auth::is_login_host(fuzz::to_upper(*host) + (host->back() == '.' ? "" : ".")),
                  "is_login_host depends on case or a trailing dot");
    }
    if (!url.empty() && url.back() != ' ' && url.back() != '\t') {
        std::string u(url);
        for (std::string_view tail : {"?@pacer.login.uscourts.gov/csologin/login.jsf", "#@pacer.login.uscourts.gov"})
            check(auth::url_host(u + std::string(tail)) == host, "a query or fragment changed the URL's host");
    }
    if (auto parts = parse_url(url)) {
        check(host.has_value(), "parse_url accepts a URL in which url_host finds no host");
        std::string h = *host;
        if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
        if (h.size() > 1 && h.back() == '.') h.pop_back();
        check(h == parts->host, "parse_url and url_host disagree on the host");
    }
    return 0;
}
