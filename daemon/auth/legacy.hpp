#pragma once
/// A legacy (non-NextGen) court's own CM/ECF login (PROTOCOL.md §4): the login.pl form and
/// judging its answer. No I/O.
#include "auth/outcome.hpp"

#include <string>
#include <string_view>

namespace courtroute::auth {

/// The outcome of a legacy court login; `notice` is always empty.
using legacy_outcome = login_outcome;

/// `application/x-www-form-urlencoded` percent-encoding of one value: ASCII letters, digits and
/// `-._~` are kept, space becomes '+', every other byte %XX (upper-case hex).
[[nodiscard]] std::string form_urlencode(std::string_view value);

/// The body for `POST /cgi-bin/login.pl`: `login=<login>&key=<password>`, urlencoded. Holds the password.
[[nodiscard]] std::string legacy_login_form(std::string_view login, std::string_view password);

/// Judges login.pl's answer:
///  - success: a 2xx whose body sets `PacerSession=<token>` (in a script, e.g.
///    `document.cookie="PacerSession=abc;path=/"`; spaces around '=' and a quoted value are
///    tolerated, an empty value, as when a page clears the cookie, is skipped) with a token
///    valid as a cookie value; a token wins over any failure text on the same page;
///  - bad_credentials: a 2xx without a token whose body says `Invalid ID or password` (or
///    `invalid login`/`invalid password`), or that the account is locked / disabled;
///  - service_error: anything else (a non-2xx status, or neither a token nor a failure text).
[[nodiscard]] legacy_outcome parse_legacy_login(int status, std::string_view body);

} // namespace courtroute::auth
