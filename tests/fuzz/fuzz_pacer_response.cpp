/// PACER's cso-auth answer (auth::parse_pacer_response). Input: see fuzz::parse_answer (the
/// status line is optional; without it the whole input is a 200 body).
/// Properties: never throws; only a 200 can succeed; a success carries a token that is a valid
/// cookie value and a failure none; detail and notice are safe one-line text of 300 bytes at
/// most; the Content-Type does not change the verdict (PACER may mislabel JSON).
#include "auth/cookies.hpp"
#include "auth/pacer.hpp"
#include "core/text.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::parse_answer(fuzz::as_text(data, size));
    auto out = auth::parse_pacer_response(in.status, in.content_type, in.body);

    if (in.status != 200) check(out.kind == auth::login_kind::service_error, "a non-200 answer was not a service error");
    if (out.kind == auth::login_kind::success) {
        check(auth::is_cookie_value(out.token), "a PACER token that is not a valid cookie value was accepted");
        check(!has_ctl_breaks(out.token), "a PACER token holds CR, LF or NUL");
        check(out.detail.empty(), "a successful login carries a failure detail");
    } else {
        check(out.token.empty(), "a failed login carries a token");
        check(out.notice.empty(), "a failed login carries a notice");
    }
    for (const auto* text : {&out.detail, &out.notice}) {
        check(text->size() <= 300, "a PACER detail or notice is longer than 300 bytes");
        check(!fuzz::has_control(*text), "a PACER detail or notice holds control characters");
    }
    auto relabelled = auth::parse_pacer_response(in.status, "text/html; charset=iso-8859-1", in.body);
    check(relabelled.kind == out.kind && relabelled.token == out.token, "the Content-Type changed the verdict");
    return 0;
}
