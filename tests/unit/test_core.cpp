#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/process.hpp"
#include "core/diagnostic.hpp"
#include "core/log.hpp"
#include "core/names.hpp"
#include "core/text.hpp"
#include "core/url.hpp"

#include <vector>

using namespace courtroute;

TEST(Diagnostic, FormatsFileLineColumn) {
    EXPECT_EQ((diagnostic{"a.toml", 3, 7, "unknown key 'x'"}.to_string()), "a.toml:3:7: unknown key 'x'");
    EXPECT_EQ((diagnostic{"a.toml", 0, 0, "empty"}.to_string()), "a.toml:1:1: empty");
}

TEST(Diagnostic, IsAlwaysOneLine) {
    // toml++ quotes the offending character raw; a drop-in's file name may hold a newline.
    EXPECT_EQ((diagnostic{"courts.d/a\nb.toml", 1, 6, "expected 'inf', saw 'i\n'"}.to_string()),
              "courts.d/a?b.toml:1:6: expected 'inf', saw 'i?'");
    EXPECT_EQ((diagnostic{"a.toml", 2, 1, "saw '\r', then \x1b[2J"}.to_string()), "a.toml:2:1: saw '?', then ?[2J");
}

TEST(Log, QuotesAndNeutralisesControlCharacters) {
    EXPECT_EQ(log::format("request", {{"user", "alice"}, {"court", "azb"}}), "request user=alice court=azb");
    EXPECT_EQ(log::format("x", {{"v", "a b"}}), "x v=\"a b\"");
    EXPECT_EQ(log::format("x", {{"v", "evil\nfake=1"}}), "x v=\"evil?fake=1\"");
}

TEST(Text, Base64RoundTrip) {
    const std::vector<std::string> samples{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff", 2)};
    for (const auto& s : samples) {
        auto e = base64_encode(s);
        auto d = base64_decode(e);
        ASSERT_TRUE(d) << e;
        EXPECT_EQ(*d, s);
    }
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_FALSE(base64_decode("Zm9v!"));
}

TEST(Text, CaseInsensitiveHelpers) {
    std::string every_byte;
    for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
    auto lower = to_lower(every_byte + every_byte);  // long enough for the vectorised loop
    for (int b = 0; b < 512; ++b) {
        int want = (b % 256 >= 'A' && b % 256 <= 'Z') ? b % 256 + 32 : b % 256;
        EXPECT_EQ(static_cast<unsigned char>(lower[static_cast<std::size_t>(b)]), want) << b;
    }
    EXPECT_TRUE(iequals("ECF.azb.USCOURTS.gov", "ecf.azb.uscourts.gov"));
    EXPECT_TRUE(icontains("Invalid ID or Password", "invalid id or password"));
    EXPECT_FALSE(icontains("abc", "abcd"));
    EXPECT_TRUE(has_ctl_breaks("a\r\nb"));
    EXPECT_FALSE(has_ctl_breaks("a b"));
    EXPECT_EQ(trim("  x \t"), "x");
}

TEST(Text, ParseUrl) {
    auto u = parse_url("https://ECF.azb.uscourts.gov/cgi-bin/x.pl?a=1#frag");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "ecf.azb.uscourts.gov");
    EXPECT_EQ(u->port, 443);
    EXPECT_EQ(u->target, "/cgi-bin/x.pl?a=1");
    auto v = parse_url("http://127.0.0.1:8443");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->port, 8443);
    EXPECT_EQ(v->target, "/");
    EXPECT_FALSE(parse_url("https://user:pw@host/"));
    EXPECT_FALSE(parse_url("ftp://host/"));
    EXPECT_FALSE(parse_url("https://host:99999/"));
    EXPECT_FALSE(parse_url("https:///x"));
}

TEST(Url, AuthoritiesFromEveryPlaceAgree) {
    auto a = parse_authority("ECF.azb.uscourts.gov.:443", port_rule::required);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "ecf.azb.uscourts.gov");
    EXPECT_EQ(a->port, 443);
    EXPECT_FALSE(a->ip_literal);
    auto v6 = parse_authority("[::1]:3128", port_rule::required);
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_TRUE(v6->ip_literal);
    struct bad { const char* text; const char* why; };
    for (auto [text, why] : {bad{"host", "the ':port' is missing"}, bad{"::1:80", "must be written in brackets"},
                             bad{"bad_host:80", "'bad_host' is not a valid host name"},
                             bad{"[zz]:80", "'zz' is not an IPv6 address"}, bad{"h:0", "port 0 is out of range"},
                             bad{"h:http", "port 'http' is not a number"}, bad{"", "it is empty"},
                             bad{"evil\r\nx:1", "'evil??x' is not a valid host name"}}) {
        std::string problem;
        EXPECT_FALSE(parse_authority(text, port_rule::required, &problem)) << text;
        EXPECT_NE(problem.find(why), std::string::npos) << text << " -> " << problem;
    }
    EXPECT_TRUE(parse_authority("localhost", port_rule::optional));
}

TEST(Url, ProblemsAreNamed) {
    std::string problem;
    EXPECT_FALSE(parse_url("https://h:99999/", &problem));
    EXPECT_NE(problem.find("has a bad port"), std::string::npos) << problem;
    EXPECT_FALSE(parse_url("https://a..b/", &problem));
    EXPECT_NE(problem.find("has a bad host"), std::string::npos) << problem;
    EXPECT_FALSE(parse_url("https://u@h/", &problem));
    EXPECT_EQ(problem, "must not contain user information");
    // Found by fuzz_parse_url: the target goes into a request line as it is.
    EXPECT_FALSE(parse_url("https://h.example/a\r\nX-Injected: 1", &problem));
    EXPECT_EQ(problem, "holds a control character");
    EXPECT_FALSE(parse_url("https://h.example/\x01", &problem));
    EXPECT_FALSE(parse_url("https://h.example/\x7f", &problem));
    auto u = parse_url("https://h.example:8443?q");
    ASSERT_TRUE(u);
    EXPECT_TRUE(u->port_given);
    EXPECT_EQ(u->target, "/?q");
}

TEST(Text, QuotedNeutralisesAndCaps) {
    EXPECT_EQ(quote("a\nb"), "'a?b'");
    EXPECT_EQ(quote(std::string(100, 'x'), 4), "'xxxx...'");
    EXPECT_EQ(sanitized("t\x7f"), "t?");
}

TEST(Names, ClientCodesFollowPacersRule) {
    for (const std::string& ok : std::vector<std::string>{"matter-17", "A.B_C", "firm/123", std::string(32, 'c')})
        EXPECT_TRUE(valid_client_code(ok)) << ok;
    for (const std::string& bad : std::vector<std::string>{"", "a b", "a,b", "a;b", "a=b", "a|b", "caf\xe9", "a\rb", std::string(33, 'c')})
        EXPECT_FALSE(valid_client_code(bad)) << bad;
    EXPECT_TRUE(valid_court_id("ohndad"));
    EXPECT_FALSE(valid_court_id("AZB"));
    EXPECT_FALSE(valid_court_id(std::string(17, 'a')));
}

TEST(Process, ForbidCoreDumpsMakesTheProcessNonDumpable) {
    // In a child, so this test process keeps its own settings.
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) ::_exit(10);  // dumpable to begin with
        if (!courtroute::forbid_core_dumps().empty()) ::_exit(11);
        if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != (courtroute::sanitizer_build ? 1 : 0)) ::_exit(12);
        rlimit core{};
        if (::getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) ::_exit(13);
        // Twice is fine (the systemd case: the limit is 0 already).
        if (!courtroute::forbid_core_dumps().empty()) ::_exit(14);
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10: not dumpable at start, 11/14: failed, 12: still dumpable, 13: core limit";
}

TEST(Text, UtcTime) {
    EXPECT_EQ(utc_time(0, "%Y-%m-%dT%H:%M:%SZ"), "1970-01-01T00:00:00Z");
    EXPECT_EQ(utc_time(1700000000, "%Y-%m-%d %H:%M UTC"), "2023-11-14 22:13 UTC");
}

TEST(Url, QueryParams) {
    using P = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(query_params("/x"), P{});
    EXPECT_EQ(query_params("/verify?user=alice&court=azb"), (P{{"user", "alice"}, {"court", "azb"}}));
    EXPECT_EQ(query_params("/l?x=1;LOGOUT&a+b=%41%zz#frag=1"), (P{{"x", "1"}, {"LOGOUT", ""}, {"a b", "A%zz"}}));
    EXPECT_EQ(query_params("/l?&=v&"), (P{{"", "v"}}));
}
