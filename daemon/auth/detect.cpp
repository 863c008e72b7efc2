#include "auth/detect.hpp"

#include "core/text.hpp"

#include <algorithm>
#include <span>
#include <utility>
#include <vector>

namespace courtroute::auth {
namespace {

constexpr std::size_t npos = std::string_view::npos;

// Every body scan below runs on one ASCII-lower-cased copy of the body (so a plain `find`
// is a case-insensitive search), moves forward only, and never rescans text it has judged:
// a court's answer is untrusted and up to 4 MiB, and the proxy judges it on its io thread.
// A naive case-insensitive search restarted from each hit made hostile pages quadratic
// (hours of CPU for 4 MiB of `<script ` or `<form action=login.pl `).

/// The tag starting at `lt` up to and including its first '>', or the rest of `text` when no
/// '>' follows (an unclosed tag runs to the end, so nothing after it is a tag of its own).
std::string_view tag_at(std::string_view text, std::size_t lt) {
    auto gt = text.find('>', lt);
    return text.substr(lt, gt == npos ? npos : gt - lt + 1);
}

/// True when `tag` (lower-case) starts with `<name` followed by a space, '/' or '>'.
bool tag_is(std::string_view tag, std::string_view name) {
    if (tag.size() < name.size() + 2 || tag[0] != '<') return false;
    if (tag.substr(1, name.size()) != name) return false;
    char next = tag[name.size() + 1];
    return is_html_space(next) || next == '>' || next == '/';
}

/// The value of attribute `name` in a lower-case tag (quoted or bare); nullopt if absent.
/// One forward pass over the tag.
std::optional<std::string_view> attribute(std::string_view tag, std::string_view name) {
    std::size_t pos = 0;
    while ((pos = tag.find(name, pos)) != npos) {
        bool starts_word = pos > 0 && (is_html_space(tag[pos - 1]) || tag[pos - 1] == '"' || tag[pos - 1] == '\'');
        std::size_t i = pos + name.size();
        while (i < tag.size() && is_html_space(tag[i])) ++i;
        if (!starts_word || i >= tag.size() || tag[i] != '=') {
            pos += name.size();
            continue;
        }
        ++i;
        while (i < tag.size() && is_html_space(tag[i])) ++i;
        if (i >= tag.size()) return std::string_view{};
        if (tag[i] == '"' || tag[i] == '\'') {
            auto close = tag.find(tag[i], i + 1);
            return tag.substr(i + 1, close == npos ? npos : close - i - 1);
        }
        auto end = i;
        while (end < tag.size() && !is_html_space(tag[end]) && tag[end] != '>') ++end;
        return tag.substr(i, end - i);
    }
    return std::nullopt;
}

bool has_logout_link(std::string_view lower) { return lower.find("login.pl?logout") != npos; }

/// Where the `csologin/login.jsf` URLs of a lower-case body are, found in one pass.
///
/// A marker's URL starts where a walk back from the marker over URL characters stops (space
/// or one of `"'`()<>=;,`: so `url=https://...` in a meta refresh and `?x=https://...` start at
/// the inner URL); `\/` (a JSON/JS-escaped slash) is read as '/', so `csologin\/login.jsf` is a
/// marker too. A marker is "good" when its URL's host is a sign-on host. Every context the
/// detector asks about (a `<script>` block, a `<meta>` tag, a quoted `location` value) begins
/// at or right after a stop character, so a walk back never leaves the context and one global
/// pass answers for all of them.
class jsf_markers {
public:
    explicit jsf_markers(std::string_view lower) {
        constexpr std::string_view stops = "\"'`()<>=;,";
        std::size_t prev_pos = 0, prev_start = 0;
        bool have_prev = false, prev_good = false;
        for (auto p = lower.find("csologin"); p != npos; p = lower.find("csologin", p + 1)) {
            auto rest = lower.substr(p + 8);
            std::size_t end;
            bool escaped = false;
            if (rest.starts_with("/login.jsf")) end = p + 18;
            else if (rest.starts_with("\\/login.jsf")) end = p + 19, escaped = true;
            else continue;
            // Walk back, but not past the previous marker: if the walk reaches it without a
            // stop, this URL starts where that one did and has the same host (the host ends
            // at the first '/', which the earlier marker already holds).
            std::size_t floor = have_prev ? prev_pos : 0;
            std::size_t start = p;
            while (start > floor && !is_html_space(lower[start - 1]) && stops.find(lower[start - 1]) == npos) --start;
            bool good;
            if (have_prev && start == floor) {
                start = prev_start;
                good = prev_good;
            } else {
                std::string_view url = lower.substr(start, end - start);
                std::string unescaped;
                if (url.find("\\/") != npos) {
                    unescaped.reserve(url.size());
                    for (std::size_t i = 0; i < url.size(); ++i)
                        if (!(url[i] == '\\' && i + 1 < url.size() && url[i + 1] == '/')) unescaped += url[i];
                    url = unescaped;
                }
                auto host = url_host(url);
                good = host && is_login_host(*host);
            }
            if (!escaped) plain_.push_back({p, end});
            if (good) good_.push_back({p, end});
            have_prev = true;
            prev_pos = p;
            prev_start = start;
            prev_good = good;
        }
    }

    /// A marker on a sign-on host lies wholly inside [from, to).
    bool good_within(std::size_t from, std::size_t to) const { return within(good_, from, to); }
    /// An unescaped `csologin/login.jsf` (any host) lies wholly inside [from, to).
    bool plain_within(std::size_t from, std::size_t to) const { return within(plain_, from, to); }

private:
    using span = std::pair<std::size_t, std::size_t>;
    static bool within(const std::vector<span>& spans, std::size_t from, std::size_t to) {
        // Markers never overlap, so ends ascend with starts: the first at or after `from` decides.
        auto it = std::lower_bound(spans.begin(), spans.end(), span{from, 0});
        return it != spans.end() && it->second <= to;
    }
    std::vector<span> plain_, good_;
};

/// Finds `needle` from positions that never decrease, remembering the last hit so that many
/// searches from nearby starts scan the text once.
class forward_find {
public:
    forward_find(std::string_view text, char needle) : text_(text), needle_(needle) {}
    std::size_t from(std::size_t pos) {
        if (!searched_ || (hit_ != npos && hit_ < pos)) {
            hit_ = text_.find(needle_, pos);
            searched_ = true;
        }
        return hit_;
    }

private:
    std::string_view text_;
    char needle_;
    std::size_t hit_ = npos;
    bool searched_ = false;
};

bool script_sends_to_login(std::string_view lower, const jsf_markers& jsf) {
    // <script> blocks. A block ends at the first `</script`, so a `<script` inside it is text:
    // the next search starts after the block.
    for (std::size_t lt = lower.find("<script"); lt != npos;) {
        auto end = lower.find("</script", lt);
        if (jsf.good_within(lt, end == npos ? lower.size() : end)) return true;
        if (end == npos) break;
        lt = lower.find("<script", end);
    }
    // <meta http-equiv="refresh" content="0; url=...">
    for (std::size_t lt = lower.find("<meta"); lt != npos;) {
        auto tag = tag_at(lower, lt);
        auto equiv = attribute(tag, "http-equiv");
        if (equiv && trim(*equiv) == "refresh" && jsf.good_within(lt, lt + tag.size())) return true;
        if (lt + tag.size() >= lower.size()) break;
        lt = lower.find("<meta", lt + tag.size());
    }
    // `location = '...'`, `location.href=...`, `location.replace('...')` outside a script block
    // (e.g. <body onload=...>): the quoted URL must be the assigned value itself.
    forward_find closing[] = {{lower, '"'}, {lower, '\''}, {lower, '`'}};
    for (std::size_t pos = lower.find("location"); pos != npos; pos = lower.find("location", pos + 1)) {
        auto i = pos + 8;
        for (std::string_view member : {".href", ".replace", ".assign"})
            if (lower.substr(i).starts_with(member)) {
                i += member.size();
                break;
            }
        while (i < lower.size() && is_html_space(lower[i])) ++i;
        if (i >= lower.size() || (lower[i] != '=' && lower[i] != '(')) continue;
        ++i;
        while (i < lower.size() && is_html_space(lower[i])) ++i;
        if (i >= lower.size()) continue;
        auto quote = std::string_view("\"'`").find(lower[i]);
        if (quote == npos) continue;
        auto close = closing[quote].from(i + 1);
        if (close == npos) continue;  // an unclosed quote holds no URL
        if (jsf.plain_within(i + 1, close) && jsf.good_within(i + 1, close)) return true;
    }
    return false;
}

bool xml_not_logged_in(std::string_view content_type, std::string_view lower) {
    for (std::size_t lt = lower.find("<message"); lt != npos;) {
        auto tag = tag_at(lower, lt);
        if (tag.find("not logged in") != npos) return true;
        if (lt + tag.size() >= lower.size()) break;
        lt = lower.find("<message", lt + tag.size());
    }
    return icontains(content_type, "xml") && lower.find("not logged in") != npos;
}

/// A form (lower-case text from `<form` to its `</form` or the end) holding a password input.
bool has_password_input(std::string_view form) {
    for (std::size_t in = form.find("<input"); in != npos;) {
        auto input = tag_at(form, in);
        auto type = attribute(input, "type");
        auto name = attribute(input, "name");
        if ((type && trim(*type) == "password") || (name && (trim(*name) == "key" || trim(*name) == "password")))
            return true;
        if (in + input.size() >= form.size()) break;
        in = form.find("<input", in + input.size());
    }
    return false;
}

bool legacy_login_form(std::string_view lower) {
    for (std::size_t lt = lower.find("<form"); lt != npos;) {
        auto tag = tag_at(lower, lt);
        auto next = lt + tag.size();  // after this tag
        if (tag_is(tag, "form")) {
            auto action = attribute(tag, "action");
            if (action && action->find("login.pl") != npos) {
                auto end = lower.find("</form", lt);
                if (has_password_input(lower.substr(lt, end == npos ? npos : end - lt))) return true;
                // Its inputs are judged; a form nested in it ends at the same `</form`.
                next = end == npos ? lower.size() : end;
            }
        }
        if (next >= lower.size()) break;
        lt = lower.find("<form", next);
    }
    return false;
}

/// Whether the tag that ends just before `gt + 1` is one a menu entry is made of: a link, a
/// list item or an inline wrapper, not a table cell, paragraph or heading (a docket report's
/// `<td>Civil</td>` is not a menu). The backward scan stops at the nearest '<', so scanning
/// every occurrence of a label stays linear.
bool menu_element_ends_at(std::string_view lower, std::size_t gt) {
    auto lt = lower.rfind('<', gt);
    if (lt == npos) return false;
    auto tag = lower.substr(lt, gt - lt + 1);
    for (std::string_view name : {"a", "li", "span", "b", "strong", "font", "button", "div", "option"})
        if (tag_is(tag, name)) return true;
    return false;
}

/// A menu entry in a lower-case body: `label` (lower-case) as the whole text of a menu element
/// (see `menu_element_ends_at`), or a `DisplayMenu.pl?<label>` link. Each run of spaces is
/// walked at most twice.
bool has_menu_label(std::string_view lower, std::string_view label) {
    for (std::size_t pos = lower.find(label); pos != npos; pos = lower.find(label, pos + 1)) {
        std::size_t b = pos;
        while (b > 0 && is_html_space(lower[b - 1])) --b;
        std::size_t e = pos + label.size();
        while (e < lower.size() && is_html_space(lower[e])) ++e;
        if (b > 0 && lower[b - 1] == '>' && e < lower.size() && lower[e] == '<' && menu_element_ends_at(lower, b - 1))
            return true;
        if (b >= 15 && lower.substr(pos - 15, 15) == "displaymenu.pl?") return true;
    }
    return false;
}

/// The filing menu labels by court type (PROTOCOL.md §5; the appellate courts' NextGen menu
/// files under "Filing" / "File a Document"); empty for a type whose menus are unknown.
std::span<const std::string_view> filing_labels(std::string_view court_type) {
    static constexpr std::string_view bankruptcy[] = {"bankruptcy", "adversary"};
    static constexpr std::string_view district[] = {"civil", "criminal"};
    static constexpr std::string_view appellate[] = {"filing", "file a document"};
    if (iequals(court_type, "bankruptcy")) return bankruptcy;
    if (iequals(court_type, "district") || iequals(court_type, "other")) return district;
    if (iequals(court_type, "appellate")) return appellate;
    return {};
}

bool filing_menus_in(std::string_view court_type, std::string_view lower) {
    for (auto label : filing_labels(court_type))
        if (has_menu_label(lower, label)) return true;
    return false;
}

/// The limited menu, judged only where the filing labels are known (bankruptcy, district,
/// appellate): a national court ("other") with menus of its own must not look unlinked.
bool limited_menu_in(std::string_view court_type, std::string_view lower) {
    if (iequals(court_type, "other") || filing_labels(court_type).empty()) return false;
    for (auto type : {"bankruptcy", "district", "appellate"})
        for (auto label : filing_labels(type))
            if (has_menu_label(lower, label)) return false;
    return has_menu_label(lower, "query") && has_menu_label(lower, "utilities") &&
           (has_menu_label(lower, "logout") || has_logout_link(lower));
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
    if (!iends_with(path, "/cgi-bin/login.pl")) return false;
    auto query = path_end == npos ? std::string_view{} : location.substr(path_end);
    return !icontains(query, "logout");
}

} // namespace

bool is_login_host(std::string_view host) noexcept {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    return iequals(host, "login.uscourts.gov") || iequals(host, "qa-login.uscourts.gov") ||
           iends_with(host, ".login.uscourts.gov");
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
    if (redirect && !trim(location_header).empty()) return looks_logged_out(status, location_header, content_type, lower_body{});
    auto lower = to_lower(body);
    return looks_logged_out(status, location_header, content_type, lower_body{lower});
}

bool looks_logged_out(int status, std::string_view location_header, std::string_view content_type,
                      lower_body body) {
    bool redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    if (redirect && !trim(location_header).empty()) {
        auto host = url_host(location_header);
        if (host && is_login_host(*host)) return true;
        return redirects_to_legacy_login(location_header);
    }
    std::string_view lower = body.text;
    if (has_logout_link(lower)) return false;
    return script_sends_to_login(lower, jsf_markers(lower)) || xml_not_logged_in(content_type, lower) ||
           legacy_login_form(lower);
}

bool shows_filing_menus(std::string_view court_type, std::string_view body) {
    return filing_menus_in(court_type, to_lower(body));
}

bool shows_limited_menu(std::string_view court_type, std::string_view body) {
    return limited_menu_in(court_type, to_lower(body));
}

menu_state classify_menus(std::string_view court_type, std::string_view body) {
    auto lower = to_lower(body);
    return classify_menus(court_type, lower_body{lower});
}

menu_state classify_menus(std::string_view court_type, lower_body body) {
    if (filing_menus_in(court_type, body.text)) return menu_state::filing;
    if (limited_menu_in(court_type, body.text)) return menu_state::limited;
    return menu_state::unknown;
}

} // namespace courtroute::auth
