#pragma once
/// The routing table of CONTRACT §1, the warnings of §6 and the link rules of §7, as pure
/// functions of registry, stored facts and date: no I/O, no secrets.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "registry/registry.hpp"
#include "store/store.hpp"

namespace courtroute {

/// Whose credentials a request to a court uses.
enum class route {
    pacer,  ///< the user's PACER central sign-on session
    cmecf,  ///< the court's own CM/ECF session
    refuse, ///< nothing applies: the request is refused
};
[[nodiscard]] std::string_view to_string(route r);

/// Every warning code of CONTRACT §6.
enum class warning_code {
    unlinked_nextgen,         ///< NextGen court, no link recorded: filing menus will be missing
    missing_pacer_credential, ///< NextGen court, no PACER login stored
    missing_cmecf_credential, ///< legacy court, no CM/ECF login stored
    shared_pacer_account,     ///< the PACER login is a shared firm account: it cannot file
    login_failed,             ///< a login was refused for bad credentials
    mfa_required,             ///< PACER wants a one-time code and no TOTP secret is stored
    nextgen_cutover_soon,     ///< a legacy court goes NextGen within 30 days
    pacer_password_age,       ///< the PACER password is older than 165 days
    pacer_notice,             ///< PACER's own notice on a successful login
    session_rejected,         ///< the court said "not logged in" right after a fresh login
    link_mismatch,            ///< the recorded link and what the court shows disagree
    registry_error,           ///< a registry drop-in was skipped
    acms_signin_failed,       ///< the ACMS sign-in through PACER's identity provider did not complete
    fee_budget,               ///< a PACER fee budget is reached or would be passed
    // Per answer only (never in /status): CONTRACT §4 has every refusal carry a warning, and its
    // list names no code for a court that cannot be reached.
    upstream_error,           ///< the court could not be reached, or answered with broken HTTP (502)
    upstream_timeout,         ///< the court did not answer in time (504)
};
[[nodiscard]] std::string_view to_string(warning_code c);
/// The code named `name`, or nullopt (to read a warning back from the JSON of /status).
[[nodiscard]] std::optional<warning_code> parse_warning_code(std::string_view name);

/// How bad a warning is, worst first: the order of a person's to-do list.
enum class warning_severity {
    blocked,     ///< requests fail now (no or refused credential, court refusing the session)
    cannot_file, ///< pages load but the filing menus are or will be missing
    soon,        ///< nothing fails yet: act before the date it names
};
/// `pacer_works`: the user's PACER login is stored and not marked failed or mfa_required, so
/// `mfa_required` is advice before PACER asks (soon), not a refusal (blocked).
[[nodiscard]] warning_severity severity(warning_code c, bool pacer_works = false);
[[nodiscard]] std::string_view to_string(warning_severity s);

/// One warning: for a user (may be empty for registry errors) at a court (may be empty for
/// account-wide warnings), with a one-sentence message telling the user what to do.
struct warning {
    warning_code code;
    std::string user;
    std::string court;
    std::string message; ///< ASCII, no CR/LF: safe as a header value

    /// `CODE; message`, the value of a `Courtroute-Warning` header.
    [[nodiscard]] std::string header_value() const;
    friend bool operator==(const warning&, const warning&) = default;
};

/// What the store says of a user's PACER login, without the secrets.
struct pacer_facts {
    std::string login;
    std::string client_code;
    bool shared = false;
    bool has_totp = false;
    credential_state state = credential_state::active;
    std::string state_detail;
    std::int64_t password_set_at = 0;
    std::int64_t revision = 0;
};

/// What the store says of a user's CM/ECF login at one court, without the password.
struct ecf_facts {
    std::string login;
    credential_state state = credential_state::active;
    std::string state_detail;
    std::int64_t revision = 0;
};

/// A user's ACMS session at one court as the daemon last saw it (PROTOCOL.md §10).
struct acms_state {
    enum kind { signed_in, failed } state = signed_in;
    std::int64_t at = 0;  ///< unix seconds of the sign-in or the failure
    std::string reason;   ///< why it failed, or what is missing (no API token); no secret
    friend bool operator==(const acms_state&, const acms_state&) = default;
};

/// What the daemon learned at run time (never stored): it only exists inside `courtrouted`.
struct runtime_facts {
    std::string pacer_notice;               ///< PACER's notice on the last successful login
    std::set<std::string> session_rejected; ///< courts that refused a fresh session
    std::set<std::string> courts_used;      ///< courts the user sent traffic to
    std::optional<std::int64_t> pacer_expires_at; ///< unix seconds the live PACER session ends, if any
    std::map<std::string, acms_state, std::less<>> acms; ///< court id -> its ACMS session
    std::vector<warning> budget;            ///< `fee_budget` warnings as of now (filled in for status, not kept)
};

/// Everything the pure functions need about one user.
struct user_facts {
    std::string user;
    std::optional<pacer_facts> pacer;
    std::map<std::string, ecf_facts, std::less<>> ecf; ///< court id -> login
    std::set<std::string, std::less<>> links;          ///< court ids with a recorded link
    std::map<std::string, link_observation, std::less<>> observed; ///< court id -> what it last showed
    runtime_facts runtime;
};

/// Reads a user's facts from the store (no secrets leave this function).
[[nodiscard]] user_facts load_user_facts(const store& db, const std::string& user);

/// The outcome of routing one request.
struct decision {
    route via = route::refuse;
    int refusal_status = 0;         ///< 403 when refused by policy, else 0
    std::vector<warning> warnings;  ///< every active warning for this user at this court
};

/// The routing table of CONTRACT §1 for one request of `user` to `c` on `today`.
[[nodiscard]] decision decide(const court& c, const user_facts& user, day today, unlinked_policy unlinked,
                              std::int64_t now_unix);

/// The one-time linking steps at `c` (PROTOCOL.md §5), one per entry, the last one the command
/// that records the link; `linking_steps` is the same as one sentence.
[[nodiscard]] std::vector<std::string> linking_step_list(const court& c, const std::string& user);
[[nodiscard]] std::string linking_steps(const court& c, const std::string& user);

/// Whether what `c` last showed the user contradicts the recorded link: the filing menus with
/// no link recorded (an individual account), or the limited menu with one recorded.
[[nodiscard]] bool link_disagrees(const court& c, const user_facts& user);

/// The courts a user's status covers: linked, with a stored CM/ECF login, or used since start.
[[nodiscard]] std::set<std::string> relevant_courts(const user_facts& user);

/// Every warning of every user plus registry errors (the `warnings` array of /status), worst
/// first (see `warning_severity`), each message ending with the next step to take.
[[nodiscard]] std::vector<warning> compute_warnings(const registry& reg, const std::vector<user_facts>& users,
                                                    day today, std::int64_t now_unix);

/// Days before PACER forces a password change (180 days after it was set); warned from 165.
inline constexpr int pacer_password_max_days = 180;
inline constexpr int pacer_password_warn_days = 165;
inline constexpr int cutover_warn_days = 30;

/// Unix seconds at the start (00:00 UTC, first day) of the budget period holding `now_unix`.
[[nodiscard]] std::int64_t budget_period_start(fee_budgets::period_kind period, std::int64_t now_unix);

/// What the fee budgets (`[fees]`) say of one request by `user` under `client_code`, who have
/// spent `spent_user` and `spent_code` cents this period; `quote_cents` is what the document the
/// request fetches costs (0: not a document fetch). A limit reached, or one the quote would pass,
/// is a `fee_budget` warning; with `action = "block"` a quote that would pass it is refused (402)
/// before the court charges it, with a text that names the limit and how to raise it.
struct budget_verdict {
    std::vector<warning> warnings;
    bool block = false;
    std::string text; ///< the 402 body when `block`
};
[[nodiscard]] budget_verdict check_budget(const fee_budgets& b, const std::string& user, std::string_view client_code,
                                          std::int64_t spent_user, std::int64_t spent_code, std::int64_t quote_cents,
                                          const std::string& court_id);

/// Why `courtroute link` must refuse, or nullopt when it may record the link.
[[nodiscard]] std::optional<std::string> link_refusal(const court& c, const user_facts& user, day today);
/// Why `courtroute ecf set` must refuse, or nullopt.
[[nodiscard]] std::optional<std::string> ecf_set_refusal(const court& c, const user_facts& user, day today);

} // namespace courtroute
