#include "auth/acms.hpp"

#include <algorithm>

#include "auth/cookies.hpp"
#include "auth/detect.hpp"
#include "core/text.hpp"
#include "core/url.hpp"

namespace courtroute::auth::acms {

namespace {

constexpr auto npos = std::string_view::npos;

bool ends_with(std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

/// The value of attribute `name` (lower-case) of the tag `lower[begin, end)`, taken from `orig`
/// at the same offsets (to_lower keeps lengths), quoted or bare; nullopt if absent.
std::optional<std::string_view> attribute(std::string_view orig, std::string_view lower, std::string_view name) {
    std::size_t i = 1;
    while (i < lower.size() && !is_html_space(lower[i]) && lower[i] != '>' && lower[i] != '/') ++i;  // the tag's name
    while (i < lower.size()) {
        while (i < lower.size() && (is_html_space(lower[i]) || lower[i] == '/')) ++i;
        if (i >= lower.size() || lower[i] == '>') break;
        auto n0 = i;
        while (i < lower.size() && !is_html_space(lower[i]) && lower[i] != '=' && lower[i] != '>') ++i;
        auto attr = lower.substr(n0, i - n0);
        while (i < lower.size() && is_html_space(lower[i])) ++i;
        std::string_view value;
        if (i < lower.size() && lower[i] == '=') {
            ++i;
            while (i < lower.size() && is_html_space(lower[i])) ++i;
            if (i < lower.size() && (lower[i] == '"' || lower[i] == '\'')) {
                char q = lower[i++];
                auto end = lower.find(q, i);
                if (end == npos) end = lower.size();
                value = orig.substr(i, end - i);
                i = end + 1;
            } else {
                auto v0 = i;
                while (i < lower.size() && !is_html_space(lower[i]) && lower[i] != '>') ++i;
                value = orig.substr(v0, i - v0);
            }
        }
        if (attr == name) return value;
    }
    return std::nullopt;
}

/// HTML character references in an attribute value: the named ones a form uses and numeric ones.
std::string html_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out += s[i];
            continue;
        }
        auto semi = s.find(';', i);
        if (semi == npos || semi - i > 10) {
            out += s[i];
            continue;
        }
        auto ref = s.substr(i + 1, semi - i - 1);
        long code = -1;
        if (ref == "amp") code = '&';
        else if (ref == "quot") code = '"';
        else if (ref == "apos") code = '\'';
        else if (ref == "lt") code = '<';
        else if (ref == "gt") code = '>';
        else if (ref.size() > 1 && ref[0] == '#') {
            bool hex = ref[1] == 'x' || ref[1] == 'X';
            auto digits = ref.substr(hex ? 2 : 1);
            code = 0;
            for (char c : digits) {
                int d = (c >= '0' && c <= '9') ? c - '0'
                        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                      : -1;
                if (d < 0 || code > 0x10FFFF) {
                    code = -1;
                    break;
                }
                code = code * (hex ? 16 : 10) + d;
            }
            if (digits.empty() || code <= 0 || code > 0x7f) code = -1;  // ASCII only: form fields are base64
        }
        if (code < 0) {
            out += s[i];
            continue;
        }
        out += static_cast<char>(code);
        i = semi;
    }
    return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    auto put = [&](std::string_view s) {
        for (unsigned char c : s) {
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                c == '.' || c == '~') {
                out += static_cast<char>(c);
            } else {
                out += '%';
                out += hex[c >> 4];
                out += hex[c & 15];
            }
        }
    };
    for (auto& [name, value] : fields) {
        if (!out.empty()) out += '&';
        put(name);
        out += '=';
        put(value);
    }
    return out;
}

bool token_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

/// Skips what separates a JSON key from its value however the page escapes it: quotes, `\"`,
/// `&quot;`, ':', spaces. Sets `opened` when a '{' was passed.
std::size_t skip_separators(std::string_view lower, std::size_t i, bool& opened) {
    while (i < lower.size()) {
        char c = lower[i];
        if (c == '"' || c == '\'' || c == '\\' || c == ':' || is_html_space(c)) ++i;
        else if (c == '{') {
            opened = true;
            ++i;
        } else if (lower.substr(i, 6) == "&quot;") i += 6;
        else break;
    }
    return i;
}

/// The token value starting at `i` in `body`, if it is one.
std::optional<std::string> token_at(std::string_view body, std::size_t i) {
    auto j = i;
    while (j < body.size() && j - i <= 8192 && token_char(body[j])) ++j;
    if (j - i < 16 || j - i > 8192) return std::nullopt;
    return std::string(body.substr(i, j - i));
}

/// A `(user, court)` URL resolved against the request it answered: absolute https URLs as
/// written, origin-relative targets on the same host.
std::optional<std::pair<std::string, std::string>> resolve(std::string_view location, std::string_view host) {
    location = trim(location);
    if (location.starts_with("/") && !location.starts_with("//")) return std::pair{std::string(host), std::string(location)};
    auto u = parse_url(location);
    if (!u || u->scheme != "https" || u->port != 443) return std::nullopt;
    return std::pair{u->host, u->target};
}

} // namespace

host_kind kind_of(std::string_view host) {
    auto label = host.substr(0, host.find('.'));
    if (ends_with(label, "-showdocservices")) return host_kind::api;
    if (ends_with(label, "-showdoc")) return host_kind::pages;
    return host_kind::other;
}

// ---------------------------------------------------------------------------------- cookie jar

void cookie_jar::absorb(std::string_view host, std::string_view set_cookie) {
    auto first = set_cookie.substr(0, set_cookie.find(';'));
    auto eq = first.find('=');
    if (eq == npos) return;
    auto name = trim(first.substr(0, eq));
    auto value = trim(first.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (!is_cookie_name(name)) return;
    bool removed = value.empty() || !is_cookie_value(value);
    for (std::string_view rest = set_cookie.substr(first.size()); !rest.empty();) {
        auto semi = rest.find(';', 1);
        auto attr = trim(rest.substr(rest.front() == ';' ? 1 : 0, semi == npos ? npos : semi - (rest.front() == ';' ? 1 : 0)));
        rest = semi == npos ? std::string_view{} : rest.substr(semi);
        auto aeq = attr.find('=');
        auto aname = trim(attr.substr(0, aeq));
        auto avalue = aeq == npos ? std::string_view{} : trim(attr.substr(aeq + 1));
        if (iequals(aname, "max-age") && !avalue.empty() && (avalue.front() == '-' || avalue == "0")) removed = true;
        if (iequals(aname, "expires") && avalue.find("1970") != npos) removed = true;
    }
    auto it = by_host_.find(host);
    if (it == by_host_.end()) it = by_host_.emplace(std::string(host), decltype(by_host_)::mapped_type{}).first;
    auto& cookies = it->second;
    std::erase_if(cookies, [&](const auto& c) { return c.first == name; });
    if (!removed) cookies.emplace_back(std::string(name), std::string(value));
}

std::string cookie_jar::header_for(std::string_view host) const {
    std::string out;
    if (auto it = by_host_.find(host); it != by_host_.end())
        for (auto& [name, value] : it->second) out.append(out.empty() ? "" : "; ").append(name).append("=").append(value);
    return out;
}

bool cookie_jar::has(std::string_view host) const {
    auto it = by_host_.find(host);
    return it != by_host_.end() && !it->second.empty();
}

bool cookie_jar::holds(std::string_view host, std::string_view name) const {
    auto it = by_host_.find(host);
    if (it == by_host_.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(), [&](const auto& c) { return iequals(c.first, name); });
}

// ------------------------------------------------------------------------------ page contents

bool saml_form::has(std::string_view name) const {
    return std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return f.first == name; });
}

std::optional<saml_form> find_saml_form(std::string_view html) {
    const std::string lower = to_lower(html);
    for (auto at = lower.find("<form"); at != npos; at = lower.find("<form", at + 5)) {
        auto tag_end = lower.find('>', at);
        if (tag_end == npos) return std::nullopt;
        auto end = lower.find("</form", tag_end);
        if (end == npos) end = lower.size();
        if (lower.substr(tag_end, end - tag_end).find("saml") == npos) continue;
        saml_form form;
        auto action = attribute(html.substr(at, tag_end - at + 1), std::string_view(lower).substr(at, tag_end - at + 1), "action");
        form.action = action ? html_decode(*action) : std::string();
        for (auto in = lower.find("<input", tag_end); in != npos && in < end; in = lower.find("<input", in + 6)) {
            auto close = lower.find('>', in);
            if (close == npos) close = lower.size() - 1;
            auto tag_orig = html.substr(in, close - in + 1);
            auto tag_lower = std::string_view(lower).substr(in, close - in + 1);
            auto name = attribute(tag_orig, tag_lower, "name");
            if (!name || name->empty()) continue;
            auto value = attribute(tag_orig, tag_lower, "value");
            form.fields.emplace_back(html_decode(*name), value ? html_decode(*value) : std::string());
        }
        if (form.has("SAMLResponse") || form.has("SAMLRequest")) return form;
    }
    return std::nullopt;
}

std::optional<std::string> find_api_token(std::string_view body) {
    const std::string lower = to_lower(body);
    for (auto at = lower.find("authtoken"); at != npos; at = lower.find("authtoken", at + 9)) {
        bool opened = false;
        auto i = skip_separators(lower, at + 9, opened);
        if (!opened) {
            if (auto t = token_at(body, i)) return t;
            continue;
        }
        // `"AuthToken": {..., "Token": "..."}`: the object's `token` key, wherever it stands.
        auto close = lower.find('}', i);
        auto limit = std::min(close == npos ? lower.size() : close, i + 4096);
        for (auto k = lower.find("token", i); k != npos && k < limit; k = lower.find("token", k + 5)) {
            char before = k > 0 ? lower[k - 1] : ' ';
            if (before != '"' && before != ';' && before != '\\' && before != '\'') continue;  // a whole key
            bool ignored = false;
            auto v = skip_separators(lower, k + 5, ignored);
            if (auto t = token_at(body, v)) return t;
        }
    }
    return std::nullopt;
}

bool looks_signed_out(host_kind kind, int status, std::string_view location, std::string_view pages_host,
                      std::string_view body) {
    if (kind == host_kind::api) return status == 401;
    if (kind != host_kind::pages) return false;
    if (status == 401) return true;
    if (status / 100 == 3 && !trim(location).empty()) {
        auto host = url_host(location);
        return host && *host != pages_host;
    }
    return status / 100 == 2 && !body.empty() && find_saml_form(body).has_value();
}

// -------------------------------------------------------------------------------------- sign-in

signin::signin(std::string pages_host) : pages_(std::move(pages_host)) {}

request signin::start() {
    // Step 1: an empty POST to the pages host starts the SAML round trip.
    request r;
    r.method = "POST";
    r.host = host_ = pages_;
    r.target = target_ = "/";
    r.content_type = "application/x-www-form-urlencoded";
    sent_ = 1;
    return r;
}

request signin::get(std::string host, std::string target) {
    request r;
    r.method = "GET";
    // NextGenCSO belongs to PACER's identity provider (a uscourts.gov host that is not ACMS's).
    r.pacer_cookie = host != pages_ && kind_of(host) == host_kind::other && ends_with(host, ".uscourts.gov");
    r.cookies = jar_.header_for(host);
    r.host = host_ = std::move(host);
    r.target = target_ = std::move(target);
    ++sent_;
    return r;
}

std::variant<request, signed_in, failed> signin::follow(std::string_view location) {
    auto to = resolve(location, host_);
    if (!to) return failed{"a redirect during the ACMS sign-in leads to " + quote(location, 120) + ", not an https URL"};
    if (is_login_host(to->first))
        return failed{"PACER's identity provider sent the ACMS sign-in to PACER's login page: it did not accept the "
                      "PACER session",
                      true};
    if (phase_ != phase::to_idp && to->first != pages_)
        return failed{"ACMS sent the sign-in back to " + quote(to->first) + " after the SAML response was posted"};
    return get(std::move(to->first), std::move(to->second));
}

std::variant<request, signed_in, failed> signin::finish() {
    if (!jar_.has(pages_)) return failed{"ACMS set no session cookie in answer to the SAML response"};
    if (!token_ && phase_ == phase::after_acs) {
        // The newer flow carries the API token in the docket data of this page.
        phase_ = phase::index_content;
        return get(pages_, "/Home/IndexContent");
    }
    return signed_in{jar_, token_};
}

std::variant<request, signed_in, failed> signin::step(const answer& a) {
    for (auto sc : a.set_cookies) jar_.absorb(host_, sc);
    const bool redirect = a.status / 100 == 3 && !trim(a.location).empty();
    if (phase_ != phase::to_idp && !token_) token_ = find_api_token(a.body);
    if (sent_ >= max_requests && (redirect || phase_ == phase::to_idp))
        return failed{"the ACMS sign-in took more than " + std::to_string(max_requests) + " requests (a redirect loop)"};
    if (redirect) return follow(a.location);
    if (a.status / 100 != 2) {
        if (phase_ == phase::index_content) return signed_in{jar_, token_};  // tolerant: no such page, no token
        return failed{quote(host_) + " answered " + std::to_string(a.status) + " during the ACMS sign-in"};
    }
    switch (phase_) {
    case phase::to_idp: {
        auto form = find_saml_form(a.body);
        if (form && !form->has("SAMLResponse") && form->has("SAMLRequest")) {
            // The HTTP-POST binding on the way out: the request goes to the identity provider.
            auto to = resolve(form->action, host_);
            if (!to || to->first == pages_)
                return failed{"the SAML request form posts to " + quote(form->action, 120) + ", not to an identity provider"};
            request r = get(std::move(to->first), std::move(to->second));
            r.method = "POST";
            r.content_type = "application/x-www-form-urlencoded";
            r.body = form_encode(form->fields);
            return r;
        }
        if (!form || !form->has("SAMLResponse"))
            return failed{quote(host_) + " answered without the SAML form (no SAMLResponse to post to ACMS)"};
        auto to = resolve(form->action.empty() ? std::string_view(target_) : std::string_view(form->action), host_);
        if (!to || to->first != pages_)
            return failed{"the SAML form posts to " + quote(form->action, 120) + ", not to " + quote(pages_)};
        request r;
        r.method = "POST";
        r.host = host_ = pages_;
        r.target = target_ = to->second;
        r.content_type = "application/x-www-form-urlencoded";
        r.body = form_encode(form->fields);
        r.cookies = jar_.header_for(pages_);
        ++sent_;
        phase_ = phase::after_acs;
        return r;
    }
    case phase::after_acs:
        if (looks_signed_out(host_kind::pages, a.status, a.location, pages_, a.body))
            return failed{"ACMS answered the SAML response with another sign-in form"};
        return finish();
    case phase::index_content: return signed_in{jar_, token_};
    }
    return failed{"unreachable"};
}

} // namespace courtroute::auth::acms
