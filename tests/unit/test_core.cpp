#include <gtest/gtest.h>

#include "core/diagnostic.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

#include <vector>

using namespace courtroute;

TEST(Diagnostic, FormatsFileLineColumn) {
    EXPECT_EQ((diagnostic{"a.toml", 3, 7, "unknown key 'x'"}.to_string()), "a.toml:3:7: unknown key 'x'");
    EXPECT_EQ((diagnostic{"a.toml", 0, 0, "empty"}.to_string()), "a.toml:1:1: empty");
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
