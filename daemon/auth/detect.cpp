#include "auth/detect.hpp"

#include "core/text.hpp"


namespace courtroute::auth {
namespace {

constexpr std::size_t npos = std::string_view::npos;

/// Case-insensitive find from `from`.
std::size_t ifind(std::string_view hay, std::string_view needle, std::size_t from = 0) {
    if (needle.empty()) return from <= hay.size() ? from : npos;
    if (needle.size() > hay.size()) return npos;
    for (std::size_t i = from; i + needle.size() <= hay.size(); ++i)
        if (iequals(hay.substr(i, needle.size()), needle)) return i;
    return npos;
}

bool ends_with_i(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

/// Returns the text of the tag starting at `lt` (up to and including '>', or the rest).
std::string_view tag_at(std::string_view body, std::size_t lt) {
    auto gt = body.find('>', lt);
    return body.substr(lt, gt == npos ? npos : gt - lt + 1);
}

/// True when `tag` starts with `<name` followed by a space, '/' or '>'.
bool tag_is(std::string_view tag, std::string_view name) {
    if (tag.size() < name.size() + 2 || tag[0] != '<') return false;
    if (!iequals(tag.substr(1, name.size()), name)) return false;
    char next = tag[name.size() + 1];
    return is_space(next) || next == '>' || next == '/';
}

/// The value of attribute `name` in a tag (quoted or bare); nullopt if absent.
std::optional<std::string_view> attribute(std::string_view tag, std::string_view name) {
    std::size_t pos = 0;
    while ((pos = ifind(tag, name, pos)) != npos) {
        bool starts_word = pos > 0 && (is_space(tag[pos - 1]) || tag[pos - 1] == '"' || tag[pos - 1] == '\'');
        std::size_t i = pos + name.size();
        while (i < tag.size() && is_space(tag[i])) ++i;
        if (!starts_word || i >= tag.size() || tag[i] != '=') {
            pos += name.size();
            continue;
        }
        ++i;
        while (i < tag.size() && is_space(tag[i])) ++i;
        if (i >= tag.size()) return std::string_view{};
        if (tag[i] == '"' || tag[i] == '\'') {
            auto close = tag.find(tag[i], i + 1);
            return tag.substr(i + 1, close == npos ? npos : close - i - 1);
        }
        auto end = i;
        while (end < tag.size() && !is_space(tag[end]) && tag[end] != '>') ++end;
        return tag.substr(i, end - i);
    }
    return std::nullopt;
}

bool has_logout_link(std::string_view body) { return ifind(body, "login.pl?logout") != npos; }

/// Does `text` contain a csologin/login.jsf URL whose host is a sign-on host?
/// `\/` (JSON/JS-escaped slash) is read as '/'.
bool has_login_jsf_url(std::string_view text) {
    std::string unescaped;
    if (text.find("\\/") != npos) {
        unescaped.reserve(text.size());
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == '/') continue;
            unescaped += text[i];
        }
        text = unescaped;
    }
    constexpr std::string_view marker = "csologin/login.jsf";
    for (std::size_t pos = ifind(text, marker); pos != npos; pos = ifind(text, marker, pos + 1)) {
        // Walk back over URL characters to the URL's start; the stop set includes '=' so that
        // `url=https://...` (meta refresh) and `?x=https://...` start at the inner URL.
        std::size_t start = pos;
        constexpr std::string_view stops = "\"'`()<>=;,";
        while (start > 0 && !is_space(text[start - 1]) && stops.find(text[start - 1]) == npos) --start;
        auto host = url_host(text.substr(start, pos - start + marker.size()));
        if (host && is_login_host(*host)) return true;
    }
    return false;
}

bool script_sends_to_login(std::string_view body) {
    // <script> blocks.
    for (std::size_t lt = ifind(body, "<script"); lt != npos; lt = ifind(body, "<script", lt + 1)) {
        auto end = ifind(body, "</script", lt);
        if (has_login_jsf_url(body.substr(lt, end == npos ? npos : end - lt))) return true;
    }
    // <meta http-equiv="refresh" content="0; url=...">
    for (std::size_t lt = ifind(body, "<meta"); lt != npos; lt = ifind(body, "<meta", lt + 1)) {
        auto tag = tag_at(body, lt);
        auto equiv = attribute(tag, "http-equiv");
        if (equiv && iequals(trim(*equiv), "refresh") && has_login_jsf_url(tag)) return true;
    }
    // `location = '...'`, `location.href=...`, `location.replace('...')` outside a script block
    // (e.g. <body onload=...>): the quoted URL must be the assigned value itself.
    for (std::size_t pos = ifind(body, "location"); pos != npos; pos = ifind(body, "location", pos + 1)) {
        auto rest = body.substr(pos + 8);
        for (std::string_view member : {".href", ".replace", ".assign"})
            if (rest.size() >= member.size() && iequals(rest.substr(0, member.size()), member)) {
                rest.remove_prefix(member.size());
                break;
            }
        std::size_t i = 0;
        while (i < rest.size() && is_space(rest[i])) ++i;
        if (i >= rest.size() || (rest[i] != '=' && rest[i] != '(')) continue;
        ++i;
        while (i < rest.size() && is_space(rest[i])) ++i;
        if (i >= rest.size() || (rest[i] != '"' && rest[i] != '\'' && rest[i] != '`')) continue;
        char quote = rest[i];
        auto close = rest.find(quote, i + 1);
        auto url = rest.substr(i + 1, close == npos ? 0 : close - i - 1);
        if (icontains(url, "csologin/login.jsf") && has_login_jsf_url(url)) return true;
    }
    return false;
}

bool xml_not_logged_in(std::string_view content_type, std::string_view body) {
    for (std::size_t lt = ifind(body, "<message"); lt != npos; lt = ifind(body, "<message", lt + 1))
        if (icontains(tag_at(body, lt), "not logged in")) return true;
    return icontains(content_type, "xml") && icontains(body, "not logged in");
}

bool legacy_login_form(std::string_view body) {
    for (std::size_t lt = ifind(body, "<form"); lt != npos; lt = ifind(body, "<form", lt + 1)) {
        auto tag = tag_at(body, lt);
        if (!tag_is(tag, "form")) continue;
        auto action = attribute(tag, "action");
        if (!action || !icontains(*action, "login.pl")) continue;
        auto end = ifind(body, "</form", lt);
        auto form = body.substr(lt, end == npos ? npos : end - lt);
        for (std::size_t in = ifind(form, "<input"); in != npos; in = ifind(form, "<input", in + 1)) {
            auto input = tag_at(form, in);
            auto type = attribute(input, "type");
            auto name = attribute(input, "name");
            if ((type && iequals(trim(*type), "password")) ||
                (name && (iequals(trim(*name), "key") || iequals(trim(*name), "password"))))
                return true;
        }
    }
    return false;
}

/// A menu entry: `label` as a whole element text, or a `DisplayMenu.pl?<label>` link.
bool has_menu_label(std::string_view body, std::string_view label) {
    for (std::size_t pos = ifind(body, label); pos != npos; pos = ifind(body, label, pos + 1)) {
        std::size_t b = pos;
        while (b > 0 && is_space(body[b - 1])) --b;
        std::size_t e = pos + label.size();
        while (e < body.size() && is_space(body[e])) ++e;
        if (b > 0 && body[b - 1] == '>' && e < body.size() && body[e] == '<') return true;
        if (b >= 15 && iequals(body.substr(pos - 15, 15), "DisplayMenu.pl?")) return true;
    }
    return false;
}

/// A Location whose path is a court's `/cgi-bin/login.pl` (not its `?logout`): a legacy court
/// sending the browser to its login form. Judged on the path only, so any query is ignored
/// except the logout one.
bool redirects_to_legacy_login(std::string_view location) {
    location = trim(location);
    auto path_start = std::size_t{0};
    if (url_host(location)) {
        auto scheme_end = location.find("//");
        path_start = location.find_first_of("/\\?#", scheme_end + 2);
        if (path_start == npos) return false;
    }
    auto path_end = location.find_first_of("?#", path_start);
    auto path = location.substr(path_start, path_end == npos ? npos : path_end - path_start);
    if (!ends_with_i(path, "/cgi-bin/login.pl")) return false;
    auto query = path_end == npos ? std::string_view{} : location.substr(path_end);
    return !icontains(query, "logout");
}

} // namespace

bool is_login_host(std::string_view host) noexcept {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    return iequals(host, "login.uscourts.gov") || iequals(host, "qa-login.uscourts.gov") ||
           ends_with_i(host, ".login.uscourts.gov");
}

std::optional<std::string> url_host(std::string_view url) {
    url = trim(url);
    auto colon = url.find(':');
    auto first_delim = url.find_first_of("/?#");
    std::size_t i = 0;
    if (colon != npos && (first_delim == npos || colon < first_delim) && colon > 0) {
        // Scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        for (std::size_t k = 0; k < colon; ++k) {
            char c = url[k];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (k > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
            if (!ok) return std::nullopt;
        }
        i = colon + 1;
    }
    // Browsers read backslashes as slashes in special schemes; so must we.
    auto is_slash = [](char c) { return c == '/' || c == '\\'; };
    if (i + 1 >= url.size() || !is_slash(url[i]) || !is_slash(url[i + 1])) return std::nullopt;
    i += 2;
    auto end = i;
    while (end < url.size() && url[end] != '/' && url[end] != '\\' && url[end] != '?' && url[end] != '#') ++end;
    auto authority = url.substr(i, end - i);
    if (auto at = authority.rfind('@'); at != npos) authority.remove_prefix(at + 1);
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == npos) return std::nullopt;
        authority = authority.substr(0, close + 1);
    } else if (auto port = authority.find(':'); port != npos) {
        authority = authority.substr(0, port);
    }
    if (authority.empty()) return std::nullopt;
    return to_lower(authority);
}

bool looks_logged_out(int status, std::string_view location_header, std::string_view content_type,
                      std::string_view body) {
    bool redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    if (redirect && !trim(location_header).empty()) {
        auto host = url_host(location_header);
        if (host && is_login_host(*host)) return true;
        return redirects_to_legacy_login(location_header);
    }
    if (has_logout_link(body)) return false;
    return script_sends_to_login(body) || xml_not_logged_in(content_type, body) || legacy_login_form(body);
}

bool shows_filing_menus(std::string_view court_type, std::string_view body) {
    if (iequals(court_type, "bankruptcy")) return has_menu_label(body, "Bankruptcy") || has_menu_label(body, "Adversary");
    if (iequals(court_type, "district")) return has_menu_label(body, "Civil") || has_menu_label(body, "Criminal");
    return false;
}

bool shows_limited_menu(std::string_view body) {
    for (auto label : {"Civil", "Criminal", "Bankruptcy", "Adversary"})
        if (has_menu_label(body, label)) return false;
    return has_menu_label(body, "Query") && has_menu_label(body, "Utilities") &&
           (has_menu_label(body, "Logout") || has_logout_link(body));
}

menu_state classify_menus(std::string_view court_type, std::string_view body) {
    if (shows_filing_menus(court_type, body)) return menu_state::filing;
    if (shows_limited_menu(body)) return menu_state::limited;
    return menu_state::unknown;
}

} // namespace courtroute::auth
