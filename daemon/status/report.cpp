#include "status/report.hpp"

#include <boost/json.hpp>
#include <map>

#include "auth/acms.hpp"
#include "core/text.hpp"

namespace courtroute {

namespace json = boost::json;

json::object status_report(const report_input& in) {
    json::object doc;
    doc["version"] = COURTROUTE_VERSION;
    doc["uptime_s"] = in.uptime_s;

    json::object reg;
    std::int64_t nextgen = 0, legacy = 0;
    for (auto& c : in.reg->courts()) (c.system_on(in.today) == court_system::nextgen ? nextgen : legacy)++;
    reg["courts"] = static_cast<std::int64_t>(in.reg->courts().size());
    reg["nextgen"] = nextgen;
    reg["legacy"] = legacy;
    json::array errors;
    for (auto& e : in.reg->errors())
        errors.push_back(json::object{{"file", e.file}, {"line", e.line}, {"column", e.column}, {"message", e.message}});
    reg["errors"] = std::move(errors);
    doc["registry"] = std::move(reg);

    json::array users;
    for (auto& u : in.users) {
        json::object user;
        user["user"] = u.user;
        json::object pacer;
        if (u.pacer) {
            pacer["login"] = u.pacer->login;
            pacer["client_code"] = u.pacer->client_code;
            pacer["shared"] = u.pacer->shared;
            pacer["totp"] = u.pacer->has_totp;
            pacer["state"] = to_string(u.pacer->state);
            if (u.runtime.pacer_expires_at) pacer["expires_at"] = *u.runtime.pacer_expires_at;
            else pacer["expires_at"] = nullptr;
        } else {
            pacer["login"] = nullptr;
            pacer["shared"] = false;
            pacer["state"] = "none";
            pacer["expires_at"] = nullptr;
        }
        user["pacer"] = std::move(pacer);
        json::array courts;
        for (auto& id : relevant_courts(u)) {
            const court* c = in.reg->find_id(id);
            if (!c) continue;
            auto sys = c->system_on(in.today);
            auto d = decide(*c, u, in.today, unlinked_policy::warn, in.now_unix);
            json::object row{{"court", c->id}, {"system", to_string(sys)}, {"route", to_string(d.via)}};
            if (sys == court_system::nextgen) {
                row["linked"] = u.links.contains(c->id);
                // What the court itself showed, when, and who looked (PROTOCOL.md §5).
                if (auto o = u.observed.find(c->id); o != u.observed.end())
                    row["observed"] = json::object{{"menus", o->second.filing_menus ? "filing" : "limited"},
                                                   {"at", utc_time(o->second.observed_at, "%Y-%m-%dT%H:%M:%SZ")},
                                                   {"source", o->second.source}};
                // ACMS (its pages host among extra_hosts): its own session (PROTOCOL.md §10).
                if (std::any_of(c->extra_hosts.begin(), c->extra_hosts.end(), [](const std::string& h) {
                        return auth::acms::kind_of(h) == auth::acms::host_kind::pages;
                    })) {
                    json::object acms{{"state", "none"}};
                    if (auto a = u.runtime.acms.find(c->id); a != u.runtime.acms.end()) {
                        acms["state"] = a->second.state == acms_state::signed_in ? "signed_in" : "failed";
                        acms["at"] = utc_time(a->second.at, "%Y-%m-%dT%H:%M:%SZ");
                        if (!a->second.reason.empty()) acms["reason"] = a->second.reason;
                    }
                    row["acms"] = std::move(acms);
                }
            } else {
                auto it = u.ecf.find(c->id);
                row["credential"] = it == u.ecf.end() ? "none" : to_string(it->second.state);
            }
            courts.push_back(std::move(row));
        }
        user["courts"] = std::move(courts);
        users.push_back(std::move(user));
    }
    doc["users"] = std::move(users);

    json::array warnings;
    for (auto& w : compute_warnings(*in.reg, in.users, in.today, in.now_unix))
        warnings.push_back(
            json::object{{"user", w.user}, {"court", w.court}, {"code", to_string(w.code)}, {"message", w.message}});
    doc["warnings"] = std::move(warnings);
    return doc;
}

bool pacer_works(const json::object& report, std::string_view user) {
    for (auto& u : report.at("users").as_array()) {
        auto& o = u.as_object();
        if (o.at("user").as_string() == user) return o.at("pacer").as_object().at("state").as_string() == "active";
    }
    return false;
}

namespace {
std::string str(const json::value& v) {
    if (v.is_string()) return std::string(v.get_string());
    if (v.is_null()) return "-";
    if (v.is_bool()) return v.get_bool() ? "yes" : "no";
    return json::serialize(v);
}

// One line of the to-do list: `N. [severity] user @ court: message`, the message ending with
// the next step.
std::string todo_line(std::size_t n, const json::object& w, bool pacer_works) {
    auto code = parse_warning_code(str(w.at("code"))).value_or(warning_code::registry_error);
    std::string who = str(w.at("user")), where = str(w.at("court"));
    std::string scope = who.empty() ? where : where.empty() ? who : who + " @ " + where;
    return "  " + std::to_string(n) + ". [" + std::string(to_string(severity(code, pacer_works))) + "] " + scope +
           ": " + str(w.at("message")) + "\n";
}

} // namespace

std::string status_table(const json::object& doc) {
    std::string out;
    auto& reg = doc.at("registry").as_object();
    out += "registry: " + str(reg.at("courts")) + " courts (" + str(reg.at("nextgen")) + " nextgen, " +
           str(reg.at("legacy")) + " legacy), " + std::to_string(reg.at("errors").as_array().size()) + " errors\n";

    // The to-do list first, worst first (the order of /status), numbered so the tables can point at it.
    auto& ws = doc.at("warnings").as_array();
    std::map<std::pair<std::string, std::string>, std::string> refs; // (user, court) -> "1, 3"
    if (ws.empty()) {
        out += "\nto do: nothing\n";
    } else {
        out += "\nto do, worst first:\n";
        std::size_t n = 0;
        for (auto& wv : ws) {
            auto& w = wv.as_object();
            out += todo_line(++n, w, pacer_works(doc, str(w.at("user"))));
            auto& r = refs[{str(w.at("user")), str(w.at("court"))}];
            r += (r.empty() ? "" : ", ") + std::to_string(n);
        }
    }
    for (auto& uv : doc.at("users").as_array()) {
        auto& u = uv.as_object();
        auto& p = u.at("pacer").as_object();
        const std::string user = str(u.at("user"));
        out += "\nuser " + user + "  pacer: " + str(p.at("login")) + " (" + str(p.at("state")) +
               (p.at("shared").as_bool() ? ", shared" : "") + ")\n";
        auto& courts = u.at("courts").as_array();
        if (courts.empty()) {
            out += "  no court used yet\n";
            continue;
        }
        char line[240];
        std::snprintf(line, sizeof line, "  %-10s %-8s %-7s %s\n", "COURT", "SYSTEM", "ROUTE", "LINK/CREDENTIAL");
        out += line;
        for (auto& cv : courts) {
            auto& c = cv.as_object();
            const std::string id = str(c.at("court"));
            std::string extra = c.contains("linked") ? (c.at("linked").as_bool() ? "linked" : "not linked")
                                                     : "credential " + str(c.at("credential"));
            if (auto* o = c.if_contains("observed"); o && o->is_object())
                extra += "; court showed " + str(o->as_object().at("menus")) + " menus " +
                         str(o->as_object().at("at")).substr(0, 10);
            if (auto* a = c.if_contains("acms"); a && a->is_object())
                extra += "; ACMS " + str(a->as_object().at("state")) +
                         (a->as_object().contains("at") ? " " + str(a->as_object().at("at")).substr(0, 16) : "");
            if (auto r = refs.find({user, id}); r != refs.end()) extra += " (to do " + r->second + ")";
            std::snprintf(line, sizeof line, "  %-10s %-8s %-7s %s\n", id.c_str(), str(c.at("system")).c_str(),
                          str(c.at("route")).c_str(), extra.c_str());
            out += line;
        }
    }
    return out;
}

} // namespace courtroute
