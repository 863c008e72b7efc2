// The browser-facing pages of issue 11, as pure functions: the PAC file from the registry and
// the status page from one user's /status document.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "policy/policy.hpp"
#include "status/pac.hpp"
#include "status/page.hpp"
#include "status/report.hpp"
#include "test_support.hpp"

using namespace courtroute;
using std::chrono::month;
using std::chrono::year;

namespace {

const day today_{year{2026}, month{11}, std::chrono::day{25}};
const std::int64_t now_ = 1795564800;  // 2026-11-25T00:00:00Z

std::shared_ptr<const registry> page_registry() {
    static test::temp_dir dir("page");
    static std::shared_ptr<const registry> reg = [] {
        auto court = [](const std::string& id, const std::string& type, const std::string& extra = "") {
            return "id = \"" + id + "\"\nname = \"Court <" + id + "> & Co\"\ntype = \"" + type +
                   "\"\necf_url = \"https://ecf." + id + ".uscourts.gov\"\nsystem = \"nextgen\"\n" + extra;
        };
        dir.write("azb.toml", court("azb", "bankruptcy"));
        dir.write("azd.toml", court("azd", "district"));
        dir.write("ca9.toml", court("ca9", "appellate",
                                    "extra_hosts = [\"ca9-showdoc.azurewebsites.us\", \"ca9-showdocservices.azurewebsites.us\"]\n"));
        auto r = registry::load({dir.path()});
        EXPECT_TRUE(r->errors().empty()) << test::all_errors(r->errors());
        return r;
    }();
    return reg;
}

std::string page_for(const std::vector<user_facts>& users, const std::string& who) {
    report_input in;
    in.reg = page_registry().get();
    for (auto& u : users)
        if (u.user == who) in.users.push_back(u);
    in.today = today_;
    in.now_unix = now_;
    return status_page(status_report(in), who, *page_registry(), now_);
}

} // namespace

TEST(Pac, ProxiesEveryRegistryHostAndNothingElse) {
    auto pac = proxy_pac(*page_registry(), "127.0.0.1:3128");
    EXPECT_NE(pac.find("function FindProxyForURL(url, host)"), std::string::npos);
    for (auto& h : page_registry()->hosts()) EXPECT_NE(pac.find("\"" + h + "\": 1"), std::string::npos) << h;
    EXPECT_NE(pac.find("return \"PROXY 127.0.0.1:3128\";"), std::string::npos);
    EXPECT_NE(pac.find("return \"DIRECT\";"), std::string::npos);
    EXPECT_EQ(pac.find("; DIRECT"), std::string::npos) << "no fallback around courtroute for a court";
    EXPECT_EQ(pac.find("www.uscourts.gov"), std::string::npos);
    EXPECT_EQ(pac.find("pacer"), std::string::npos);
}

TEST(Pac, ProxyAddressIsTheOneTheBrowserUsed) {
    endpoint listen{"127.0.0.1", 3128};
    EXPECT_EQ(pac_proxy_authority("127.0.0.1:3128", listen), "127.0.0.1:3128");
    EXPECT_EQ(pac_proxy_authority("localhost:3128", listen), "localhost:3128");
    EXPECT_EQ(pac_proxy_authority("LOCALHOST", listen), "localhost:3128");
    EXPECT_EQ(pac_proxy_authority("", listen), "127.0.0.1:3128");
    EXPECT_EQ(pac_proxy_authority("bad host\"", listen), "127.0.0.1:3128");
    EXPECT_EQ(pac_proxy_authority("[::1]:3128", endpoint{"::", 3128}), "[::1]:3128");
    EXPECT_EQ(pac_proxy_authority("10.0.0.5:8080", endpoint{"0.0.0.0", 8080}), "10.0.0.5:8080");
}

TEST(StatusPage, ShowsOneUsersCourtsAndToDoWithLinkingStepsInline) {
    user_facts alice;
    alice.user = "alice";
    alice.pacer = pacer_facts{"alice01", "", false, true, credential_state::active, "", now_ - 86400, 1};
    alice.links = {"azb"};
    alice.runtime.courts_used = {"azd", "ca9"};
    user_facts bob;
    bob.user = "bob";
    bob.pacer = pacer_facts{"bob_secret_login", "", false, false, credential_state::failed, "", 0, 1};
    bob.runtime.courts_used = {"azb"};
    auto html = page_for({alice, bob}, "alice");

    EXPECT_EQ(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0), 0u);
    EXPECT_NE(html.find("<meta http-equiv=\"refresh\" content=\"30\">"), std::string::npos);
    EXPECT_NE(html.find("<title>courtroute: alice</title>"), std::string::npos);
    // Self-contained: no script, no asset from anywhere; the only links are the courts' own sites.
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("src="), std::string::npos);
    EXPECT_EQ(html.find("<link"), std::string::npos);
    EXPECT_EQ(html.find("@import"), std::string::npos);
    for (auto pos = html.find("href=\""); pos != std::string::npos; pos = html.find("href=\"", pos + 1))
        EXPECT_EQ(html.compare(pos + 6, 12, "https://ecf."), 0) << html.substr(pos, 60);
    // Every court row, linked or not, with the court's name escaped.
    EXPECT_NE(html.find("<a href=\"https://ecf.azb.uscourts.gov/\">azb</a>"), std::string::npos);
    EXPECT_NE(html.find("Court &lt;azd&gt; &amp; Co"), std::string::npos);
    EXPECT_EQ(html.find("Court <azd>"), std::string::npos);
    EXPECT_NE(html.find("<span class=\"ok\">linked</span>"), std::string::npos);
    EXPECT_NE(html.find("<span class=\"no\">not linked</span>"), std::string::npos);
    // The to-do list with the linking steps one per line, the appellate court's own menu label.
    auto steps = html.find("<ol class=\"steps\">");
    ASSERT_NE(steps, std::string::npos) << html;
    EXPECT_NE(html.find("<li>open Utilities &gt; Link a CM/ECF account to my PACER account</li>"), std::string::npos);
    EXPECT_NE(html.find("<li>open Utilities &gt; Link my filer account to my PACER account</li>"), std::string::npos);
    EXPECT_NE(html.find("<li>run: courtroute link alice azd</li>"), std::string::npos);
    // Nothing of another user.
    EXPECT_EQ(html.find("bob"), std::string::npos);
    EXPECT_EQ(html.find("bob_secret_login"), std::string::npos);

    // Bob's page leads with what blocks him.
    auto bobs = page_for({alice, bob}, "bob");
    auto blocked = bobs.find("<li class=\"blocked\">");
    auto cannot = bobs.find("<li class=\"cannot-file\">");
    ASSERT_NE(blocked, std::string::npos) << bobs;
    EXPECT_TRUE(cannot == std::string::npos || blocked < cannot);
    EXPECT_EQ(bobs.find("alice"), std::string::npos);
}

TEST(StatusPage, NothingToDoAndNoCourtsYet) {
    user_facts carol;
    carol.user = "carol";
    carol.pacer = pacer_facts{"carol01", "", false, true, credential_state::active, "", now_, 1};
    carol.links = {"azb"};
    auto html = page_for({carol}, "carol");
    EXPECT_NE(html.find("Nothing to do"), std::string::npos) << html;
    user_facts dan;
    dan.user = "d<a>n";  // user names are validated elsewhere; the page escapes regardless
    html = page_for({dan}, "d<a>n");
    EXPECT_NE(html.find("No court used yet"), std::string::npos);
    EXPECT_EQ(html.find("d<a>n"), std::string::npos);
    EXPECT_NE(html.find("courtroute for d&lt;a&gt;n"), std::string::npos);
}
