#include "policy/policy.hpp"

#include <algorithm>
#include <chrono>

#include "core/text.hpp"
#include "fees/ledger.hpp"

namespace courtroute {

std::string_view to_string(route r) {
    switch (r) {
    case route::pacer: return "pacer";
    case route::cmecf: return "cmecf";
    case route::refuse: return "refuse";
    }
    return "refuse";
}

std::string_view to_string(warning_code c) {
    switch (c) {
    case warning_code::unlinked_nextgen: return "unlinked_nextgen";
    case warning_code::missing_pacer_credential: return "missing_pacer_credential";
    case warning_code::missing_cmecf_credential: return "missing_cmecf_credential";
    case warning_code::shared_pacer_account: return "shared_pacer_account";
    case warning_code::login_failed: return "login_failed";
    case warning_code::mfa_required: return "mfa_required";
    case warning_code::nextgen_cutover_soon: return "nextgen_cutover_soon";
    case warning_code::pacer_password_age: return "pacer_password_age";
    case warning_code::pacer_notice: return "pacer_notice";
    case warning_code::session_rejected: return "session_rejected";
    case warning_code::link_mismatch: return "link_mismatch";
    case warning_code::registry_error: return "registry_error";
    case warning_code::acms_signin_failed: return "acms_signin_failed";
    case warning_code::fee_budget: return "fee_budget";
    case warning_code::upstream_error: return "upstream_error";
    case warning_code::upstream_timeout: return "upstream_timeout";
    }
    return "registry_error";
}

std::optional<warning_code> parse_warning_code(std::string_view name) {
    for (int i = 0; i <= static_cast<int>(warning_code::upstream_timeout); ++i)
        if (to_string(static_cast<warning_code>(i)) == name) return static_cast<warning_code>(i);
    return std::nullopt;
}

warning_severity severity(warning_code c, bool pacer_works) {
    switch (c) {
    case warning_code::mfa_required: return pacer_works ? warning_severity::soon : warning_severity::blocked;
    case warning_code::unlinked_nextgen:
    case warning_code::link_mismatch:
    case warning_code::shared_pacer_account: return warning_severity::cannot_file;
    case warning_code::nextgen_cutover_soon:
    case warning_code::pacer_password_age:
    case warning_code::pacer_notice:
    case warning_code::fee_budget: return warning_severity::soon;
    default: return warning_severity::blocked;
    }
}

std::string_view to_string(warning_severity s) {
    switch (s) {
    case warning_severity::blocked: return "blocked";
    case warning_severity::cannot_file: return "cannot file";
    case warning_severity::soon: return "soon";
    }
    return "blocked";
}

std::string warning::header_value() const {
    std::string v(to_string(code));
    v += "; ";
    // Messages may quote upstream text (PACER notices): keep the header printable ASCII.
    for (unsigned char ch : message) v += (ch < 0x20 || ch >= 0x7f) ? ' ' : static_cast<char>(ch);
    return v;
}

user_facts load_user_facts(const store& db, const std::string& user) {
    user_facts f;
    f.user = user;
    if (auto p = db.pacer(user, secrets::sealed)) {
        f.pacer = pacer_facts{p->login, p->client_code, p->shared,         p->has_totp,
                              p->state, p->state_detail, p->password_set_at, p->revision};
    }
    for (auto& e : db.ecf_logins(user, secrets::sealed))
        f.ecf.emplace(e.court, ecf_facts{e.login, e.state, e.state_detail, e.revision});
    for (auto& l : db.links(user)) f.links.insert(l.court);
    for (auto& o : db.observations(user)) f.observed.emplace(o.court, o);
    return f;
}

std::vector<std::string> linking_step_list(const court& c, const std::string& user) {
    const char* menu = c.type == court_type::appellate ? "Link my filer account to my PACER account"
                                                       : "Link a CM/ECF account to my PACER account";
    return {"log in at " + c.ecf_url + " with your individual PACER account",
            std::string("open Utilities > ") + menu,
            "enter your old court-issued CM/ECF login and password, check the names and submit (once per court)",
            "if the filing menus do not appear, log out, close the browser and log in again",
            "run: courtroute link " + user + " " + c.id};
}

std::string linking_steps(const court& c, const std::string& user) {
    auto s = linking_step_list(c, user);
    return s[0] + ", " + s[1] + ", " + s[2].substr(0, s[2].size() - 1) + "; " + s[3] + "); then " + s[4];
}

namespace {

using namespace std::chrono;

int days_between(day from, day to) { return static_cast<int>((sys_days{to} - sys_days{from}).count()); }

std::string in_days(int n) { return n == 1 ? "tomorrow" : "in " + std::to_string(n) + " days"; }


warning make(warning_code code, const std::string& user, const std::string& court_id, std::string message) {
    return warning{code, user, court_id, std::move(message)};
}

// Warnings about the PACER account itself: they apply at every NextGen court.
std::vector<warning> pacer_account_warnings(const user_facts& u, std::int64_t now_unix) {
    std::vector<warning> out;
    if (!u.pacer) return out;
    const auto& p = *u.pacer;
    if (p.shared)
        out.push_back(make(warning_code::shared_pacer_account, u.user, "",
                           "PACER login " + p.login +
                               " is a shared firm account: it can search but cannot file; filing in NextGen needs an "
                               "individual, upgraded PACER account (share billing through client codes instead)"));
    if (p.state == credential_state::failed)
        out.push_back(make(warning_code::login_failed, u.user, "",
                           "PACER refused the login " + p.login +
                               (p.state_detail.empty() ? std::string() : " (" + p.state_detail + ")") +
                               "; it will not be tried again until you store the right password with: "
                               "courtroute pacer set " + u.user + " --login " + p.login));
    if (p.state == credential_state::mfa_required)
        out.push_back(make(warning_code::mfa_required, u.user, "",
                           "PACER asks for a one-time passcode for " + p.login +
                               " and no TOTP secret is stored; store it with: courtroute pacer set " + u.user +
                               " --login " + p.login + " --totp (password, then the base32 secret, on stdin)"));
    if (p.password_set_at > 0) {
        auto age_days = (now_unix - p.password_set_at) / 86400;
        if (age_days > pacer_password_warn_days) {
            auto left = pacer_password_max_days - age_days;
            out.push_back(make(warning_code::pacer_password_age, u.user, "",
                               "the PACER password of " + p.login + " was set " + std::to_string(age_days) +
                                   " days ago; PACER forces a change at " + std::to_string(pacer_password_max_days) +
                                   " days (" + (left > 0 ? std::to_string(left) + " days left" : "overdue") +
                                   "): change it at PACER, then store it with courtroute pacer set"));
        }
    }
    if (!u.runtime.pacer_notice.empty())
        out.push_back(make(warning_code::pacer_notice, u.user, "",
                           "PACER says: " + u.runtime.pacer_notice +
                               " (do what it asks: log in at pacer.uscourts.gov, Manage My Account)"));
    return out;
}

// The steps on the day a legacy court moves to NextGen, for one of its filers.
std::string cutover_steps(const court& c, const user_facts& u) {
    std::string steps;
    if (!u.pacer)
        steps = "store your individual PACER login with: courtroute pacer set " + u.user + " --login LOGIN; then ";
    else if (u.pacer->shared)
        steps = "file with an individual PACER account (the stored one is a shared firm account), store it with "
                "courtroute pacer set " + u.user + "; then ";
    return steps + linking_steps(c, u.user);
}

// Whether PACER will ask this account for a one-time passcode that courtroute cannot give: MFA is
// mandatory for every account with filing rights (PROTOCOL.md §1), shown by a recorded link or by
// a court's filing menus, or PACER's own notice announces it.
bool mfa_expected_without_secret(const user_facts& u) {
    if (!u.pacer || u.pacer->has_totp || u.pacer->shared || u.pacer->state != credential_state::active) return false;
    if (!u.links.empty()) return true;
    for (auto& [_, o] : u.observed)
        if (o.filing_menus) return true;
    std::string notice = to_lower(u.runtime.pacer_notice);
    for (std::string_view word : {"passcode", "multi-factor", "multifactor", "two-factor", "mfa"})
        if (notice.find(word) != std::string::npos) return true;
    return false;
}

// Account-wide items of a person's to-do list that no single court shows (the status only).
std::vector<warning> account_todo(const registry& reg, const user_facts& u, day today) {
    std::vector<warning> out;
    if (!u.pacer) {
        // Courts already used say it per court; a new user hears it before the first request.
        auto nextgen = std::count_if(reg.courts().begin(), reg.courts().end(),
                                     [&](const court& c) { return c.system_on(today) == court_system::nextgen; });
        if (nextgen > 0)
            out.push_back(make(warning_code::missing_pacer_credential, u.user, "",
                               "no PACER login is stored for " + u.user + ", and " + std::to_string(nextgen) + " of " +
                                   std::to_string(reg.courts().size()) +
                                   " courts are on NextGen CM/ECF and take it: store it with courtroute pacer set " +
                                   u.user + " --login LOGIN (password on stdin)"));
        return out;
    }
    const auto& p = *u.pacer;
    if (mfa_expected_without_secret(u))
        out.push_back(make(warning_code::mfa_required, u.user, "",
                           "PACER asks every account with filing rights for a one-time passcode at login, and no "
                           "TOTP secret is stored for " + p.login + ", so the next PACER login will fail: turn on "
                           "MFA at pacer.uscourts.gov if it is not on, then store the secret with: courtroute pacer "
                           "set " + u.user + " --login " + p.login + " --totp (password, then the base32 secret, on "
                           "stdin)"));
    if (!p.shared && u.links.empty()) {
        std::string used;
        for (auto& id : relevant_courts(u))
            if (const court* c = reg.find_id(id); c && c->system_on(today) == court_system::nextgen)
                used += (used.empty() ? "" : ", ") + id;
        out.push_back(make(warning_code::unlinked_nextgen, u.user, "",
                           u.user + " has linked no NextGen court yet (" +
                               (used.empty() ? std::string("none used yet") : "used: " + used) +
                               "); every NextGen court needs the one-time link before its filing menus appear: at "
                               "each, log in with your PACER account, open Utilities > Link a CM/ECF account to my "
                               "PACER account, then check it with: courtroute verify " + u.user + " COURT"));
    }
    return out;
}

// Warnings tied to one court (the account-wide ones are added by the callers).
void court_warnings(const court& c, const user_facts& u, day today, decision& d) {
    auto sys = c.system_on(today);
    if (sys == court_system::legacy && c.nextgen_since) {
        auto days = days_between(today, *c.nextgen_since);
        if (days > 0 && days <= cutover_warn_days)
            d.warnings.push_back(make(warning_code::nextgen_cutover_soon, u.user, c.id,
                                      c.id + " moves to NextGen CM/ECF on " + to_string(*c.nextgen_since) + " (" +
                                          in_days(days) + ") and from then on takes your PACER account, not its own login; "
                                          "on that date " + cutover_steps(c, u)));
    }
    if (u.runtime.session_rejected.contains(c.id))
        d.warnings.push_back(make(warning_code::session_rejected, u.user, c.id,
                                  c.id + " still answered 'not logged in' right after a fresh login; the page is "
                                         "returned as the court sent it: reload it, and if it persists log in once "
                                         "in a browser to check the account"));
    if (auto a = u.runtime.acms.find(c.id); a != u.runtime.acms.end() && a->second.state == acms_state::failed)
        d.warnings.push_back(make(warning_code::acms_signin_failed, u.user, c.id,
                                  "the ACMS sign-in at " + c.id + " through PACER's identity provider did not complete (" +
                                      a->second.reason + "); courtroute tries again on the next request after a "
                                      "minute: if it persists, sign in to ACMS once in a browser and check the PACER account"));
    if (link_disagrees(c, u)) {
        bool linked = u.links.contains(c.id);
        d.warnings.push_back(make(warning_code::link_mismatch, u.user, c.id,
                                  linked ? c.id + " shows only the limited menu although a link is recorded: check the "
                                                  "link at the court (Utilities), or run courtroute unlink " +
                                               u.user + " " + c.id
                                         : c.id + " shows the filing menus although no link is recorded: run "
                                                  "courtroute link " + u.user + " " + c.id));
    }
}

} // namespace

decision decide(const court& c, const user_facts& u, day today, unlinked_policy unlinked, std::int64_t now_unix) {
    decision d;
    if (c.system_on(today) == court_system::nextgen) {
        if (!u.pacer) {
            d.refusal_status = 403;
            d.warnings.push_back(make(warning_code::missing_pacer_credential, u.user, c.id,
                                      c.id + " is on NextGen CM/ECF and takes your PACER account, but no PACER login "
                                             "is stored for " + u.user + ": store it with courtroute pacer set " +
                                          u.user + " --login LOGIN (password on stdin)"));
            court_warnings(c, u, today, d);
            return d;
        }
        d.via = route::pacer;
        d.warnings = pacer_account_warnings(u, now_unix);
        // A shared account cannot be linked at all: its one warning says what to do instead.
        if (!u.pacer->shared && !u.links.contains(c.id)) {
            d.warnings.push_back(make(warning_code::unlinked_nextgen, u.user, c.id,
                                      "no link is recorded for " + u.user + " at " + c.id +
                                          ", so the filing menus will be missing: " + linking_steps(c, u.user)));
            if (unlinked == unlinked_policy::block) d.refusal_status = 403;
        }
        if (u.pacer->state != credential_state::active && !d.refusal_status) d.refusal_status = 502;
    } else {
        auto it = u.ecf.find(c.id);
        if (it == u.ecf.end()) {
            d.refusal_status = 403;
            d.warnings.push_back(make(warning_code::missing_cmecf_credential, u.user, c.id,
                                      c.id + " is on legacy CM/ECF and takes its own court-issued login, but none is "
                                             "stored for " + u.user + ": store it with courtroute ecf set " + u.user +
                                          " " + c.id + " --login LOGIN (password on stdin)"));
        } else {
            d.via = route::cmecf;
            if (it->second.state != credential_state::active) {
                d.refusal_status = 502;
                d.warnings.push_back(make(warning_code::login_failed, u.user, c.id,
                                          c.id + " refused the CM/ECF login " + it->second.login +
                                              (it->second.state_detail.empty() ? std::string()
                                                                               : " (" + it->second.state_detail + ")") +
                                              "; it will not be tried again (the account locks after repeated "
                                              "failures) until you store the right password with courtroute ecf set " +
                                              u.user + " " + c.id + " --login " + it->second.login));
            }
        }
    }
    court_warnings(c, u, today, d);
    if (d.refusal_status == 403) d.via = route::refuse;
    return d;
}

bool link_disagrees(const court& c, const user_facts& u) {
    auto o = u.observed.find(c.id);
    if (o == u.observed.end() || !u.pacer) return false;
    const bool linked = u.links.contains(c.id);
    return o->second.filing_menus ? !linked && !u.pacer->shared : linked;
}

std::set<std::string> relevant_courts(const user_facts& u) {
    std::set<std::string> out(u.links.begin(), u.links.end());
    for (auto& [court_id, _] : u.observed) out.insert(court_id);
    for (auto& [court_id, _] : u.ecf) out.insert(court_id);
    out.insert(u.runtime.courts_used.begin(), u.runtime.courts_used.end());
    return out;
}

std::vector<warning> compute_warnings(const registry& reg, const std::vector<user_facts>& users, day today,
                                      std::int64_t now_unix) {
    std::vector<warning> out;
    auto add = [&out](warning w) {
        if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(std::move(w));
    };
    for (auto& e : reg.errors()) {
        add(make(warning_code::registry_error, "", std::filesystem::path(e.file).stem().string(),
                 "court drop-in skipped: " + e.to_string() +
                     " (fix the file, check it with courtroute check, then reload the daemon: systemctl reload "
                     "courtroute)"));
    }
    for (auto& c : reg.courts()) {
        if (c.system_on(today) != court_system::legacy || !c.nextgen_since) continue;
        auto days = days_between(today, *c.nextgen_since);
        if (days > 0 && days <= cutover_warn_days)
            add(make(warning_code::nextgen_cutover_soon, "", c.id,
                     c.id + " moves to NextGen CM/ECF on " + to_string(*c.nextgen_since) + " (" + in_days(days) +
                         "): its filers log in with their own PACER accounts from then "
                         "on and must link their CM/ECF accounts there once; each filer's own steps are in "
                         "courtroute status --user USER"));
    }
    for (auto& u : users) {
        for (auto& w : pacer_account_warnings(u, now_unix)) add(std::move(w));
        for (auto& w : account_todo(reg, u, today)) add(std::move(w));
        for (const auto& w : u.runtime.budget) add(warning(w));
        for (auto& id : relevant_courts(u)) {
            const court* c = reg.find_id(id);
            if (!c) continue;  // a court since removed from the registry: nothing to route
            for (auto& w : decide(*c, u, today, unlinked_policy::warn, now_unix).warnings)
                if (w.court == c->id) add(std::move(w));
        }
    }
    std::set<std::string, std::less<>> pacer_works;
    for (auto& u : users)
        if (u.pacer && u.pacer->state == credential_state::active) pacer_works.insert(u.user);
    auto rank = [&](const warning& w) { return severity(w.code, pacer_works.contains(w.user)); };
    std::stable_sort(out.begin(), out.end(), [&](const warning& a, const warning& b) { return rank(a) < rank(b); });
    return out;
}

std::int64_t budget_period_start(fee_budgets::period_kind period, std::int64_t now_unix) {
    namespace ch = std::chrono;
    const ch::year_month_day d{ch::floor<ch::days>(ch::sys_seconds{ch::seconds{now_unix}})};
    auto m = static_cast<unsigned>(d.month());
    if (period == fee_budgets::period_kind::quarter) m = (m - 1) / 3 * 3 + 1;
    return ch::sys_seconds{ch::sys_days{d.year() / ch::month{m} / 1}}.time_since_epoch().count();
}

budget_verdict check_budget(const fee_budgets& b, const std::string& user, std::string_view client_code,
                            std::int64_t spent_user, std::int64_t spent_code, std::int64_t quote_cents,
                            const std::string& court_id) {
    budget_verdict v;
    const char* period = b.period == fee_budgets::period_kind::month ? "monthly" : "quarterly";
    auto judge = [&](std::int64_t limit, std::int64_t spent, const std::string& who, const std::string& key) {
        if (limit <= 0) return;
        const bool passes = quote_cents > 0 && spent + quote_cents > limit;
        if (spent < limit && !passes) return;
        std::string raise = "raise " + key + " in [fees] of courtroute.toml and reload the daemon (systemctl reload courtroute)";
        std::string said = who + " has spent " + fees::dollars(spent) + " of the " + fees::dollars(limit) + " " + period +
                           " PACER budget";
        if (passes) said += "; this document costs " + fees::dollars(quote_cents) + " and would pass it";
        v.warnings.push_back(warning{warning_code::fee_budget, user, court_id, said + ": " + raise});
        if (passes && b.action == fee_budgets::action_kind::block) {
            v.block = true;
            v.text = "courtroute refused to fetch this document before the court charged it: " + said + ". To fetch it, " +
                     raise + ", or use another client code (Courtroute-Client-Code).";
        }
    };
    auto u = b.users.find(user);
    judge(u != b.users.end() ? u->second : b.user_limit, spent_user, "user " + user,
          u != b.users.end() ? "users." + user : "user_limit");
    if (!client_code.empty()) {
        auto c = b.client_codes.find(client_code);
        judge(c != b.client_codes.end() ? c->second : b.client_code_limit, spent_code,
              "client code " + std::string(client_code),
              c != b.client_codes.end() ? "client_codes.\"" + std::string(client_code) + "\"" : "client_code_limit");
    }
    return v;
}

std::optional<std::string> link_refusal(const court& c, const user_facts& u, day today) {
    if (c.system_on(today) != court_system::nextgen)
        return c.id + " is on legacy CM/ECF: links exist only at NextGen courts";
    if (u.pacer && u.pacer->shared)
        return "the PACER login of " + u.user +
               " is a shared firm account: do not link CM/ECF accounts to it (filing needs an individual account)";
    if (u.links.contains(c.id)) return "a link is already recorded for " + u.user + " at " + c.id;
    return std::nullopt;
}

std::optional<std::string> ecf_set_refusal(const court& c, const user_facts& u, day today) {
    if (c.system_on(today) == court_system::nextgen && u.links.contains(c.id))
        return "a link is recorded for " + u.user + " at " + c.id +
               ", so its old CM/ECF login no longer works there (run courtroute unlink " + u.user + " " + c.id +
               " if the link was recorded by mistake)";
    return std::nullopt;
}

} // namespace courtroute
