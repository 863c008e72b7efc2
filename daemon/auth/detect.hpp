#pragma once
/// Recognising a court's "you are not logged in" answers (PROTOCOL.md §3) and the menus that
/// tell whether a CM/ECF account is linked to the PACER account (PROTOCOL.md §5).
/// All checks are heuristics over untrusted text: they never throw. They scan the whole body, so
/// callers should pass only text bodies (HTML, XML) and may cap them (e.g. the first 256 KiB):
/// the menus, the logout link and a login script sit near the top of a CM/ECF page.
/// Each check takes time linear in the body (one lower-cased copy, forward scans only), so a
/// hostile 4 MiB page costs milliseconds. A tag runs from its `<` to its first `>` (or the end
/// of the body) and is read once: a `<input` or `<meta` inside another tag's text is not a tag.
#include <optional>
#include <string>
#include <string_view>

namespace courtroute::auth {

/// True when `host` is a PACER sign-on host: `login.uscourts.gov`, any `*.login.uscourts.gov`
/// (pacer.login…) or `qa-login.uscourts.gov`; ASCII case-insensitive, a trailing dot ignored.
[[nodiscard]] bool is_login_host(std::string_view host) noexcept;

/// The lower-cased host of an absolute (`scheme://`) or scheme-relative (`//host`) URL, without
/// user-info or port; nullopt for a relative URL or one with no host. Only the authority part is
/// read, so `https://evil/?pacer.login.uscourts.gov` yields `evil`.
[[nodiscard]] std::optional<std::string> url_host(std::string_view url);

/// True when a court's answer means "the session is missing or expired" (PROTOCOL.md §3):
///  - a 301/302/303/307/308 whose Location's host is a sign-on host (is_login_host), or whose
///    path is a court's `/cgi-bin/login.pl` (not `?logout`: a legacy court sending to its login
///    form); a redirect with a non-empty Location is judged by the Location alone;
///  - otherwise, unless the body holds the logged-in user's logout link `login.pl?logout`
///    (which wins over every body signal below: a logged-in page can mention the sign-on page,
///    e.g. in a "change client code" script, while a login page never offers logout):
///    - a `csologin/login.jsf` URL on a sign-on host inside a `<script>` block, a
///      `<meta http-equiv=refresh>` tag, or right after the word `location` (onload handlers);
///      a plain `<a href>` to it is not enough (public court pages link to the login);
///    - the XML `<message text='Not logged in...'/>` (or an XML content type with that text);
///    - a `<form>` whose action names `login.pl` holding a password input (type=password or
///      named `key`/`password`): the legacy login form served in place of the page.
[[nodiscard]] bool looks_logged_out(int status, std::string_view location_header, std::string_view content_type,
                                    std::string_view body);

/// A body already lower-cased with `to_lower`, so that the checks of one page share one copy
/// (the proxy runs both `looks_logged_out` and `classify_menus` on every page it inspects).
struct lower_body {
    std::string_view text;
};
[[nodiscard]] bool looks_logged_out(int status, std::string_view location_header, std::string_view content_type,
                                    lower_body body);

/// True when `body` shows the filing menus of a linked account (PROTOCOL.md §5): a menu entry
/// labelled `Bankruptcy` or `Adversary` when `court_type` is "bankruptcy", `Civil` or `Criminal`
/// when it is "district" (or "other": the national courts), `Filing` or `File a Document` when
/// it is "appellate". A menu entry is the label as a whole element text (`>Civil<`, spaces
/// allowed) or a `DisplayMenu.pl?<Label>` link. One label suffices (tolerant: courts trim menus).
/// Always false for an unknown court type.
[[nodiscard]] bool shows_filing_menus(std::string_view court_type, std::string_view body);

/// True when `body` shows the limited NextGen menu of an unlinked account: `Query` and
/// `Utilities` entries and a logout (a `Logout` entry or the `login.pl?logout` link), and none of
/// the filing labels of any court type. `Reports` is not required because the exact labels are
/// unknown (PROTOCOL.md §5). Always false at a national court ("other") or an unknown type, whose
/// own filing menus might carry other labels: nothing is inferred there from a missing label.
[[nodiscard]] bool shows_limited_menu(std::string_view court_type, std::string_view body);

/// What a logged-in court page says about the account's link state.
enum class menu_state {
    filing,  ///< the filing menus are there: the account is linked
    limited, ///< only the limited menu: the account is not linked
    unknown, ///< neither pattern matched (not a menu page, or an unknown layout): infer nothing
};

/// Combines shows_filing_menus and shows_limited_menu for one page.
[[nodiscard]] menu_state classify_menus(std::string_view court_type, std::string_view body);
[[nodiscard]] menu_state classify_menus(std::string_view court_type, lower_body body);

} // namespace courtroute::auth
