#include "auth/pacer.hpp"

#include "auth/cookies.hpp"
#include "core/text.hpp"

#include <boost/json.hpp>

namespace courtroute::auth {
namespace json = boost::json;

namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/// `word` present in `text` as a whole word (ASCII letters/digits do not touch it on either side).
bool contains_word(std::string_view text, std::string_view word) {
    for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
        if (!iequals(text.substr(i, word.size()), word)) continue;
        bool left = i == 0 || !is_alnum(text[i - 1]);
        bool right = i + word.size() == text.size() || !is_alnum(text[i + word.size()]);
        if (left && right) return true;
    }
    return false;
}

/// `loginResult` as text: a string as is, an integer in decimal; nullopt for anything else.
std::optional<std::string> result_code(const json::value* v) {
    if (v == nullptr) return std::nullopt;
    if (v->is_string()) return std::string(trim(std::string_view(v->get_string())));
    if (v->is_int64()) return std::to_string(v->get_int64());
    if (v->is_uint64()) return std::to_string(v->get_uint64());
    if (v->is_double()) {
        double d = v->get_double();
        if (d == 0.0) return std::string("0");
        return std::string("nonzero");
    }
    return std::nullopt;
}

std::string string_member(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return {};
    return std::string(v->get_string());
}

pacer_outcome service_error(std::string detail) {
    pacer_outcome out;
    out.kind = login_kind::service_error;
    out.detail = std::move(detail);
    return out;
}

} // namespace

bool mentions_one_time_code(std::string_view d) {
    for (auto phrase : {"passcode", "pass code", "one-time", "one time", "multi-factor", "multifactor",
                        "two-factor", "two factor", "2-factor", "verification code", "authentication code",
                        "security code", "authenticator"})
        if (icontains(d, phrase)) return true;
    for (auto word : {"otp", "mfa", "2fa", "totp", "otpCode"})
        if (contains_word(d, word)) return true;
    return false;
}

std::string pacer_login_body(std::string_view login, std::string_view password, std::string_view client_code,
                             const std::optional<std::string>& otp) {
    json::object o;
    o["loginId"] = login;
    o["password"] = password;
    if (!client_code.empty()) o["clientCode"] = client_code;
    o["redactFlag"] = "1";
    if (otp) o["otpCode"] = *otp;
    return json::serialize(o);
}

pacer_outcome parse_pacer_response(int http_status, std::string_view /*content_type*/, std::string_view body) {
    if (http_status != 200)
        return service_error("PACER sign-on answered HTTP " + std::to_string(http_status));
    json::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return service_error("PACER sign-on answered with something other than a JSON object");
    const auto& o = v.get_object();
    auto code = result_code(o.if_contains("loginResult"));
    if (!code || code->empty()) return service_error("PACER sign-on answer has no loginResult");
    auto description = safe_text(string_member(o, "errorDescription"));

    pacer_outcome out;
    if (*code == "0") {
        auto token = string_member(o, "nextGenCSO");
        if (token.empty() && mentions_one_time_code(description)) {
            out.kind = login_kind::mfa_required;
            out.detail = std::move(description);
            return out;
        }
        if (token.empty()) return service_error("PACER sign-on reported success without a session token");
        if (!is_cookie_value(token))
            return service_error("PACER sign-on returned a session token that is not a valid cookie value");
        out.kind = login_kind::success;
        out.token = std::move(token);
        out.notice = std::move(description);
        return out;
    }
    out.kind = mentions_one_time_code(description) ? login_kind::mfa_required : login_kind::bad_credentials;
    out.detail = description.empty() ? safe_text("PACER sign-on refused the login (loginResult " + *code + ")")
                                     : std::move(description);
    return out;
}

std::string pacer_logout_body(std::string_view token) {
    json::object o;
    o["nextGenCSO"] = token;
    return json::serialize(o);
}

} // namespace courtroute::auth
