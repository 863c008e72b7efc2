// The routing table of CONTRACT §1, every warning code of §6 and the link rules of §7,
// stepped as pure functions: no store, no network.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "policy/policy.hpp"
#include "status/report.hpp"

using namespace courtroute;
using std::chrono::days;
using std::chrono::month;
using std::chrono::sys_days;
using std::chrono::year;
using std::chrono::year_month_day;

namespace {

const day today_{year{2026}, month{11}, std::chrono::day{25}};
const std::int64_t now_ = 1795564800;  // 2026-11-25T00:00:00Z

court make_court(std::string id, court_system sys, std::optional<day> since = std::nullopt,
                 court_type type = court_type::bankruptcy) {
    court c;
    c.id = id;
    c.name = "Court " + id;
    c.type = type;
    c.host = "ecf." + id + ".uscourts.gov";
    c.ecf_url = "https://" + c.host;
    c.system = sys;
    c.nextgen_since = since;
    return c;
}

user_facts alice_with_pacer(bool shared = false) {
    user_facts u;
    u.user = "alice";
    u.pacer = pacer_facts{"alice01", "", shared, false, credential_state::active, "", now_ - 86400, 1};
    return u;
}

std::vector<std::string> codes(const std::vector<warning>& ws) {
    std::vector<std::string> out;
    for (auto& w : ws) out.emplace_back(to_string(w.code));
    return out;
}

bool has(const std::vector<warning>& ws, warning_code c) {
    return std::any_of(ws.begin(), ws.end(), [c](const warning& w) { return w.code == c; });
}

} // namespace

TEST(Routing, NextGenLinkedUsesPacerWithoutWarnings) {
    auto c = make_court("azb", court_system::nextgen);
    auto u = alice_with_pacer();
    u.links.insert("azb");
    auto d = decide(c, u, today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.via, route::pacer);
    EXPECT_EQ(d.refusal_status, 0);
    EXPECT_TRUE(d.warnings.empty()) << ::testing::PrintToString(codes(d.warnings));
}

TEST(Routing, NextGenUnlinkedWarnsWithTheLinkingSteps) {
    auto c = make_court("azb", court_system::nextgen);
    auto d = decide(c, alice_with_pacer(), today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.via, route::pacer);
    EXPECT_EQ(d.refusal_status, 0);
    ASSERT_EQ(codes(d.warnings), std::vector<std::string>{"unlinked_nextgen"});
    EXPECT_NE(d.warnings[0].message.find("Utilities > Link a CM/ECF account to my PACER account"), std::string::npos);
    EXPECT_NE(d.warnings[0].message.find("courtroute link alice azb"), std::string::npos);
    EXPECT_EQ(d.warnings[0].header_value().rfind("unlinked_nextgen; ", 0), 0u);
}

TEST(Routing, AppellateCourtsNameTheirOwnMenu) {
    auto c = make_court("ca9", court_system::nextgen, std::nullopt, court_type::appellate);
    auto d = decide(c, alice_with_pacer(), today_, unlinked_policy::warn, now_);
    ASSERT_TRUE(has(d.warnings, warning_code::unlinked_nextgen));
    EXPECT_NE(d.warnings[0].message.find("Link my filer account to my PACER account"), std::string::npos);
}

TEST(Routing, BlockPolicyRefusesUnlinkedWith403) {
    auto c = make_court("azb", court_system::nextgen);
    auto d = decide(c, alice_with_pacer(), today_, unlinked_policy::block, now_);
    EXPECT_EQ(d.via, route::refuse);
    EXPECT_EQ(d.refusal_status, 403);
    EXPECT_TRUE(has(d.warnings, warning_code::unlinked_nextgen));
}

TEST(Routing, LegacyWithLoginUsesCmecf) {
    auto c = make_court("nvb", court_system::legacy);
    auto u = alice_with_pacer();
    u.ecf.emplace("nvb", ecf_facts{"alice_nv", credential_state::active, "", 3});
    auto d = decide(c, u, today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.via, route::cmecf);
    EXPECT_EQ(d.refusal_status, 0);
    EXPECT_TRUE(d.warnings.empty());
}

TEST(Routing, LegacyWithoutLoginRefusesMissingCmecf) {
    auto c = make_court("nvb", court_system::legacy);
    auto d = decide(c, alice_with_pacer(), today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.via, route::refuse);
    EXPECT_EQ(d.refusal_status, 403);
    EXPECT_EQ(codes(d.warnings), std::vector<std::string>{"missing_cmecf_credential"});
}

TEST(Routing, NextGenWithoutPacerRefusesMissingPacer) {
    auto c = make_court("azb", court_system::nextgen);
    user_facts u;
    u.user = "bob";
    auto d = decide(c, u, today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.via, route::refuse);
    EXPECT_EQ(d.refusal_status, 403);
    EXPECT_EQ(codes(d.warnings), std::vector<std::string>{"missing_pacer_credential"});
}

TEST(Routing, SharedAccountServesWithOneWarning) {
    auto c = make_court("azb", court_system::nextgen);
    auto d = decide(c, alice_with_pacer(true), today_, unlinked_policy::block, now_);
    EXPECT_EQ(d.via, route::pacer);
    EXPECT_EQ(d.refusal_status, 0);
    EXPECT_EQ(codes(d.warnings), std::vector<std::string>{"shared_pacer_account"});
}

TEST(Routing, NextGenSinceDecidesTheSystem) {
    auto tomorrow = year_month_day{sys_days{today_} + days{1}};
    auto c = make_court("azb", court_system::nextgen, tomorrow);
    EXPECT_EQ(c.system_on(today_), court_system::legacy);
    EXPECT_EQ(c.system_on(tomorrow), court_system::nextgen);
    auto u = alice_with_pacer();
    u.ecf.emplace("azb", ecf_facts{"alice_az", credential_state::active, "", 1});
    auto d = decide(c, u, today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.via, route::cmecf);
    EXPECT_EQ(codes(d.warnings), std::vector<std::string>{"nextgen_cutover_soon"});
    // 31 days out: too far to warn.
    auto far = make_court("azb", court_system::nextgen, year_month_day{sys_days{today_} + days{31}});
    EXPECT_TRUE(decide(far, u, today_, unlinked_policy::warn, now_).warnings.empty());
}

TEST(Warnings, FailedAndMfaCredentialsRefuseWith502) {
    auto c = make_court("azb", court_system::nextgen);
    auto u = alice_with_pacer();
    u.links.insert("azb");
    u.pacer->state = credential_state::failed;
    u.pacer->state_detail = "Login failed";
    auto d = decide(c, u, today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.refusal_status, 502);
    EXPECT_EQ(codes(d.warnings), std::vector<std::string>{"login_failed"});
    u.pacer->state = credential_state::mfa_required;
    d = decide(c, u, today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.refusal_status, 502);
    EXPECT_EQ(codes(d.warnings), std::vector<std::string>{"mfa_required"});

    auto legacy = make_court("nvb", court_system::legacy);
    u.ecf.emplace("nvb", ecf_facts{"alice_nv", credential_state::failed, "Invalid ID or password", 2});
    d = decide(legacy, u, today_, unlinked_policy::warn, now_);
    EXPECT_EQ(d.refusal_status, 502);
    EXPECT_EQ(codes(d.warnings), std::vector<std::string>{"login_failed"});
}

TEST(Warnings, PasswordAgeWarnsAfter165DaysWithDaysLeft) {
    auto c = make_court("azb", court_system::nextgen);
    auto u = alice_with_pacer();
    u.links.insert("azb");
    u.pacer->password_set_at = now_ - 165 * 86400;
    EXPECT_FALSE(has(decide(c, u, today_, unlinked_policy::warn, now_).warnings, warning_code::pacer_password_age));
    u.pacer->password_set_at = now_ - 170 * 86400;
    auto d = decide(c, u, today_, unlinked_policy::warn, now_);
    ASSERT_TRUE(has(d.warnings, warning_code::pacer_password_age));
    EXPECT_NE(d.warnings[0].message.find("10 days left"), std::string::npos) << d.warnings[0].message;
}

TEST(Warnings, RuntimeFactsBecomeWarnings) {
    auto c = make_court("azb", court_system::nextgen);
    auto u = alice_with_pacer();
    u.links.insert("azb");
    u.runtime.pacer_notice = "Your password expires in 10 days.";
    u.runtime.session_rejected.insert("azb");
    u.observed["azb"] = link_observation{"azb", false, now_ - 60, "page"};  // the limited menu
    auto d = decide(c, u, today_, unlinked_policy::warn, now_);
    EXPECT_TRUE(has(d.warnings, warning_code::pacer_notice));
    EXPECT_TRUE(has(d.warnings, warning_code::session_rejected));
    EXPECT_TRUE(has(d.warnings, warning_code::link_mismatch));
    for (auto& w : d.warnings) EXPECT_EQ(w.header_value().find('\n'), std::string::npos);
}

TEST(Warnings, LinkMismatchInEitherDirection) {
    auto c = make_court("azb", court_system::nextgen);
    struct row {
        bool linked, shared;
        std::optional<bool> filing;  // what the court showed; none: never observed
        bool mismatch;
    };
    const row rows[] = {
        {true, false, true, false},           // linked and the filing menus: as recorded
        {true, false, false, true},           // recorded, but only the limited menu shows
        {false, false, true, true},           // the filing menus, but no link recorded
        {false, false, false, false},         // not linked, limited menu: consistent (unlinked_nextgen says it)
        {false, true, true, false},           // a shared account is not expected to be linked
        {true, false, std::nullopt, false},   // never observed: nothing to contradict
    };
    for (const auto& r : rows) {
        auto u = alice_with_pacer();
        u.pacer->shared = r.shared;
        if (r.linked) u.links.insert("azb");
        if (r.filing) u.observed["azb"] = link_observation{"azb", *r.filing, now_ - 60, "verify"};
        SCOPED_TRACE(testing::Message() << "linked=" << r.linked << " shared=" << r.shared
                                        << " filing=" << (r.filing ? int(*r.filing) : -1));
        EXPECT_EQ(link_disagrees(c, u), r.mismatch);
        EXPECT_EQ(has(decide(c, u, today_, unlinked_policy::warn, now_).warnings, warning_code::link_mismatch),
                  r.mismatch);
        EXPECT_EQ(relevant_courts(u).contains("azb"), r.linked || r.filing.has_value());
    }
}

TEST(Warnings, HeaderValueNeverCarriesControlCharacters) {
    warning w{warning_code::pacer_notice, "alice", "", "PACER says: a\r\nInjected: yes\x01"};
    auto v = w.header_value();
    EXPECT_EQ(v.find('\r'), std::string::npos);
    EXPECT_EQ(v.find('\n'), std::string::npos);
    EXPECT_EQ(v.find('\x01'), std::string::npos);
}

TEST(Warnings, ComputeCoversRegistryErrorsCutoversAndRelevantCourts) {
    namespace fs = std::filesystem;
    auto dir = fs::temp_directory_path() / ("courtroute-policy-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; };
    auto soon = to_string(year_month_day{sys_days{today()} + days{10}});
    write("azb.toml", "id = \"azb\"\nname = \"A\"\ntype = \"bankruptcy\"\necf_url = \"https://ecf.azb.uscourts.gov\"\n"
                      "system = \"nextgen\"\n");
    write("nvb.toml", "id = \"nvb\"\nname = \"N\"\ntype = \"bankruptcy\"\necf_url = \"https://ecf.nvb.uscourts.gov\"\n"
                      "system = \"legacy\"\nnextgen_since = " + soon + "\n");
    write("bad.toml", "id = \"bad\"\nbogus = 1\n");
    auto reg = registry::load({dir});
    auto u = alice_with_pacer();
    u.ecf.emplace("nvb", ecf_facts{"alice_nv", credential_state::active, "", 1});
    u.runtime.courts_used.insert("azb");
    auto ws = compute_warnings(*reg, {u}, today(), unix_now());
    auto cs = codes(ws);
    EXPECT_NE(std::find(cs.begin(), cs.end(), "registry_error"), cs.end());
    EXPECT_NE(std::find(cs.begin(), cs.end(), "nextgen_cutover_soon"), cs.end());
    EXPECT_NE(std::find(cs.begin(), cs.end(), "unlinked_nextgen"), cs.end());

    report_input in;
    in.reg = reg.get();
    in.users = {u};
    in.today = today();
    in.now_unix = unix_now();
    auto doc = status_report(in);
    EXPECT_EQ(doc.at("registry").at("courts").as_int64(), 2);
    EXPECT_EQ(doc.at("registry").at("legacy").as_int64(), 1);
    auto& errors = doc.at("registry").at("errors").as_array();
    ASSERT_FALSE(errors.empty());  // every problem of bad.toml (unknown key, missing keys), nothing else
    for (auto& e : errors) EXPECT_NE(e.at("file").as_string().find("bad.toml"), boost::json::string::npos);
    auto& courts = doc.at("users").at(0).at("courts").as_array();
    EXPECT_EQ(courts.size(), 2u);
    fs::remove_all(dir);
}

TEST(LinkRules, RefusedAtLegacyForSharedAndWhenAlreadyLinked) {
    auto nextgen = make_court("azb", court_system::nextgen);
    auto legacy = make_court("nvb", court_system::legacy);
    auto u = alice_with_pacer();
    EXPECT_FALSE(link_refusal(nextgen, u, today_));
    EXPECT_TRUE(link_refusal(legacy, u, today_));
    u.links.insert("azb");
    auto again = link_refusal(nextgen, u, today_);
    ASSERT_TRUE(again);
    EXPECT_NE(again->find("already"), std::string::npos);
    auto shared = alice_with_pacer(true);
    EXPECT_TRUE(link_refusal(nextgen, shared, today_));
    // A link may be recorded before the PACER login is stored.
    user_facts bare;
    bare.user = "carol";
    EXPECT_FALSE(link_refusal(nextgen, bare, today_));
}

TEST(LinkRules, EcfSetRefusedOnlyAtALinkedNextGenCourt) {
    auto nextgen = make_court("azb", court_system::nextgen);
    auto legacy = make_court("nvb", court_system::legacy);
    auto u = alice_with_pacer();
    EXPECT_FALSE(ecf_set_refusal(nextgen, u, today_));
    EXPECT_FALSE(ecf_set_refusal(legacy, u, today_));
    u.links.insert("azb");
    EXPECT_TRUE(ecf_set_refusal(nextgen, u, today_));
}

namespace {

/// A registry of three courts written to a temporary folder: azb and azd NextGen, nvb legacy
/// until `nvb_since` (if any).
struct todo_registry {
    std::filesystem::path dir;
    std::shared_ptr<const registry> reg;

    explicit todo_registry(std::optional<day> nvb_since = std::nullopt) {
        namespace fs = std::filesystem;
        dir = fs::temp_directory_path() / ("courtroute-todo-" + std::to_string(::getpid()));
        fs::create_directories(dir);
        auto write = [&](const std::string& id, const char* type, const char* sys, const std::string& extra) {
            std::ofstream(dir / (id + ".toml"))
                << "id = \"" << id << "\"\nname = \"" << id << "\"\ntype = \"" << type << "\"\necf_url = \"https://ecf."
                << id << ".uscourts.gov\"\nsystem = \"" << sys << "\"\n" << extra;
        };
        write("azb", "bankruptcy", "nextgen", "");
        write("azd", "district", "nextgen", "");
        write("nvb", "bankruptcy", "legacy", nvb_since ? "nextgen_since = " + to_string(*nvb_since) + "\n" : "");
        reg = registry::load({dir});
    }
    ~todo_registry() { std::filesystem::remove_all(dir); }
};

std::string status_text(const registry& reg, const std::vector<user_facts>& users) {
    report_input in;
    in.reg = &reg;
    in.users = users;
    in.today = today_;
    in.now_unix = now_;
    return status_table(status_report(in));
}

} // namespace

// CONTRACT §6 status and issue 10: the warnings read as a to-do list, worst first, each line
// ending with the step to take.
TEST(Todo, NewUserIsToldToStorePacerThenToLink) {
    todo_registry r;
    user_facts bob;
    bob.user = "bob";
    auto ws = compute_warnings(*r.reg, {bob}, today_, now_);
    ASSERT_EQ(codes(ws), std::vector<std::string>{"missing_pacer_credential"});
    EXPECT_EQ(ws[0].court, "");
    EXPECT_NE(ws[0].message.find("2 of 3 courts"), std::string::npos) << ws[0].message;
    EXPECT_NE(ws[0].message.find("courtroute pacer set bob --login LOGIN"), std::string::npos);

    // With a PACER login and no link anywhere: the one-time link, and the courts used so far.
    auto alice = alice_with_pacer();
    ws = compute_warnings(*r.reg, {alice}, today_, now_);
    ASSERT_EQ(codes(ws), std::vector<std::string>{"unlinked_nextgen"});
    EXPECT_NE(ws[0].message.find("none used yet"), std::string::npos) << ws[0].message;
    EXPECT_NE(ws[0].message.find("courtroute verify alice COURT"), std::string::npos);
    alice.runtime.courts_used = {"azd", "azb", "nvb"};
    ws = compute_warnings(*r.reg, {alice}, today_, now_);
    auto account = std::find_if(ws.begin(), ws.end(), [](const warning& w) { return w.court.empty(); });
    ASSERT_NE(account, ws.end());
    EXPECT_NE(account->message.find("used: azb, azd)"), std::string::npos) << account->message;  // NextGen ones only

    // One link recorded: that account-wide line is gone, the per-court lines stay.
    alice.links.insert("azb");
    alice.pacer->has_totp = true;
    ws = compute_warnings(*r.reg, {alice}, today_, now_);
    for (auto& w : ws) EXPECT_FALSE(w.code == warning_code::unlinked_nextgen && w.court.empty()) << w.message;
    EXPECT_TRUE(has(ws, warning_code::unlinked_nextgen));  // azd
}

TEST(Todo, MfaIsExpectedOnlyOfIndividualFilingAccountsWithoutASecret) {
    todo_registry r;
    auto alice = alice_with_pacer();
    auto mfa = [&](const user_facts& u) { return has(compute_warnings(*r.reg, {u}, today_, now_), warning_code::mfa_required); };
    EXPECT_FALSE(mfa(alice)) << "no sign of filing rights yet";
    alice.observed.emplace("azb", link_observation{"azb", true, now_, "page"});
    EXPECT_TRUE(mfa(alice)) << "filing menus shown: PACER asks filers for a passcode";
    alice.observed.clear();
    alice.links.insert("azd");
    EXPECT_TRUE(mfa(alice)) << "a recorded link";
    alice.pacer->has_totp = true;
    EXPECT_FALSE(mfa(alice)) << "a TOTP secret is stored";
    auto shared = alice_with_pacer(true);
    shared.runtime.pacer_notice = "Multi-factor authentication will be required";
    EXPECT_FALSE(mfa(shared)) << "a shared account cannot file";
    auto noticed = alice_with_pacer();
    noticed.runtime.pacer_notice = "You will be asked for a one-time PASSCODE from 2026-12-01";
    EXPECT_TRUE(mfa(noticed)) << "PACER's own notice announces it";
    // The decision for a request never carries it: it is the status's advice, not the answer's.
    EXPECT_FALSE(has(decide(*r.reg->find_id("azd"), alice_with_pacer(), today_, unlinked_policy::warn, now_).warnings,
                     warning_code::mfa_required));
}

TEST(Todo, WorstFirstAndEveryLineEndsWithAStep) {
    todo_registry r(day{sys_days{today_} + days{12}});
    auto alice = alice_with_pacer();
    alice.pacer->password_set_at = now_ - 170 * 86400;          // soon
    alice.runtime.courts_used = {"azb"};                         // cannot file (unlinked)
    alice.ecf.emplace("nvb", ecf_facts{"alice_nv", credential_state::failed, "Invalid ID or password", 3});  // blocked
    user_facts bob;
    bob.user = "bob";                                            // blocked (no PACER)
    auto ws = compute_warnings(*r.reg, {alice, bob}, today_, now_);
    ASSERT_GE(ws.size(), 5u);
    auto rank = [](const warning& w) { return severity(w.code, w.user == "alice"); };
    EXPECT_TRUE(std::is_sorted(ws.begin(), ws.end(), [&](const warning& a, const warning& b) { return rank(a) < rank(b); }));
    EXPECT_EQ(severity(ws.front().code), warning_severity::blocked);
    EXPECT_EQ(severity(ws.back().code), warning_severity::soon);
    for (auto& w : ws) {
        bool step = w.message.find("courtroute ") != std::string::npos;
        EXPECT_TRUE(step) << to_string(w.code) << ": " << w.message;
    }
    // The cutover, for a filer of that court: the steps to take on that date, the link included.
    auto cut = std::find_if(ws.begin(), ws.end(), [](const warning& w) {
        return w.code == warning_code::nextgen_cutover_soon && w.user == "alice";
    });
    ASSERT_NE(cut, ws.end());
    EXPECT_NE(cut->message.find("on that date log in at https://ecf.nvb.uscourts.gov"), std::string::npos)
        << cut->message;
    EXPECT_NE(cut->message.find("courtroute link alice nvb"), std::string::npos);

    // The table: numbered lines in that order, labelled, and each court row points at its lines.
    auto text = status_text(*r.reg, {alice, bob});
    auto first = text.find("  1. [blocked] ");
    auto last = text.find("[soon]");
    ASSERT_NE(first, std::string::npos) << text;
    ASSERT_NE(last, std::string::npos) << text;
    EXPECT_LT(first, last);
    EXPECT_NE(text.find("to do, worst first:"), std::string::npos);
    EXPECT_NE(text.find("nvb        legacy   cmecf   credential failed (to do "), std::string::npos) << text;
    EXPECT_NE(text.find("azb        nextgen  pacer   not linked (to do "), std::string::npos) << text;
    EXPECT_NE(text.find("user bob  pacer: - (none)\n  no court used yet"), std::string::npos) << text;
}

TEST(Todo, NothingToDoSaysSo) {
    todo_registry r;
    auto alice = alice_with_pacer();
    alice.pacer->has_totp = true;
    alice.links = {"azb", "azd"};
    EXPECT_TRUE(compute_warnings(*r.reg, {alice}, today_, now_).empty());
    auto text = status_text(*r.reg, {alice});
    EXPECT_NE(text.find("to do: nothing"), std::string::npos) << text;
    EXPECT_NE(text.find("azd        nextgen  pacer   linked\n"), std::string::npos) << text;
}

TEST(Todo, SeverityAndCodeNamesRoundTrip) {
    for (int i = 0; i <= static_cast<int>(warning_code::upstream_timeout); ++i) {
        auto c = static_cast<warning_code>(i);
        EXPECT_EQ(parse_warning_code(to_string(c)), c);
    }
    EXPECT_FALSE(parse_warning_code("bogus"));
    EXPECT_EQ(severity(warning_code::login_failed), warning_severity::blocked);
    EXPECT_EQ(severity(warning_code::link_mismatch), warning_severity::cannot_file);
    EXPECT_EQ(severity(warning_code::pacer_password_age), warning_severity::soon);
    EXPECT_EQ(severity(warning_code::mfa_required), warning_severity::blocked) << "PACER asked: logins fail";
    EXPECT_EQ(severity(warning_code::mfa_required, true), warning_severity::soon) << "advice while logins work";
}

TEST(FeeBudgets, PeriodsWarningsAndBlocks) {
    EXPECT_EQ(budget_period_start(fee_budgets::period_kind::month, now_), 1795564800 - 24 * 86400) << "2026-11-01";
    EXPECT_EQ(budget_period_start(fee_budgets::period_kind::quarter, now_), 1790812800) << "2026-10-01";
    fee_budgets b;
    b.user_limit = 1000;
    b.users["alice"] = 500;
    b.client_code_limit = 300;
    // Under every limit: nothing.
    auto v = check_budget(b, "alice", "m/1", 100, 100, 0, "azb");
    EXPECT_TRUE(v.warnings.empty());
    EXPECT_FALSE(v.block);
    // The user's own limit reached: a warning naming how to raise it.
    v = check_budget(b, "alice", "", 500, 0, 0, "azb");
    ASSERT_EQ(v.warnings.size(), 1u);
    EXPECT_EQ(v.warnings[0].code, warning_code::fee_budget);
    EXPECT_NE(v.warnings[0].message.find("$5.00 of the $5.00 monthly"), std::string::npos) << v.warnings[0].message;
    EXPECT_NE(v.warnings[0].message.find("users.alice"), std::string::npos);
    // A document that would pass the client code's limit: warned (warn) or refused (block).
    v = check_budget(b, "bob", "m/1", 0, 250, 100, "azb");
    ASSERT_EQ(v.warnings.size(), 1u);
    EXPECT_FALSE(v.block);
    EXPECT_NE(v.warnings[0].message.find("this document costs $1.00 and would pass it"), std::string::npos);
    EXPECT_NE(v.warnings[0].message.find("client_code_limit"), std::string::npos);
    b.action = fee_budgets::action_kind::block;
    v = check_budget(b, "bob", "m/1", 0, 250, 100, "azb");
    EXPECT_TRUE(v.block);
    EXPECT_NE(v.text.find("before the court charged it"), std::string::npos);
    EXPECT_NE(v.text.find("Courtroute-Client-Code"), std::string::npos);
    // A limit already reached blocks nothing that costs nothing more (pages without a quote).
    v = check_budget(b, "alice", "", 900, 0, 0, "azb");
    EXPECT_FALSE(v.block);
    EXPECT_EQ(v.warnings.size(), 1u);
}
