#include <gtest/gtest.h>

#include "auth/cookies.hpp"

#include <string>

using namespace courtroute::auth;

TEST(Cookies, ScrubRemovesManagedAndKeepsOrder) {
    struct row {
        const char* in;
        const char* out;
    };
    for (auto [in, out] : {
             row{"", ""},
             row{"a=1", "a=1"},
             row{"a=1; NextGenCSO=secret; b=2", "a=1; b=2"},
             row{"PacerSession=x;PacerClientCode=y", ""},
             row{" NextGenCSO = x ;  c=3;;d=4 ", "c=3; d=4"},
             row{"nextgencso=smuggled; PACERSESSION=z; e=5", "e=5"},
             row{"NextGenCSOx=1; xPacerSession=2", "NextGenCSOx=1; xPacerSession=2"},
             row{"flag; PacerSession; f=6", "flag; f=6"},
             row{"PacerUser=u; PacerPref=p", "PacerUser=u; PacerPref=p"},
             // Found by fuzz_cookies: what a lenient server (CGI.pm splits on ',' as well and
             // trims \s) would read as the client's own session.
             row{"a=1, NextGenCSO=evil; b=2", "b=2"},
             row{"a=1,PacerSession=evil", ""},
             row{"c=3; \vPacerSession=evil", "c=3"},
             row{"c=3; \fNextGenCSO\x7f=evil", "c=3"},
             row{"PacerPref=receipt=Y,x; d=4", "PacerPref=receipt=Y,x; d=4"},
         })
        EXPECT_EQ(scrub_cookie_header(in), out) << in;
}

TEST(Cookies, NothingThatCannotBeInAHeaderGetsThrough) {
    // Found by fuzz_cookies: a piece holding NUL (or CR/LF) was kept and injected as is.
    EXPECT_EQ(scrub_cookie_header(std::string("a=1; x=\0y; b=2", 14)), "a=1; b=2");
    EXPECT_EQ(scrub_cookie_header("a=1; x=\r\nSet-Cookie: y; b=2"), "a=1; b=2");
    EXPECT_FALSE(inject_cookies(std::string("a=\0", 3), {{"PacerSession", "tok"}}));
    EXPECT_FALSE(inject_cookies("a=1\r\nX: y", {{"PacerSession", "tok"}}));
}

TEST(Cookies, InjectAppendsValidatedPairs) {
    auto v = inject_cookies("a=1", {{"NextGenCSO", "tok"}, {"PacerSession", "tok"}});
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, "a=1; NextGenCSO=tok; PacerSession=tok");
    auto empty = inject_cookies("", {{"PacerSession", "abc"}});
    ASSERT_TRUE(empty);
    EXPECT_EQ(*empty, "PacerSession=abc");
    EXPECT_EQ(*inject_cookies("a=1", {}), "a=1");
}

TEST(Cookies, InjectRejectsBadValuesAndNames) {
    for (const char* bad : {"", "a b", "a;b", "a,b", "a\r\nSet-Cookie: x", "a\"b", "a\\b", "\x7f", "caf\xc3\xa9"})
        EXPECT_FALSE(inject_cookies("a=1", {{"PacerClientCode", bad}})) << "value #" << std::string(bad).size();
    EXPECT_FALSE(inject_cookies("", {{"Bad Name", "v"}}));
    EXPECT_FALSE(inject_cookies("", {{"", "v"}}));
    EXPECT_FALSE(inject_cookies("", {{"a=b", "v"}}));
    EXPECT_FALSE(inject_cookies("", {{"PacerSession", std::string(4097, 'a')}}));
    EXPECT_TRUE(inject_cookies("", {{"PacerSession", std::string(4096, 'a')}}));
    // One bad pair rejects the whole injection: nothing half-written.
    EXPECT_FALSE(inject_cookies("", {{"NextGenCSO", "ok"}, {"PacerClientCode", "bad;"}}));
}

TEST(Cookies, ManagedSetCookie) {
    struct row {
        const char* value;
        bool managed;
    };
    for (auto [value, managed] : {
             row{"NextGenCSO=abc; Domain=.uscourts.gov; Path=/; Secure; HttpOnly", true},
             row{"PacerSession=; expires=Thu, 01 Jan 1970 00:00:00 GMT", true},
             row{" PacerClientCode = x", true},
             row{"pacersession=abc", true},
             row{"PacerSession; Path=/", true},
             row{"JSESSIONID=1; Path=/", false},
             row{"PacerPref=receipt=Y", false},
             row{"x=PacerSession=1", false},
             row{"x=1, NextGenCSO=tok; Path=/", true},
             row{"\vPacerSession=tok", true},
             row{"", false},
         })
        EXPECT_EQ(is_managed_set_cookie(value), managed) << value;
}
