#pragma once
/// ACMS (the Second and Ninth Circuits, PROTOCOL.md §10), sans-io: which hosts are ACMS's, the
/// sign-in through PACER's identity provider as a step machine fed with answers, the session's
/// cookie jar, the API token found on a page, and what "not logged in" looks like there. The
/// steps are data-driven and tolerant (extra redirects, either flow, a token on any page); every
/// way it can fail ends in a reason a person can read, never in a loop.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace courtroute::auth::acms {

/// What an `extra_hosts` entry is (CONTRACT §4): ACMS's pages and SAML service provider
/// (`{court}-showdoc.azurewebsites.us`), its JSON API (`{court}-showdocservices...`), or another
/// host of the court that takes the court's own login.
enum class host_kind { pages, api, other };
[[nodiscard]] host_kind kind_of(std::string_view host);

/// The cookies ACMS set, per host (host-only: ACMS sets them on the host that answered).
class cookie_jar {
public:
    /// Takes in one `Set-Cookie` value from `host`; an expired or emptied cookie is removed.
    void absorb(std::string_view host, std::string_view set_cookie);
    /// `name=value; ...` for a request to `host` (empty when none).
    [[nodiscard]] std::string header_for(std::string_view host) const;
    /// Whether any cookie is held for `host`.
    [[nodiscard]] bool has(std::string_view host) const;
    /// Whether `name` is a cookie the jar holds for `host` (a client's copy of it is dropped).
    [[nodiscard]] bool holds(std::string_view host, std::string_view name) const;

private:
    std::map<std::string, std::vector<std::pair<std::string, std::string>>, std::less<>> by_host_;
};

/// The auto-submitting form of a SAML step: where it posts and its hidden fields.
struct saml_form {
    std::string action;                                      ///< as written (absolute or relative)
    std::vector<std::pair<std::string, std::string>> fields; ///< hidden inputs, HTML entities decoded
    [[nodiscard]] bool has(std::string_view name) const;
};

/// The first `<form>` holding a `SAMLResponse` or `SAMLRequest` input, or nullopt.
[[nodiscard]] std::optional<saml_form> find_saml_form(std::string_view html);

/// The API bearer token on an ACMS page: `AuthToken.Token` in a `var model = '...'` object (the
/// older flow) or an `authToken`/`AuthToken` value anywhere in a page's JSON (the newer flow's
/// `/Home/IndexContent`). Only a token of header-safe characters (base64url, '.', '-', '_',
/// '~', '+', '/', '=') of 16..8192 bytes counts.
[[nodiscard]] std::optional<std::string> find_api_token(std::string_view body);

/// "Not logged in" at ACMS (PROTOCOL.md §10 step 5): at the pages host, a redirect to another
/// host (the identity provider) or a page holding the auto-submitting SAML form; at the API, 401.
[[nodiscard]] bool looks_signed_out(host_kind kind, int status, std::string_view location, std::string_view pages_host,
                                    std::string_view body);

/// One request the sign-in wants sent.
struct request {
    std::string method;       ///< "GET" or "POST"
    std::string host;         ///< where (port 443)
    std::string target;       ///< origin-form
    std::string content_type; ///< for a POST with a body
    std::string body;
    bool pacer_cookie = false; ///< add `NextGenCSO=<the PACER session>` (the identity provider only)
    std::string cookies;       ///< the jar's cookies for `host`
};

/// An answer to feed back.
struct answer {
    int status = 0;
    std::string_view location;
    std::vector<std::string_view> set_cookies;
    std::string_view body;
};

/// The sign-in finished: the jar and, when a page carried it, the API token.
struct signed_in {
    cookie_jar jar;
    std::optional<std::string> token;
};

/// The sign-in failed: why, in words for `acms_signin_failed` (no secret in it).
struct failed {
    std::string reason;
    bool pacer_rejected = false; ///< the identity provider sent us to PACER's login: the PACER session is not good
};

/// The sign-in of PROTOCOL.md §10 for one court's pages host: `start()`, then `step(answer)`
/// until it returns `signed_in` or `failed`. At most `max_requests` requests in all.
class signin {
public:
    static constexpr int max_requests = 12;

    explicit signin(std::string pages_host);
    [[nodiscard]] request start();
    [[nodiscard]] std::variant<request, signed_in, failed> step(const answer& a);

private:
    enum class phase { to_idp, after_acs, index_content };
    [[nodiscard]] request get(std::string host, std::string target);
    [[nodiscard]] std::variant<request, signed_in, failed> follow(std::string_view location);
    [[nodiscard]] std::variant<request, signed_in, failed> finish();

    std::string pages_;
    std::string host_;    ///< the host of the request in flight
    std::string target_;  ///< its target (to resolve relative redirects)
    phase phase_ = phase::to_idp;
    int sent_ = 0;
    cookie_jar jar_;
    std::optional<std::string> token_;
};

} // namespace courtroute::auth::acms
