#include "status/page.hpp"

#include <boost/json.hpp>

#include "core/text.hpp"
#include "policy/policy.hpp"
#include "status/report.hpp"

namespace courtroute {

namespace json = boost::json;

namespace {

std::string esc(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 16);
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string text_of(const json::value* v) {
    if (!v || v->is_null()) return {};
    if (v->is_string()) return std::string(v->get_string());
    if (v->is_bool()) return v->get_bool() ? "yes" : "no";
    return json::serialize(*v);
}

std::string text_of(const json::object& o, std::string_view key) { return text_of(o.if_contains(key)); }

constexpr std::string_view style = R"(
body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;color:#1b1b1b;background:#fff}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin:1.6rem 0 .5rem}
.meta{color:#454545;margin:.2rem 0}
ol.todo{padding-left:1.6rem}ol.todo>li{margin:.55rem 0;padding-left:.3rem}ol.steps{margin:.3rem 0;padding-left:1.4rem}ol.steps li{margin:.15rem 0}
.sev{display:inline-block;min-width:6.5rem;font-weight:700;padding:0 .4rem;border-radius:.25rem;margin-right:.4rem}
.blocked .sev{background:#b50909;color:#fff}.cannot-file .sev{background:#8a4b00;color:#fff}.soon .sev{background:#1a4480;color:#fff}
.where{font-weight:700}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #c6cace;vertical-align:top}
thead th{border-bottom:2px solid #565c65}tbody th{font-weight:600}
.ok{color:#00612e;font-weight:600}.no{color:#b50909;font-weight:600}.name{display:block;font-weight:400;color:#454545;font-size:.9rem}
a{color:#005ea2}footer{margin-top:2rem;color:#454545;font-size:.9rem}
)";

std::string severity_class(warning_severity s) {
    switch (s) {
    case warning_severity::blocked: return "blocked";
    case warning_severity::cannot_file: return "cannot-file";
    case warning_severity::soon: return "soon";
    }
    return "blocked";
}

std::string pacer_line(const json::object& pacer) {
    std::string state = text_of(pacer, "state");
    if (state == "none") return "No PACER login is stored.";
    std::string line = "PACER login " + esc(text_of(pacer, "login")) + ": " + esc(state);
    if (auto* shared = pacer.if_contains("shared"); shared && shared->is_bool() && shared->get_bool())
        line += " (a shared firm account: it can search but not file)";
    if (auto* exp = pacer.if_contains("expires_at"); exp && exp->is_int64())
        line += "; the session runs until " + esc(utc_time(exp->get_int64(), "%H:%M UTC"));
    return line + ".";
}

} // namespace

std::string status_page(const json::object& doc, const std::string& user, const registry& reg,
                        std::int64_t now_unix) {
    const json::object* me = nullptr;
    for (auto& u : doc.at("users").as_array())
        if (u.as_object().at("user").as_string() == user) me = &u.as_object();

    std::string out;
    out.reserve(8192);
    out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta http-equiv=\"refresh\" content=\"" + std::to_string(status_page_refresh_s) + "\">\n"
           "<title>courtroute: " + esc(user) + "</title>\n<style>" + std::string(style) + "</style>\n</head>\n<body>\n";
    out += "<header>\n<h1>courtroute for " + esc(user) + "</h1>\n";
    if (me) out += "<p class=\"meta\">" + pacer_line(me->at("pacer").as_object()) + "</p>\n";
    out += "<p class=\"meta\">Updated " + esc(utc_time(now_unix, "%Y-%m-%d %H:%M:%S UTC")) + "; this page refreshes every " +
           std::to_string(status_page_refresh_s) + " seconds.</p>\n</header>\n<main>\n";

    // The to-do list: the user's warnings (and the registry's), worst first, as /status orders them.
    auto& ws = doc.at("warnings").as_array();
    out += "<section aria-labelledby=\"todo\">\n<h2 id=\"todo\">To do";
    out += ws.empty() ? "</h2>\n<p>Nothing to do: every court you use is ready.</p>\n"
                      : " (" + std::to_string(ws.size()) + ", worst first)</h2>\n<ol class=\"todo\">\n";
    for (auto& wv : ws) {
        auto& w = wv.as_object();
        auto code = parse_warning_code(text_of(w, "code")).value_or(warning_code::registry_error);
        auto sev = severity(code, pacer_works(doc, text_of(w, "user")));
        std::string where = text_of(w, "court");
        out += "<li class=\"" + severity_class(sev) + "\"><span class=\"sev\">" + esc(to_string(sev)) + "</span>";
        if (!where.empty()) out += "<span class=\"where\">" + esc(where) + "</span>: ";
        const court* at = where.empty() ? nullptr : reg.find_id(where);
        if (code == warning_code::unlinked_nextgen && at) {
            // The linking steps inline, one per line: what the attorney does at the court.
            out += "no link is recorded here, so the filing menus will be missing. Link your CM/ECF account once "
                   "(<code>unlinked_nextgen</code>):\n<ol class=\"steps\">\n";
            for (auto& step : linking_step_list(*at, user)) out += "<li>" + esc(step) + "</li>\n";
            out += "</ol></li>\n";
            continue;
        }
        out += esc(text_of(w, "message")) + " <code>" + esc(text_of(w, "code")) + "</code></li>\n";
    }
    if (!ws.empty()) out += "</ol>\n";
    out += "</section>\n";

    out += "<section aria-labelledby=\"courts\">\n<h2 id=\"courts\">Your courts</h2>\n";
    const json::array* courts = me ? &me->at("courts").as_array() : nullptr;
    if (!courts || courts->empty()) {
        out += "<p>No court used yet. Point your browser at this proxy (the PAC file is at "
               "<code>/proxy.pac</code>) and open a court's CM/ECF site.</p>\n";
    } else {
        out += "<table>\n<thead><tr><th scope=\"col\">Court</th><th scope=\"col\">System</th>"
               "<th scope=\"col\">Signs in with</th><th scope=\"col\">Link or login</th>"
               "<th scope=\"col\">What the court last showed</th></tr></thead>\n<tbody>\n";
        for (auto& cv : *courts) {
            auto& c = cv.as_object();
            std::string id = text_of(c, "court");
            const court* known = reg.find_id(id);
            out += "<tr><th scope=\"row\">";
            if (known) out += "<a href=\"" + esc(known->ecf_url) + "/\">" + esc(id) + "</a>";
            else out += esc(id);
            if (known) out += "<span class=\"name\">" + esc(known->name) + "</span>";
            std::string route = text_of(c, "route");
            out += "</th><td>" + std::string(text_of(c, "system") == "nextgen" ? "NextGen" : "legacy") + "</td><td>" +
                   (route == "pacer" ? "your PACER account" : route == "cmecf" ? "the court's CM/ECF login" : "nothing (refused)") +
                   "</td><td>";
            if (auto* linked = c.if_contains("linked"); linked && linked->is_bool())
                out += linked->get_bool() ? "<span class=\"ok\">linked</span>" : "<span class=\"no\">not linked</span>";
            else {
                std::string cred = text_of(c, "credential");
                out += cred == "active" ? "<span class=\"ok\">login stored</span>"
                                        : "<span class=\"no\">login " + esc(cred) + "</span>";
            }
            out += "</td><td>";
            if (auto* o = c.if_contains("observed"); o && o->is_object()) {
                auto& obs = o->as_object();
                out += (text_of(obs, "menus") == "filing" ? "the filing menus" : "the limited menu (not linked)");
                out += ", " + esc(text_of(obs, "at").substr(0, 10));
            } else {
                out += "&mdash;";
            }
            out += "</td></tr>\n";
        }
        out += "</tbody>\n</table>\n";
    }
    out += "</section>\n</main>\n<footer>courtroute " + esc(text_of(doc, "version")) +
           ". Only your own courts are shown; passwords, tokens and sessions never leave the daemon.</footer>\n"
           "</body>\n</html>\n";
    return out;
}

} // namespace courtroute
