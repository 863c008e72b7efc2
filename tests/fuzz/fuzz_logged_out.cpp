/// "Not logged in" detection (auth::looks_logged_out) on a court's answer. Input: see
/// fuzz::parse_answer (status, Location and Content-Type lines are optional).
/// Properties: never throws; a redirect with a Location is judged by the Location alone; the
/// body is read case-insensitively; the logged-in user's logout link wins over every body
/// signal; the XML "Not logged in" message at the top of a page without a logout link is always
/// recognised. The run's -timeout and the 64 KiB hostile seeds catch super-linear scans.
#include <string>

#include "auth/detect.hpp"
#include "core/text.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::parse_answer(fuzz::as_text(data, size));
    bool verdict = auth::looks_logged_out(in.status, in.location, in.content_type, in.body);

    bool redirect = in.status == 301 || in.status == 302 || in.status == 303 || in.status == 307 || in.status == 308;
    if (redirect && !trim(in.location).empty()) {
        check(verdict == auth::looks_logged_out(in.status, in.location, in.content_type, ""),
              "a redirect's verdict depends on its body");
        return 0;
    }
    check(verdict == auth::looks_logged_out(in.status, in.location, in.content_type, fuzz::to_upper(in.body)),
          "the verdict depends on the body's letter case");
    std::string body(in.body);
    check(!auth::looks_logged_out(in.status, in.location, in.content_type,
                                  body + "<a href=\"/cgi-bin/login.pl?logout\">Logout</a>"),
          "a page with the logout link was judged logged out");
    bool has_logout = icontains(in.body, "login.pl?logout");
    check(auth::looks_logged_out(in.status, in.location, in.content_type,
                                 "<message text='Not logged in.  Please refresh this page.'/>" + body) == !has_logout,
          "the XML not-logged-in message was missed (or beat the logout link)");
    return 0;
}
