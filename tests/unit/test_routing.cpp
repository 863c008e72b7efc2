// The per-request decisions of routing/: dispatch on the listener and in tunnels, the request
// plan (every row of CONTRACT §1, client codes, logout spellings, method rules, header stripping,
// cookie order) and the answer's shaping (logged out, link observations, path-mode redirects,
// Set-Cookie scrubbing). Tables, no sockets.
#include <gtest/gtest.h>

#include <algorithm>

#include "routing/answer.hpp"
#include "routing/classify.hpp"
#include "routing/request.hpp"
#include "test_support.hpp"

using namespace courtroute;
using namespace courtroute::routing;
using std::chrono::month;
using std::chrono::year;

namespace {

const day today_{year{2026}, month{11}, std::chrono::day{25}};
const std::int64_t now_ = 1795564800;  // 2026-11-25T00:00:00Z

std::string drop_in(const std::string& id, const std::string& system, const std::string& type = "bankruptcy",
                    const std::string& extra = "") {
    return "id = \"" + id + "\"\nname = \"Court " + id + "\"\ntype = \"" + type + "\"\necf_url = \"https://ecf." + id +
           ".uscourts.gov\"\nsystem = \"" + system + "\"\n" + extra;
}

/// azb (NextGen bankruptcy), azd (NextGen district), nvb (legacy), ctb (legacy until tomorrow), ca9 (appellate, ACMS host).
std::shared_ptr<const registry> test_registry() {
    static test::temp_dir dir("routing");
    static std::shared_ptr<const registry> reg = [] {
        dir.write("azb.toml", drop_in("azb", "nextgen"));
        dir.write("azd.toml", drop_in("azd", "nextgen", "district"));
        dir.write("nvb.toml", drop_in("nvb", "legacy"));
        dir.write("ctb.toml", drop_in("ctb", "legacy", "bankruptcy", "nextgen_since = 2026-11-26\n"));
        dir.write("ca9.toml",
                  drop_in("ca9", "nextgen", "appellate", "extra_hosts = [\"ca9-showdoc.azurewebsites.us\"]\n"));
        auto r = registry::load({dir.path()});
        EXPECT_TRUE(r->errors().empty()) << test::all_errors(r->errors());
        return r;
    }();
    return reg;
}

const court& C(std::string_view id) { return *test_registry()->find_id(id); }

user_facts alice(bool shared = false) {
    user_facts u;
    u.user = "alice";
    u.pacer = pacer_facts{"alice01", "stored-code", shared, false, credential_state::active, "", now_ - 86400, 7};
    return u;
}

request_head head(std::string_view method = "GET", std::string_view target = "/cgi-bin/iquery.pl") {
    request_head h;
    h.method = method;
    h.target = target;
    return h;
}

request_decision plan(const request_head& h, const court& c, const user_facts& u,
                      unlinked_policy policy = unlinked_policy::warn) {
    return plan_request(h, request_context{c, u, c.host, policy, today_, now_});
}

std::vector<std::string> codes(const std::vector<warning>& ws) {
    std::vector<std::string> out;
    for (const auto& w : ws) out.emplace_back(to_string(w.code));
    return out;
}

} // namespace

// ------------------------------------------------------------------------------- CONTRACT §1

TEST(RequestPlan, EveryRowOfTheRoutingTable) {
    struct row {
        const char* what;
        const char* court;
        std::function<void(user_facts&)> state;
        unlinked_policy policy;
        unsigned refusal;  // 0: forwarded
        route via;
        std::vector<std::string> warnings;
    };
    auto none = [](user_facts&) {};
    const std::vector<row> rows{
        {"NextGen, link recorded", "azb", [](user_facts& u) { u.links.insert("azb"); }, unlinked_policy::warn, 0,
         route::pacer, {}},
        {"NextGen, no link", "azb", none, unlinked_policy::warn, 0, route::pacer, {"unlinked_nextgen"}},
        {"NextGen, no link, policy block", "azb", none, unlinked_policy::block, 403, route::refuse, {"unlinked_nextgen"}},
        {"legacy, CM/ECF login stored", "nvb",
         [](user_facts& u) { u.ecf.emplace("nvb", ecf_facts{"alice_nv", credential_state::active, "", 3}); },
         unlinked_policy::warn, 0, route::cmecf, {}},
        {"legacy, none stored", "nvb", none, unlinked_policy::warn, 403, route::refuse, {"missing_cmecf_credential"}},
        {"NextGen, no PACER login", "azb", [](user_facts& u) { u.pacer.reset(); }, unlinked_policy::warn, 403,
         route::refuse, {"missing_pacer_credential"}},
        {"NextGen, shared PACER account", "azb", [](user_facts& u) { u.pacer->shared = true; }, unlinked_policy::warn, 0,
         route::pacer, {"shared_pacer_account"}},
        {"NextGen tomorrow is legacy today", "ctb",
         [](user_facts& u) { u.ecf.emplace("ctb", ecf_facts{"alice_ct", credential_state::active, "", 4}); },
         unlinked_policy::warn, 0, route::cmecf, {"nextgen_cutover_soon"}},
        {"PACER credential failed", "azb",
         [](user_facts& u) {
             u.links.insert("azb");
             u.pacer->state = credential_state::failed;
         },
         unlinked_policy::warn, 502, route::refuse, {"login_failed"}},
        {"PACER wants MFA", "azb",
         [](user_facts& u) {
             u.links.insert("azb");
             u.pacer->state = credential_state::mfa_required;
         },
         unlinked_policy::warn, 502, route::refuse, {"mfa_required"}},
        {"legacy credential failed", "nvb",
         [](user_facts& u) { u.ecf.emplace("nvb", ecf_facts{"alice_nv", credential_state::failed, "bad", 3}); },
         unlinked_policy::warn, 502, route::refuse, {"login_failed"}},
    };
    for (const auto& r : rows) {
        SCOPED_TRACE(r.what);
        auto u = alice();
        r.state(u);
        auto d = plan(head(), C(r.court), u, r.policy);
        if (r.refusal) {
            ASSERT_TRUE(std::holds_alternative<refusal>(d));
            const auto& x = std::get<refusal>(d);
            EXPECT_EQ(x.status, r.refusal);
            EXPECT_EQ(codes(x.warnings), r.warnings);
            EXPECT_FALSE(x.body().empty());
            continue;
        }
        ASSERT_TRUE(std::holds_alternative<forward_plan>(d));
        const auto& p = std::get<forward_plan>(d);
        EXPECT_EQ(p.via, r.via);
        EXPECT_EQ(p.host, C(r.court).host);
        EXPECT_EQ(codes(p.warnings), r.warnings);
        if (r.via == route::pacer) {
            EXPECT_EQ(p.session, auth::session_key::pacer("alice", 7, "stored-code"));
        } else {
            EXPECT_EQ(p.session.credential.kind, auth::session_kind::cmecf);
            EXPECT_EQ(p.session.credential.court, r.court);
            EXPECT_EQ(p.session.credential.revision, u.ecf.at(r.court).revision);
        }
    }
}

TEST(RequestPlan, UnlinkedWarningCarriesTheLinkingSteps) {
    auto d = plan(head(), C("azd"), alice());
    const auto& p = std::get<forward_plan>(d);
    ASSERT_EQ(p.warnings.size(), 1u);
    EXPECT_NE(p.warnings[0].message.find("Link a CM/ECF account to my PACER account"), std::string::npos);
    EXPECT_NE(p.warnings[0].message.find("courtroute link alice azd"), std::string::npos);
}

// An extra_hosts entry is sent to that host (issue 12): SNI, certificate and Host are its own;
// at an ACMS host the CM/ECF link warnings do not apply and the I/O layer injects ACMS's session.
TEST(RequestPlan, ExtraHostsGoToThemselves) {
    const court& ca9 = C("ca9");
    auto at = [&](std::string_view host) {
        return plan_request(head(), request_context{ca9, alice(), host, unlinked_policy::warn, today_, now_});
    };
    auto ecf = std::get<forward_plan>(at(ca9.host));
    EXPECT_EQ(ecf.host, ca9.host);
    EXPECT_EQ(ecf.acms, auth::acms::host_kind::other);
    EXPECT_EQ(codes(ecf.warnings), std::vector<std::string>{"unlinked_nextgen"});

    auto pages = std::get<forward_plan>(at("ca9-showdoc.azurewebsites.us"));
    EXPECT_EQ(pages.host, "ca9-showdoc.azurewebsites.us");
    EXPECT_EQ(pages.acms, auth::acms::host_kind::pages);
    EXPECT_EQ(pages.via, route::pacer);
    EXPECT_TRUE(pages.warnings.empty()) << "ACMS takes the PACER account itself: no CM/ECF link warning";
    bool host_set = false;
    for (auto& [name, value] : pages.set)
        if (name == "Host") host_set = value == "ca9-showdoc.azurewebsites.us";
    EXPECT_TRUE(host_set);
    EXPECT_EQ(std::get<forward_plan>(at("ca9-showdocservices.azurewebsites.us")).acms, auth::acms::host_kind::api);

    // Another host of the court takes the court's own login, sent to that host.
    court other = C("azb");
    other.extra_hosts = {"files.azb.example"};
    auto extra = std::get<forward_plan>(
        plan_request(head(), request_context{other, alice(), "files.azb.example", unlinked_policy::warn, today_, now_}));
    EXPECT_EQ(extra.host, "files.azb.example");
    EXPECT_EQ(extra.acms, auth::acms::host_kind::other);
    EXPECT_EQ(extra.via, route::pacer);

    // No PACER login: refused before anything is sent, as at the CM/ECF host.
    user_facts nobody;
    nobody.user = "bob";
    auto refused = plan_request(head(), request_context{ca9, nobody, "ca9-showdoc.azurewebsites.us",
                                                        unlinked_policy::warn, today_, now_});
    ASSERT_TRUE(std::holds_alternative<refusal>(refused));
    EXPECT_EQ(std::get<refusal>(refused).status, 403u);
}

// ------------------------------------------------------------------------------- client codes

TEST(RequestPlan, ClientCodes) {
    auto u = alice();
    u.links.insert("azb");
    struct row {
        const char* value;
        bool ok;
    };
    for (auto [value, ok] : {row{"matter-17", true}, row{" padded ", true}, row{"firm/2026.a_b", true},
                             row{"", false}, row{"a b", false}, row{"a,b", false}, row{"abc;Path=/", false},
                             row{"a=b", false}, row{"a|b", false}, row{"caf\xe9", false},
                             row{"CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", false}}) {
        SCOPED_TRACE(value);
        auto h = head();
        h.client_code_headers = 1;
        h.client_code = value;
        auto d = plan(h, C("azb"), u);
        if (ok) {
            ASSERT_TRUE(std::holds_alternative<forward_plan>(d));
            EXPECT_EQ(std::get<forward_plan>(d).session.client_code, trim(value));
            EXPECT_EQ(std::get<forward_plan>(d).client_code, trim(value));
        } else {
            ASSERT_TRUE(std::holds_alternative<refusal>(d));
            EXPECT_EQ(std::get<refusal>(d).status, 400u);
            EXPECT_NE(std::get<refusal>(d).body().find("Courtroute-Client-Code"), std::string::npos);
        }
    }
    auto two = head();
    two.client_code_headers = 2;
    two.client_code = "a";
    EXPECT_EQ(std::get<refusal>(plan(two, C("azb"), u)).status, 400u);
    // Without the header the stored code applies; a shared account's sessions are per code too.
    EXPECT_EQ(std::get<forward_plan>(plan(head(), C("azb"), u)).session.client_code, "stored-code");
    auto nocode = u;
    nocode.pacer->client_code.clear();
    EXPECT_EQ(std::get<forward_plan>(plan(head(), C("azb"), nocode)).session.client_code, "");
}

// ------------------------------------------------------------------------------- logout

TEST(RequestPlan, LogoutInEverySpellingIsAnsweredLocally) {
    for (const char* t : {"/cgi-bin/login.pl?logout", "/cgi-bin/login.pl?LOGOUT", "/cgi-bin/login.pl?logout=1",
                          "/cgi-bin/login.pl?x=1&logout", "/cgi-bin/login.pl?x=1;logout=yes",
                          "/cgi-bin/%6Cogin.pl?logout", "//cgi-bin/./login.pl?logout", "/x/../cgi-bin/login.pl?logout",
                          "/cgi-bin/login.pl?%6Cogout", "/CGI-BIN/Login.pl?logout", "/cgi-bin/login.pl?+logout+"}) {
        SCOPED_TRACE(t);
        EXPECT_TRUE(is_logout(t));
        auto d = plan(head("GET", t), C("azb"), alice());
        ASSERT_TRUE(std::holds_alternative<local_answer>(d));
        EXPECT_EQ(std::get<local_answer>(d).status, 200u);
        EXPECT_EQ(std::get<local_answer>(d).outcome, "logout_kept");
    }
    for (const char* t : {"/cgi-bin/login.pl", "/cgi-bin/login.pl?logoutnow", "/cgi-bin/iquery.pl?logout",
                          "/cgi-bin/login.pl?x=logout", "/cgi-bin/login.pl.bak?logout", "/cgi-bin/login.pl/?x"}) {
        SCOPED_TRACE(t);
        EXPECT_FALSE(is_logout(t));
    }
}

// ------------------------------------------------------------------------------- methods and framing

TEST(RequestPlan, MethodRules) {
    auto u = alice();
    u.links.insert("azb");
    for (const char* m : {"TRACE", "TRACK"}) {
        auto d = plan(head(m), C("azb"), u);
        ASSERT_TRUE(std::holds_alternative<refusal>(d)) << m;
        EXPECT_EQ(std::get<refusal>(d).status, 405u);
    }
    for (const char* m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
        EXPECT_TRUE(std::get<forward_plan>(plan(head(m), C("azb"), u)).resend_on_stale_connection) << m;
    for (const char* m : {"POST", "PATCH", "PROPFIND"})
        EXPECT_FALSE(std::get<forward_plan>(plan(head(m), C("azb"), u)).resend_on_stale_connection) << m;
    auto streaming = head("POST");
    streaming.body_held = false;
    EXPECT_FALSE(std::get<forward_plan>(plan(streaming, C("azb"), u)).repeat_after_relogin);
    EXPECT_TRUE(std::get<forward_plan>(plan(head("POST"), C("azb"), u)).repeat_after_relogin);
    auto two_hosts = head();
    two_hosts.host_headers = 2;
    EXPECT_EQ(std::get<refusal>(plan(two_hosts, C("azb"), u)).status, 400u);
}

TEST(RequestPlan, HeadersStrippedAndSet) {
    auto u = alice();
    u.links.insert("azb");
    auto h = head();
    h.connection = "close, X-Secret-Hop ,keep-alive";
    auto p = std::get<forward_plan>(plan(h, C("azb"), u));
    for (const char* name : {"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE", "Trailer",
                             "Upgrade", "Authorization", "Expect", "Transfer-Encoding", "Cookie",
                             "Courtroute-Client-Code", "courtroute-anything", "x-secret-hop"})
        EXPECT_TRUE(is_stripped(name, p)) << name;
    for (const char* name : {"Accept", "User-Agent", "Content-Type", "Content-Length", "Referer", "close"})
        EXPECT_FALSE(is_stripped(name, p)) << name;
    std::map<std::string, std::string> set(p.set.begin(), p.set.end());
    EXPECT_EQ(set.at("Host"), "ecf.azb.uscourts.gov");
    EXPECT_EQ(set.at("Accept-Encoding"), "identity");
}

TEST(RequestPlan, DaemonCookiesFirstClientCookiesScrubbed) {
    auto u = alice();
    u.links.insert("azb");
    auto h = head();
    h.cookies = "a=1; PacerSession=client-planted; nextgencso=x; b=2";
    auto p = std::get<forward_plan>(plan(h, C("azb"), u));
    EXPECT_EQ(p.client_cookies, "a=1; b=2");
    EXPECT_EQ(upstream_cookie(p, "TOKEN"),
              "NextGenCSO=TOKEN; PacerSession=TOKEN; PacerClientCode=stored-code; a=1; b=2");
    EXPECT_FALSE(upstream_cookie(p, "bad token"));
    EXPECT_FALSE(upstream_cookie(p, "x\r\nSet-Cookie: y"));
    u.ecf.emplace("nvb", ecf_facts{"alice_nv", credential_state::active, "", 3});
    auto legacy = std::get<forward_plan>(plan(head(), C("nvb"), u));
    EXPECT_EQ(upstream_cookie(legacy, "T2"), "PacerSession=T2");
}

// ------------------------------------------------------------------------------- dispatch

TEST(Classify, PlainListener) {
    const auto& reg = *test_registry();
    auto cls = [&](std::string_view method, std::string_view target) {
        return classify_plain(request_line{method, target, 1, "127.0.0.1"}, reg);
    };
    EXPECT_EQ(std::get<local_endpoint>(cls("GET", "/healthz")).which, local_page::healthz);
    EXPECT_EQ(std::get<local_endpoint>(cls("GET", "/status?x")).which, local_page::status);
    EXPECT_EQ(std::get<local_endpoint>(cls("GET", "/metrics")).which, local_page::metrics);
    EXPECT_EQ(std::get<local_endpoint>(cls("GET", "/proxy.pac")).which, local_page::pac);
    EXPECT_EQ(std::get<local_endpoint>(cls("GET", "/")).which, local_page::home);
    EXPECT_EQ(std::get<local_endpoint>(cls("HEAD", "/?refresh")).which, local_page::home);
    for (auto m : {"POST", "PUT", "DELETE", "OPTIONS"}) {
        auto r = cls(m, "/status");
        ASSERT_TRUE(std::holds_alternative<refusal>(r)) << m;
        EXPECT_EQ(std::get<refusal>(r).status, 405u);
        EXPECT_EQ(std::get<refusal>(r).extra_header, "Allow");
        EXPECT_EQ(std::get<refusal>(r).extra_value, "GET, HEAD");
    }
    struct path_row {
        const char* target;
        const char* court;
        const char* upstream;
    };
    for (auto [target, id, upstream] : {path_row{"/court/azb/cgi-bin/x.pl?a=1", "azb", "/cgi-bin/x.pl?a=1"},
                                        path_row{"/court/azb", "azb", "/"}, path_row{"/court/azb?x=1", "azb", "/?x=1"},
                                        path_row{"/court/nvb/", "nvb", "/"}}) {
        auto r = cls("GET", target);
        ASSERT_TRUE(std::holds_alternative<court_request>(r)) << target;
        EXPECT_EQ(std::get<court_request>(r).target->id, id);
        EXPECT_EQ(std::get<court_request>(r).upstream_target, upstream);
        EXPECT_TRUE(std::get<court_request>(r).path_mode);
    }
    struct refused_row {
        const char* method;
        const char* target;
        unsigned status;
    };
    for (auto [m, t, status] : {refused_row{"GET", "/court/", 404}, refused_row{"GET", "/court//x", 404},
                                refused_row{"GET", "/court/../etc/passwd", 404}, refused_row{"GET", "/court/nope/x", 404},
                                refused_row{"GET", "/other", 404}, refused_row{"GET", "/proxy.pac/x", 404},
                                refused_row{"GET", "//", 404}, refused_row{"GET", "http://ecf.azb.uscourts.gov/x", 400},
                                refused_row{"GET", "http://example.com/", 403}, refused_row{"GET", "*", 403},
                                refused_row{"CONNECT", "ecf.azb.uscourts.gov", 400},
                                refused_row{"CONNECT", "ecf.azb.uscourts.gov:0", 400},
                                refused_row{"CONNECT", "user@ecf.azb.uscourts.gov:443", 400},
                                refused_row{"CONNECT", "ecf.azb.uscourts.gov:443/x", 400},
                                refused_row{"CONNECT", "[::1:443", 400}, refused_row{"CONNECT", ":", 400}}) {
        auto r = cls(m, t);
        ASSERT_TRUE(std::holds_alternative<refusal>(r)) << m << " " << t;
        EXPECT_EQ(std::get<refusal>(r).status, status) << m << " " << t;
    }
    auto c = cls("CONNECT", "ECF.AZB.uscourts.gov.:443");
    ASSERT_TRUE(std::holds_alternative<connect_request>(c));
    EXPECT_EQ(std::get<connect_request>(c).to.host, "ecf.azb.uscourts.gov");
}

TEST(Classify, ConnectPolicy) {
    const auto& reg = *test_registry();
    settings refuse_cfg, tunnel_cfg;
    tunnel_cfg.other_hosts = other_hosts_policy::tunnel;
    auto at = [](std::string host, std::uint16_t port) { return authority{std::move(host), port, false}; };
    EXPECT_EQ(std::get<intercept>(decide_connect(at("ecf.azb.uscourts.gov", 443), reg, refuse_cfg, true)).target->id, "azb");
    EXPECT_EQ(std::get<intercept>(decide_connect(at("ca9-showdoc.azurewebsites.us", 443), reg, refuse_cfg, true)).target->id,
              "ca9");
    EXPECT_EQ(std::get<refusal>(decide_connect(at("example.com", 443), reg, refuse_cfg, true)).status, 403u);
    EXPECT_TRUE(std::holds_alternative<blind_tunnel>(decide_connect(at("example.com", 443), reg, tunnel_cfg, true)));
    // A court host on another port is never tunnelled blind: its traffic must not bypass injection rules.
    EXPECT_EQ(std::get<refusal>(decide_connect(at("ecf.azb.uscourts.gov", 8443), reg, tunnel_cfg, true)).status, 403u);
    // A court the local CA may not sign for: refused before the 200, with what to do.
    auto outside = std::get<refusal>(decide_connect(at("ecf.azb.uscourts.gov", 443), reg, refuse_cfg, false));
    EXPECT_EQ(outside.status, 502u);
    EXPECT_EQ(outside.outcome, "ca_not_permitted");
    EXPECT_NE(outside.body().find("courtroute ca --rotate"), std::string::npos);
}

TEST(Classify, InsideATunnel) {
    const auto& reg = *test_registry();
    const std::string h = "ecf.azb.uscourts.gov";
    auto cls = [&](std::string_view method, std::string_view target, std::string_view host, std::size_t hosts = 1) {
        return classify_in_tunnel(request_line{method, target, hosts, host}, h, reg);
    };
    for (auto host : {"ecf.azb.uscourts.gov", "ECF.AZB.USCOURTS.GOV", "ecf.azb.uscourts.gov:443", "ecf.azb.uscourts.gov."})
        EXPECT_TRUE(std::holds_alternative<court_request>(cls("GET", "/x", host))) << host;
    EXPECT_EQ(std::get<court_request>(cls("GET", "https://ecf.azb.uscourts.gov/a?b", h)).upstream_target, "/a?b");
    EXPECT_EQ(std::get<refusal>(cls("GET", "/x", "ecf.azd.uscourts.gov")).status, 403u);
    EXPECT_EQ(std::get<refusal>(cls("GET", "/x", "ecf.azb.uscourts.gov:8443")).status, 403u);
    EXPECT_EQ(std::get<refusal>(cls("GET", "/x", h, 2)).status, 400u);
    EXPECT_EQ(std::get<refusal>(cls("GET", "https://ecf.azd.uscourts.gov/x", h)).status, 400u);
    EXPECT_EQ(std::get<refusal>(cls("CONNECT", "ecf.azd.uscourts.gov:443", h)).status, 405u);
    EXPECT_EQ(std::get<court_request>(cls("GET", "/x", h)).host, h);
    // A tunnel to an extra host is a request for that court, sent to that host.
    const std::string acms = "ca9-showdoc.azurewebsites.us";
    auto r = classify_in_tunnel(request_line{"GET", "/Case/Docket", 1, acms}, acms, reg);
    ASSERT_TRUE(std::holds_alternative<court_request>(r));
    EXPECT_EQ(std::get<court_request>(r).target->id, "ca9");
    EXPECT_EQ(std::get<court_request>(r).host, acms);
}

TEST(Classify, Credentials) {
    EXPECT_EQ(bearer_token("Bearer abc"), "abc");
    EXPECT_EQ(bearer_token("bearer  abc "), "abc");
    EXPECT_FALSE(bearer_token("Basic abc"));
    EXPECT_FALSE(bearer_token("Bearer"));
    auto b = basic_credentials("Basic " + base64_encode("alice:tok:en"));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->first, "alice");
    EXPECT_EQ(b->second, "tok:en");
    EXPECT_FALSE(basic_credentials("Basic !!!"));
    EXPECT_FALSE(basic_credentials("Basic " + base64_encode("nocolon")));
    EXPECT_FALSE(basic_credentials("Bearer x"));
}

// ------------------------------------------------------------------------------- answers

namespace {

const std::string logged_in_page =
    "<html><a href='/cgi-bin/login.pl?logout'>Logout</a><a>Query</a><a>Utilities</a><a>Bankruptcy</a></html>";
const std::string limited_page =
    "<html><a href='/cgi-bin/login.pl?logout'>Logout</a><a>Query</a><a>Reports</a><a>Utilities</a></html>";
const std::string login_script =
    "<html><script>window.location='https://pacer.login.uscourts.gov/csologin/login.jsf?pscCourtId=AZB'</script></html>";

struct answer_case {
    forward_plan plan;
    user_facts user;
    bool relogin_allowed = true;
    answer_decision run(const answer_head& a, bool fresh = false, bool repeated = false, bool path = false,
                        const char* court = "azb") {
        answer_context ctx{plan, C(court), *test_registry(), user, path, fresh, repeated,
                           unlinked_policy::warn, today_, now_};
        ctx.relogin_allowed = relogin_allowed;
        return shape_answer(a, ctx);
    }
};

answer_case linked_case() {
    answer_case c;
    c.user = alice();
    c.user.links.insert("azb");
    c.plan = std::get<forward_plan>(plan(head(), C("azb"), c.user));
    return c;
}

answer_head html(const std::string& body, unsigned status = 200) {
    return answer_head{status, "", "text/html", body, true};
}

} // namespace

TEST(Classify, LocalPagesOnlyForTheListenerItself) {
    struct row {
        const char* listen_host;
        const char* host;
        const char* origin;  // nullptr: no Origin header
        const char* fetch_site;
        bool allowed;
    };
    const row rows[] = {
        {"127.0.0.1", "127.0.0.1:3128", nullptr, "", true},
        {"127.0.0.1", "127.0.0.1", nullptr, "", true},
        {"127.0.0.1", "localhost:3128", nullptr, "", true},
        {"127.0.0.1", "LOCALHOST", nullptr, "", true},
        {"127.0.0.1", "127.0.0.1:3129", nullptr, "", false},        // another port
        {"127.0.0.1", "evil.example.com", nullptr, "", false},      // DNS rebinding
        {"127.0.0.1", "evil.example.com:3128", nullptr, "", false},
        {"127.0.0.1", "", nullptr, "", false},                      // no Host at all
        {"127.0.0.1", "10.0.0.5:3128", nullptr, "", false},         // not a wildcard listener
        {"0.0.0.0", "10.0.0.5:3128", nullptr, "", true},            // wildcard: any IP literal
        {"0.0.0.0", "court.example:3128", nullptr, "", false},      //   but never a name
        {"::", "[::1]:3128", nullptr, "", true},
        {"127.0.0.1", "127.0.0.1:3128", "http://127.0.0.1:3128", "same-origin", true},
        {"127.0.0.1", "127.0.0.1:3128", "http://localhost:3128", "", true},
        {"127.0.0.1", "127.0.0.1:3128", "https://evil.example.com", "", false},
        {"127.0.0.1", "127.0.0.1:3128", "null", "", false},         // sandboxed frame
        {"127.0.0.1", "127.0.0.1:3128", "", "", false},             // empty Origin
        {"127.0.0.1", "127.0.0.1:3128", nullptr, "cross-site", false},
        {"127.0.0.1", "127.0.0.1:3128", nullptr, "same-site", false},
        {"127.0.0.1", "127.0.0.1:3128", nullptr, "none", true},     // typed into the address bar
        {"127.0.0.1", "127.0.0.1:3128", nullptr, "Same-Origin", true},
    };
    for (const auto& r : rows) {
        endpoint listen{r.listen_host, 3128};
        origin_facts f;
        f.host = r.host;
        f.has_origin = r.origin != nullptr;
        f.origin = r.origin ? r.origin : "";
        f.sec_fetch_site = r.fetch_site;
        auto refused = check_local_origin(f, listen);
        SCOPED_TRACE(std::string(r.listen_host) + " Host=" + r.host + " Origin=" + (r.origin ? r.origin : "-") +
                     " Sec-Fetch-Site=" + r.fetch_site);
        EXPECT_EQ(!refused.has_value(), r.allowed);
        if (refused) {
            EXPECT_EQ(refused->status, 403);
            EXPECT_EQ(refused->outcome, "foreign_origin");
        }
    }
}

TEST(AnswerShape, LoggedOutFirstTimeLogsInAgainAndRepeats) {
    auto c = linked_case();
    auto d = c.run(html(login_script));
    EXPECT_TRUE(d.logged_out);
    EXPECT_TRUE(d.drop_session);
    EXPECT_TRUE(d.relogin_and_repeat);
    EXPECT_EQ(d.outcome, "session_expired");
    // A redirect to PACER's login is the same.
    auto r = c.run(answer_head{302, "https://pacer.login.uscourts.gov/csologin/login.jsf", "", "", true});
    EXPECT_TRUE(r.relogin_and_repeat);
    // A streamed upload cannot be repeated: the answer goes back, the session is dropped.
    c.plan.repeat_after_relogin = false;
    auto s = c.run(html(login_script));
    EXPECT_TRUE(s.drop_session);
    EXPECT_FALSE(s.relogin_and_repeat);
    EXPECT_FALSE(s.session_rejected);
}

TEST(AnswerShape, LoggedOutWithTheReloginBudgetSpentIsReportedWithoutALogin) {
    auto c = linked_case();
    c.relogin_allowed = false;
    auto d = c.run(html(login_script));
    EXPECT_TRUE(d.logged_out);
    EXPECT_FALSE(d.drop_session) << "the session stays until the budget allows a new login";
    EXPECT_FALSE(d.relogin_and_repeat);
    EXPECT_EQ(d.session_rejected, true);
    EXPECT_EQ(d.outcome, "session_rejected");
    ASSERT_EQ(d.warnings.size(), 1u);
    EXPECT_TRUE(d.warnings[0].starts_with("session_rejected; "));
}

TEST(AnswerShape, LoggedOutRightAfterAFreshLoginIsReportedNotLooped) {
    auto c = linked_case();
    for (auto [fresh, repeated] : {std::pair{true, false}, std::pair{false, true}}) {
        auto d = c.run(html(login_script), fresh, repeated);
        EXPECT_FALSE(d.relogin_and_repeat);
        EXPECT_FALSE(d.drop_session);
        EXPECT_EQ(d.session_rejected, true);
        EXPECT_EQ(d.outcome, "session_rejected");
        ASSERT_EQ(d.warnings.size(), 1u);
        EXPECT_TRUE(d.warnings[0].starts_with("session_rejected; "));
    }
    // The next good answer clears it (and the warning it carried).
    c.user.runtime.session_rejected.insert("azb");
    c.plan = std::get<forward_plan>(plan(head(), C("azb"), c.user));
    ASSERT_EQ(c.plan.warnings.size(), 1u);
    auto ok = c.run(html(logged_in_page));
    EXPECT_EQ(ok.session_rejected, false);
    EXPECT_TRUE(ok.warnings.empty());
}

TEST(AnswerShape, MenusAgainstTheRecordedLink) {
    struct row {
        const char* what;
        bool linked;
        bool shared;
        const std::string* page;
        const char* court;
        std::optional<bool> mismatch;
    };
    const std::string other = "<html><p>Docket</p><a href='/cgi-bin/login.pl?logout'>x</a></html>";
    const std::string district_full =
        "<html><a>Civil</a><a>Query</a><a>Utilities</a><a href='/cgi-bin/login.pl?logout'>Logout</a></html>";
    for (const auto& r : {row{"linked, filing menus", true, false, &logged_in_page, "azb", false},
                          row{"linked, limited menu", true, false, &limited_page, "azb", true},
                          row{"not linked, filing menus", false, false, &logged_in_page, "azb", true},
                          row{"not linked, limited menu", false, false, &limited_page, "azb", false},
                          row{"shared account, filing menus", false, true, &logged_in_page, "azb", false},
                          row{"no menu on the page", true, false, &other, "azb", std::nullopt},
                          row{"district, Civil menu, linked", true, false, &district_full, "azd", false}}) {
        SCOPED_TRACE(r.what);
        answer_case c;
        c.user = alice(r.shared);
        if (r.linked) c.user.links.insert(r.court);
        c.plan = std::get<forward_plan>(plan(head(), C(r.court), c.user));
        auto d = c.run(html(*r.page), false, false, false, r.court);
        EXPECT_FALSE(d.logged_out);
        EXPECT_EQ(d.link_mismatch, r.mismatch);
        bool warned = std::any_of(d.warnings.begin(), d.warnings.end(),
                                  [](const std::string& w) { return w.starts_with("link_mismatch; "); });
        EXPECT_EQ(warned, r.mismatch.value_or(false));
    }
    // Nothing is judged from a partial body.
    auto c = linked_case();
    EXPECT_EQ(c.run(answer_head{200, "", "text/html", limited_page, false}).link_mismatch, std::nullopt);
}

TEST(AnswerShape, PathModeRewritesRedirects) {
    auto c = linked_case();
    struct row {
        const char* location;
        std::optional<std::string> rewritten;
    };
    for (const auto& [loc, want] :
         {row{"https://ecf.azb.uscourts.gov/cgi-bin/x.pl?y", "/court/azb/cgi-bin/x.pl?y"},
          row{"https://ECF.NVB.uscourts.gov/a", "/court/nvb/a"}, row{"/cgi-bin/DktRpt.pl?1", "/court/azb/cgi-bin/DktRpt.pl?1"},
          row{"https://www.uscourts.gov/", std::nullopt}, row{"//evil.example/x", std::nullopt},
          row{"http://ecf.azb.uscourts.gov/x", std::nullopt}, row{"https://ecf.azb.uscourts.gov:8443/x", std::nullopt},
          row{"relative.pl", std::nullopt}}) {
        SCOPED_TRACE(loc);
        auto d = c.run(answer_head{302, loc, "", "", true}, false, false, true);
        EXPECT_EQ(d.location, want);
        // Outside path mode nothing is rewritten.
        EXPECT_EQ(c.run(answer_head{302, loc, "", "", true}).location, std::nullopt);
    }
}

TEST(AnswerShape, HeadersThatNeverReachTheClient) {
    for (const char* v : {"PacerSession=abc; path=/", "NextGenCSO=x", "nextgencso=x; Secure", " PacerClientCode = c",
                          "PacerSession"})
        EXPECT_TRUE(strip_set_cookie(v)) << v;
    for (const char* v : {"JSESSIONID=1", "PacerPref=receipt=Y", "x=PacerSession"}) EXPECT_FALSE(strip_set_cookie(v)) << v;
    for (const char* n : {"Connection", "keep-alive", "Proxy-Authenticate", "Upgrade", "TE", "Trailer", "X-Hop"})
        EXPECT_TRUE(is_stripped_answer_header(n, "x-hop")) << n;
    for (const char* n : {"Content-Type", "Set-Cookie", "Location", "Content-Length"})
        EXPECT_FALSE(is_stripped_answer_header(n, "x-hop")) << n;
}

TEST(AnswerShape, WarningValuesAreSafeHeaders) {
    auto c = linked_case();
    c.user.runtime.pacer_notice = "line one\r\nSet-Cookie: evil=1";
    c.plan = std::get<forward_plan>(plan(head(), C("azb"), c.user));
    auto d = c.run(html(logged_in_page));
    ASSERT_EQ(d.warnings.size(), 1u);
    EXPECT_TRUE(d.warnings[0].starts_with("pacer_notice; "));
    EXPECT_FALSE(has_ctl_breaks(d.warnings[0]));
    EXPECT_EQ(d.route_name, "pacer");
}

TEST(Refusals, CredentialsRequiredByPlace) {
    auto path = credentials_required(credentials_for::path_mode);
    EXPECT_EQ(path.status, 401u);
    EXPECT_EQ(path.extra_header, "WWW-Authenticate");
    EXPECT_EQ(path.extra_value, "Bearer realm=\"courtroute\"");
    EXPECT_NE(path.body().find("Bearer TOKEN"), std::string::npos);
    auto status = credentials_required(credentials_for::status);
    EXPECT_EQ(status.status, 401u);
    EXPECT_NE(status.body().find("courtroute status"), std::string::npos);
    auto page = credentials_required(credentials_for::page);
    EXPECT_EQ(page.status, 401u);
    EXPECT_EQ(page.extra_header, "WWW-Authenticate");
    EXPECT_EQ(page.extra_value, "Basic realm=\"courtroute\"") << "a browser asks for Basic credentials once";
    EXPECT_NE(page.body().find("anonymous_user"), std::string::npos);
    auto proxy = credentials_required(credentials_for::proxy);
    EXPECT_EQ(proxy.status, 407u);
    EXPECT_EQ(proxy.extra_header, "Proxy-Authenticate");
    EXPECT_EQ(proxy.extra_value, "Basic realm=\"courtroute\"");
}

TEST(Refusals, UpstreamFaultsMapOnce) {
    auto t = upstream_refusal(upstream_fault::timeout, "ecf.azb.uscourts.gov", "timed out");
    EXPECT_EQ(t.status, 504u);
    EXPECT_NE(t.body().find("ecf.azb.uscourts.gov"), std::string::npos);
    ASSERT_EQ(t.warnings.size(), 1u);
    EXPECT_TRUE(t.warnings[0].header_value().starts_with("upstream_timeout; "));
    for (auto f : {upstream_fault::unreachable, upstream_fault::tls, upstream_fault::broken}) {
        auto r = upstream_refusal(f, "h", "x\r\nInjected: 1");
        EXPECT_EQ(r.status, 502u);
        ASSERT_EQ(r.warnings.size(), 1u);
        EXPECT_TRUE(r.warnings[0].header_value().starts_with("upstream_error; "));
        EXPECT_EQ(r.warnings[0].header_value().find('\n'), std::string::npos);
        EXPECT_EQ(r.body(), r.text + "\n") << "the body is the text, not the warning";
    }
    refusal r;
    r.warnings.push_back(warning{warning_code::missing_pacer_credential, "alice", "azb", "store it"});
    EXPECT_EQ(r.body(), "store it\n");
}
