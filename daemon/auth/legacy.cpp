#include "auth/legacy.hpp"

#include "auth/cookies.hpp"
#include "core/text.hpp"

namespace courtroute::auth {
namespace {

constexpr std::size_t npos = std::string_view::npos;

std::size_t ifind(std::string_view hay, std::string_view needle, std::size_t from) {
    for (std::size_t i = from; i + needle.size() <= hay.size(); ++i)
        if (iequals(hay.substr(i, needle.size()), needle)) return i;
    return npos;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/// `word` present as a whole word (no ASCII letter touching it), e.g. "locked" but not "blocked".
bool contains_word(std::string_view text, std::string_view word) {
    for (auto i = ifind(text, word, 0); i != npos; i = ifind(text, word, i + 1)) {
        bool left = i == 0 || !is_alpha(text[i - 1]);
        bool right = i + word.size() == text.size() || !is_alpha(text[i + word.size()]);
        if (left && right) return true;
    }
    return false;
}

/// The first non-empty `PacerSession=<value>` in the body, or an empty string.
std::string find_session_token(std::string_view body) {
    constexpr std::string_view name = "PacerSession";
    for (auto pos = ifind(body, name, 0); pos != npos; pos = ifind(body, name, pos + 1)) {
        // The name must stand alone (not "XPacerSession").
        if (pos > 0 && (is_alpha(body[pos - 1]) || body[pos - 1] == '_')) continue;
        std::size_t i = pos + name.size();
        while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
        if (i >= body.size() || body[i] != '=') continue;
        ++i;
        auto skip_blanks_and_quotes = [&] {
            bool quote = false;
            while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '"' || body[i] == '\'')) {
                quote = quote || body[i] == '"' || body[i] == '\'';
                ++i;
            }
            return quote;
        };
        // `"PacerSession=" + "abc"`: a closing quote then '+' is string concatenation, not the token.
        if (skip_blanks_and_quotes() && i < body.size() && body[i] == '+') {
            ++i;
            skip_blanks_and_quotes();
        }
        std::size_t end = i;
        // The value runs to the first character that cannot be in a cookie value (';', quotes,
        // space, '<', ...); what remains is checked as a cookie value below.
        while (end < body.size()) {
            auto c = static_cast<unsigned char>(body[end]);
            if (c <= 0x20 || c >= 0x7f || c == ';' || c == '"' || c == '\'' || c == ',' || c == '\\' || c == '<' ||
                c == '>')
                break;
            ++end;
        }
        std::string token(body.substr(i, end - i));
        if (!token.empty()) return token;
    }
    return {};
}

} // namespace

std::string form_urlencode(std::string_view value) {
    constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size() * 3);
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        if (is_alpha(ch) || (c >= '0' && c <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out += ch;
        } else if (ch == ' ') {
            out += '+';
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0x0F];
        }
    }
    return out;
}

std::string legacy_login_form(std::string_view login, std::string_view password) {
    return "login=" + form_urlencode(login) + "&key=" + form_urlencode(password);
}

legacy_outcome parse_legacy_login(int status, std::string_view body) {
    legacy_outcome out;
    if (status < 200 || status > 299) {
        out.kind = login_kind::service_error;
        out.detail = "the court's login answered HTTP " + std::to_string(status);
        out.unclear = true;
        return out;
    }
    auto token = find_session_token(body);
    if (!token.empty()) {
        if (!is_cookie_value(token)) {
            out.kind = login_kind::service_error;
            out.detail = "the court's login returned a session token that is not a valid cookie value";
            return out;
        }
        out.kind = login_kind::success;
        out.token = std::move(token);
        return out;
    }
    if (icontains(body, "invalid id or password") || icontains(body, "invalid login") ||
        icontains(body, "invalid password") || icontains(body, "incorrect password")) {
        out.kind = login_kind::bad_credentials;
        out.detail = "the court rejected the CM/ECF login or password (Invalid ID or password)";
        return out;
    }
    if (contains_word(body, "locked") || contains_word(body, "lockout") || icontains(body, "locked out") ||
        icontains(body, "account is disabled") || icontains(body, "account has been disabled")) {
        out.kind = login_kind::bad_credentials;
        out.detail = "the court says the CM/ECF account is locked or disabled";
        return out;
    }
    out.kind = login_kind::service_error;
    out.detail = "the court's login answer held neither a session nor a failure message";
    out.unclear = true;
    return out;
}

} // namespace courtroute::auth
