#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "auth/detect.hpp"
#include "core/text.hpp"

using namespace courtroute::auth;

TEST(Detect, UrlHost) {
    EXPECT_EQ(url_host("https://Pacer.Login.USCourts.gov/csologin/login.jsf"), "pacer.login.uscourts.gov");
    EXPECT_EQ(url_host("https://evil/?pacer.login.uscourts.gov"), "evil");
    EXPECT_EQ(url_host("https://pacer.login.uscourts.gov@evil.example/x"), "evil.example");
    EXPECT_EQ(url_host("https://evil.example:443#pacer.login.uscourts.gov"), "evil.example");
    EXPECT_EQ(url_host("//qa-login.uscourts.gov:8443/x"), "qa-login.uscourts.gov");
    EXPECT_EQ(url_host("https:\\\\pacer.login.uscourts.gov\\x"), "pacer.login.uscourts.gov");
    EXPECT_FALSE(url_host("/csologin/login.jsf"));
    EXPECT_FALSE(url_host("pacer.login.uscourts.gov/csologin/login.jsf"));
    EXPECT_FALSE(url_host("https://"));
    EXPECT_FALSE(url_host(""));
}

TEST(Detect, LoginHosts) {
    EXPECT_TRUE(is_login_host("pacer.login.uscourts.gov"));
    EXPECT_TRUE(is_login_host("PACER.LOGIN.USCOURTS.GOV."));
    EXPECT_TRUE(is_login_host("qa-login.uscourts.gov"));
    EXPECT_TRUE(is_login_host("other.login.uscourts.gov"));
    EXPECT_FALSE(is_login_host("ecf.azb.uscourts.gov"));
    EXPECT_FALSE(is_login_host("pacer.login.uscourts.gov.evil.example"));
    EXPECT_FALSE(is_login_host("evillogin.uscourts.gov"));
    EXPECT_FALSE(is_login_host(""));
}

namespace {
struct logged_out_case {
    const char* name;
    int status;
    const char* location;
    const char* content_type;
    const char* body;
    bool logged_out;
};
} // namespace

TEST(Detect, LooksLoggedOutTable) {
    const logged_out_case cases[] = {
        {"302 to PACER login", 302, "https://pacer.login.uscourts.gov/csologin/login.jsf?pscCourtId=AZBK", "", "", true},
        {"303 to QA login", 303, "https://qa-login.uscourts.gov/csologin/login.jsf", "", "", true},
        {"307 mixed case host", 307, "HTTPS://PACER.Login.UsCourts.Gov/x", "", "", true},
        {"301 to login host", 301, "https://pacer.login.uscourts.gov/", "", "", true},
        {"308 to login host", 308, "https://pacer.login.uscourts.gov/csologin/login.jsf", "", "", true},
        {"redirect host in query only", 302, "https://evil/?pacer.login.uscourts.gov", "", "", false},
        {"redirect userinfo trick", 302, "https://pacer.login.uscourts.gov@evil.example/", "", "", false},
        {"redirect to a legacy court's login form", 302, "https://ecf.nvb.uscourts.gov/cgi-bin/login.pl", "", "", true},
        {"relative redirect to login.pl with a query", 303, "/cgi-bin/login.pl?back=DktRpt.pl", "", "", true},
        {"redirect to logout is not a login", 302, "/cgi-bin/login.pl?logout", "", "", false},
        {"redirect to a look-alike path", 302, "/cgi-bin/login.pl.old", "", "", false},
        {"redirect within the court", 302, "/cgi-bin/DktRpt.pl?12345", "text/html", "", false},
        {"200 with Location is not a redirect", 200, "https://pacer.login.uscourts.gov/", "text/html", "<html>ok</html>", false},
        {"script redirect", 200, "", "text/html",
         "<html><head><script type=\"text/javascript\">window.location.href = "
         "'https://pacer.login.uscourts.gov/csologin/login.jsf?pscCourtId=AZBK&appurl=x';</script></head></html>",
         true},
        {"script with escaped slashes", 200, "", "text/html",
         "<script>var u = \"https:\\/\\/pacer.login.uscourts.gov\\/csologin\\/login.jsf\"; location.replace(u);</script>",
         true},
        {"meta refresh", 200, "", "text/html",
         "<html><meta http-equiv=\"Refresh\" content=\"0; url=https://pacer.login.uscourts.gov/csologin/login.jsf\"></html>",
         true},
        {"onload location", 200, "", "text/html",
         "<body onload=\"window.location='https://qa-login.uscourts.gov/csologin/login.jsf'\"></body>", true},
        {"script to look-alike host", 200, "", "text/html",
         "<script>location='https://pacer.login.uscourts.gov.evil.example/csologin/login.jsf'</script>", false},
        {"script with host only in a query", 200, "", "text/html",
         "<script>location='https://evil.example/?x=pacer.login.uscourts.gov/csologin/login.jsf'</script>", false},
        {"plain link to the login page", 200, "", "text/html",
         "<p>Location: Phoenix. <a href=\"https://pacer.login.uscourts.gov/csologin/login.jsf\">Log in</a></p>", false},
        {"XML not logged in", 200, "", "text/xml",
         "<?xml version=\"1.0\"?><request><message text='Not logged in.  Please refresh this page.'/></request>", true},
        {"XML not logged in, mislabelled", 200, "text/html", "",
         "<message text=\"Not logged in.  Please refresh this page.\"/>", true},
        {"XML with case numbers", 200, "", "text/xml",
         "<request><case number='2:24-bk-01234' id='1'/></request>", false},
        {"legacy login form", 200, "", "text/html",
         "<form method=POST action=\"/cgi-bin/login.pl\"><input type=text name=login>"
         "<input type=password name=key></form>",
         true},
        {"legacy login form, input named password", 200, "", "text/html",
         "<FORM ACTION='https://ecf.nvb.uscourts.gov/cgi-bin/login.pl?12345' METHOD='post'>"
         "<INPUT NAME='login'><INPUT NAME='password' TYPE='PASSWORD'></FORM>",
         true},
        {"search form, not a login", 200, "", "text/html",
         "<form action=\"/cgi-bin/iquery.pl\"><input name=key value=x></form>", false},
        {"logged-in page wins over a login script", 200, "", "text/html",
         "<a href=\"/cgi-bin/login.pl?logout\">Logout</a><script>function cc(){location.href="
         "'https://pacer.login.uscourts.gov/csologin/login.jsf';}</script>",
         false},
        {"logged-in page with a login form elsewhere", 200, "", "text/html",
         "<a href='/cgi-bin/login.pl?logout'>Log Out</a><form action=login.pl><input type=password name=key></form>",
         false},
        {"ordinary docket page", 200, "", "text/html", "<html><h3>Docket Report</h3><table></table></html>", false},
        {"empty 500", 500, "", "text/plain", "", false},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(looks_logged_out(c.status, c.location, c.content_type, c.body), c.logged_out) << c.name;
        auto lower = courtroute::to_lower(c.body);
        EXPECT_EQ(looks_logged_out(c.status, c.location, c.content_type, lower_body{lower}), c.logged_out) << c.name;
    }
}

TEST(Detect, Menus) {
    const char* bk_linked =
        "<ul><li><a href='/cgi-bin/DisplayMenu.pl?BankruptcyEvents'>Bankruptcy</a></li>"
        "<li><a href='/cgi-bin/DisplayMenu.pl?AdversaryEvents'> Adversary </a></li>"
        "<li><a href='/cgi-bin/iquery.pl'>Query</a></li><li><a>Reports</a></li><li><a>Utilities</a></li>"
        "<li><a href='/cgi-bin/login.pl?logout'>Logout</a></li></ul>";
    const char* dc_linked =
        "<a href='/cgi-bin/DisplayMenu.pl?CivilEvents'>Civil</a><a>Criminal</a><a>Query</a><a>Utilities</a>";
    const char* limited =
        "<title>U.S. Bankruptcy Court</title><a href='/cgi-bin/iquery.pl'>Query</a><a>Reports</a>"
        "<a>Utilities</a><a href='/cgi-bin/login.pl?logout'>Logout</a><p>Civil cases are heard downstairs</p>";
    EXPECT_TRUE(shows_filing_menus("bankruptcy", bk_linked));
    EXPECT_FALSE(shows_filing_menus("district", bk_linked));
    EXPECT_TRUE(shows_filing_menus("district", dc_linked));
    EXPECT_FALSE(shows_filing_menus("bankruptcy", limited));
    EXPECT_FALSE(shows_filing_menus("district", limited));
    EXPECT_FALSE(shows_filing_menus("appellate", dc_linked));
    EXPECT_FALSE(shows_filing_menus("unknown", dc_linked));
    EXPECT_TRUE(shows_limited_menu("bankruptcy", limited));
    EXPECT_FALSE(shows_limited_menu("other", limited)) << "a national court's own menus are not judged";
    EXPECT_FALSE(shows_limited_menu("bankruptcy", bk_linked));
    EXPECT_FALSE(shows_limited_menu("district", dc_linked));
    EXPECT_FALSE(shows_limited_menu("district", "<html>Docket Report</html>"));
    EXPECT_EQ(classify_menus("bankruptcy", bk_linked), menu_state::filing);
    EXPECT_EQ(classify_menus("bankruptcy", limited), menu_state::limited);
    EXPECT_EQ(classify_menus("district", "<html></html>"), menu_state::unknown);
}

// Saved page shapes: the main page a NextGen court serves after a PACER login, as the CM/ECF
// releases lay it out (a YUI menu bar of `DisplayMenu.pl` links at district and bankruptcy
// courts; the appellate courts' own bar with "Filing"), linked and not linked, each judged
// for its own court type.
TEST(Detect, MenusOnSavedCourtPages) {
    const std::string head =
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n<HTML><HEAD><TITLE>CM/ECF - U.S. "
        "Court</TITLE>\n<SCRIPT type=\"text/javascript\">var CSO_HOST='pacer.login.uscourts.gov';\n"
        "function changeClientCode(){ window.location='https://pacer.login.uscourts.gov/csologin/login.jsf"
        "?pscCourtId=X&appurl=' + escape(location.href); }</SCRIPT></HEAD>\n<BODY BGCOLOR=FFFFFF>\n"
        "<div id=\"topmenu\" class=\"yuimenubar\"><div class=\"bd\"><ul class=\"first-of-type\">\n";
    const std::string tail =
        "<li class=\"yuimenubaritem\"><a class=\"yuimenubaritemlabel\" href=\"/cgi-bin/login.pl?logout\">\n"
        "    Logout\n  </a></li></ul></div></div>\n<CENTER><IMG SRC=\"/graphics/seal.gif\"><P>Welcome to the "
        "court's Electronic Case Filing system. Criminal and civil cases, bankruptcy and adversary "
        "proceedings are filed here.</CENTER></BODY></HTML>\n";
    auto item = [](std::string href, std::string label) {
        return "<li class=\"yuimenubaritem\"><a class=\"yuimenubaritemlabel\" href=\"" + href + "\">" + label +
               "</a></li>\n";
    };
    const std::string query = item("/cgi-bin/iquery.pl", "Query"), reports = item("/cgi-bin/DisplayMenu.pl?Reports", "Reports"),
                      utilities = item("/cgi-bin/DisplayMenu.pl?Utilities&id=-1", "Utilities"),
                      search = item("#", "<img src=\"/graphics/search.gif\" alt=\"Search\">");
    struct page {
        const char* name;
        const char* type;
        std::string body;
        menu_state want;
    };
    const page pages[] = {
        {"bankruptcy, linked", "bankruptcy",
         head + item("/cgi-bin/DisplayMenu.pl?BankruptcyEvents&id=1307", "Bankruptcy") +
             item("/cgi-bin/DisplayMenu.pl?AdversaryEvents&id=1307", "Adversary") + query + reports + utilities + search + tail,
         menu_state::filing},
        {"bankruptcy, linked, trimmed to Adversary", "bankruptcy",
         head + item("/cgi-bin/DisplayMenu.pl?AdversaryEvents", "\n  Adversary\n") + query + utilities + tail,
         menu_state::filing},
        {"bankruptcy, not linked", "bankruptcy", head + query + reports + utilities + search + tail,
         menu_state::limited},
        {"district, linked", "district",
         head + item("/cgi-bin/DisplayMenu.pl?CivilEvents&id=882", "Civil") +
             item("/cgi-bin/DisplayMenu.pl?CriminalEvents&id=882", "Criminal") + query + reports + utilities + tail,
         menu_state::filing},
        {"district, not linked", "district", head + query + reports + utilities + tail, menu_state::limited},
        {"district page judged as bankruptcy", "bankruptcy",
         head + item("/cgi-bin/DisplayMenu.pl?CivilEvents", "Civil") + query + utilities + tail, menu_state::unknown},
        {"appellate, linked", "appellate",
         head + item("/n/beam/servlet/TransportRoom?servlet=CaseSelectionTable.jsp", "Filing") + query + reports +
             utilities + tail,
         menu_state::filing},
        {"appellate, linked, File a Document", "appellate",
         head + item("/n/beam/servlet/TransportRoom?servlet=DocketEntryFilingPage.jsp", "File a Document") + query +
             utilities + tail,
         menu_state::filing},
        {"appellate, not linked", "appellate", head + query + reports + utilities + tail, menu_state::limited},
        {"national court with its own menu", "other",
         head + item("/cgi-bin/DisplayMenu.pl?MDLEvents", "MDL") + query + utilities + tail, menu_state::unknown},
        {"national court, civil menu", "other",
         head + item("/cgi-bin/DisplayMenu.pl?CivilEvents", "Civil") + query + utilities + tail, menu_state::filing},
        {"docket report (no menu bar)", "district",
         "<html><body><h3>CIVIL DOCKET FOR CASE #: 2:24-cv-00001</h3><table><tr><td>Civil</td></tr></table></body></html>",
         menu_state::unknown},
        {"login page", "district",
         "<html><form method=post action=\"/cgi-bin/login.pl\"><input type=password name=key></form></html>",
         menu_state::unknown},
    };
    for (auto& p : pages) {
        EXPECT_EQ(classify_menus(p.type, p.body), p.want) << p.name;
        auto lower = courtroute::to_lower(p.body);
        EXPECT_EQ(classify_menus(p.type, lower_body{lower}), p.want) << p.name << " (lower-cased once)";
    }
}

namespace {
/// `piece` repeated up to `size` bytes (the proxy reads HTML/XML answers whole up to 4 MiB).
std::string repeated(std::string_view piece, std::size_t size = 4u << 20) {
    std::string out;
    out.reserve(size + piece.size());
    while (out.size() < size) out += piece;
    return out;
}
} // namespace

// A hostile court page of 4 MiB must be judged in linear-ish time: the proxy runs these checks
// on every HTML/XML answer, on its io thread. The budget is generous (a noisy 2-core machine,
// AddressSanitizer builds); the quadratic scans this guards against took hours.
TEST(Detect, HostileBodiesAreJudgedQuickly) {
    using clock = std::chrono::steady_clock;
    // 2 s per check (about 0.15 s in the normal build). The sanitizer build runs at -O0 with
    // ASan, about ten times slower, beside the fuzzers on a shared machine: 10 s there. Either
    // way a quadratic scan, hours on these bodies, fails.
#if defined(__SANITIZE_ADDRESS__)
    constexpr long budget_ms = 10'000;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    constexpr long budget_ms = 10'000;
#else
    constexpr long budget_ms = 2'000;
#endif
#else
    constexpr long budget_ms = 2'000;
#endif
    const std::pair<const char*, std::string> bodies[] = {
        {"login.jsf markers without separators", repeated("csologin/login.jsf")},
        {"login.jsf markers in one script", "<script>" + repeated("xcsologin/login.jsf")},
        {"escaped slashes and markers", "<script>" + repeated("\\/csologin\\/login.jsf")},
        {"<form without '>'", repeated("<form action=login.pl ")},
        {"<form with login.pl and no </form>", repeated("<form action=login.pl><input ")},
        {"<script opens without close", repeated("<script ")},
        {"<script opens with markers", repeated("<script>csologin/login.jsf")},
        {"<meta without '>'", repeated("<meta http-equiv=refresh ")},
        {"<message without '>'", repeated("<message ")},
        {"location assignments, unclosed quote", repeated("location='")},
        {"location assignments with markers", "location='" + repeated("location='csologin/login.jsf ")},
        {"attribute names in one tag", "<form " + repeated("action action")},
        {"menu labels and spaces", repeated("Civil   Query   Utilities   ")},
    };
    auto within_budget = [budget_ms](const char* name, const char* check, auto&& judge) {
        auto start = clock::now();
        (void)judge();
        auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
        EXPECT_LT(took.count(), budget_ms) << name << ": " << check << " took " << took.count() << " ms";
    };
    for (const auto& entry : bodies) {
        const char* name = entry.first;
        const std::string& body = entry.second;  // not a structured binding: clang 14 cannot capture one
        within_budget(name, "looks_logged_out (HTML)", [&] { return looks_logged_out(200, "", "text/html", body); });
        within_budget(name, "looks_logged_out (XML)", [&] { return looks_logged_out(200, "", "text/xml", body); });
        within_budget(name, "classify_menus (district)", [&] { return classify_menus("district", body); });
        within_budget(name, "classify_menus (bankruptcy)", [&] { return classify_menus("bankruptcy", body); });
    }
}
