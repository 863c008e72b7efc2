/// A legacy court's login.pl answer (auth::parse_legacy_login). Input: see fuzz::parse_answer.
/// Properties: never throws; only a 2xx can succeed; a success's token is a valid cookie value
/// taken from the body after a PacerSession name; a failure carries no token; detail is safe
/// one-line text.
#include "auth/cookies.hpp"
#include "auth/legacy.hpp"
#include "core/text.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::parse_answer(fuzz::as_text(data, size));
    auto out = auth::parse_legacy_login(in.status, in.body);

    if (in.status < 200 || in.status > 299)
        check(out.kind == auth::login_kind::service_error, "a non-2xx login answer was not a service error");
    if (out.kind == auth::login_kind::success) {
        check(auth::is_cookie_value(out.token), "a court token that is not a valid cookie value was accepted");
        check(in.body.find(out.token) != std::string_view::npos, "the court token does not come from the body");
        check(icontains(in.body, "PacerSession"), "a token was found without a PacerSession name");
    } else {
        check(out.token.empty(), "a failed court login carries a token");
    }
    check(out.notice.empty(), "a legacy login carries a notice");
    check(out.detail.size() <= 300 && !fuzz::has_control(out.detail), "a legacy login detail is not safe text");
    return 0;
}
