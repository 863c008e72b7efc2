#include <gtest/gtest.h>

#include "auth/legacy.hpp"
#include "auth/pacer.hpp"

#include <boost/json.hpp>

using namespace courtroute::auth;
namespace json = boost::json;

TEST(PacerLogin, BodyFields) {
    auto v = json::parse(pacer_login_body("alice01", "p\"w\\d", "MATTER-9", std::string("123456")));
    const auto& o = v.as_object();
    EXPECT_EQ(o.size(), 5u);
    EXPECT_EQ(o.at("loginId").as_string(), "alice01");
    EXPECT_EQ(o.at("password").as_string(), "p\"w\\d");
    EXPECT_EQ(o.at("clientCode").as_string(), "MATTER-9");
    EXPECT_EQ(o.at("redactFlag").as_string(), "1");
    EXPECT_EQ(o.at("otpCode").as_string(), "123456");

    auto minimal = json::parse(pacer_login_body("bob", "pw", "", std::nullopt)).as_object();
    EXPECT_EQ(minimal.size(), 3u);
    EXPECT_FALSE(minimal.contains("clientCode"));
    EXPECT_FALSE(minimal.contains("otpCode"));
    EXPECT_EQ(minimal.at("redactFlag").as_string(), "1");
}

TEST(PacerLogin, LogoutBody) {
    auto o = json::parse(pacer_logout_body("tok123")).as_object();
    EXPECT_EQ(o.size(), 1u);
    EXPECT_EQ(o.at("nextGenCSO").as_string(), "tok123");
}

namespace {
struct pacer_case {
    const char* name;
    int status;
    const char* body;
    login_kind kind;
};
} // namespace

TEST(PacerLogin, ResponseTable) {
    const std::string token(128, 'A');
    const std::string ok = R"({"nextGenCSO":")" + token + R"(","loginResult":"0","errorDescription":""})";
    const std::string ok_num = R"({"nextGenCSO":")" + token + R"(","loginResult":0})";
    const pacer_case cases[] = {
        {"success", 200, ok.c_str(), login_kind::success},
        {"success, numeric result", 200, ok_num.c_str(), login_kind::success},
        {"bad password", 200, R"({"loginResult":"1","errorDescription":"Login failed. Invalid username or password."})",
         login_kind::bad_credentials},
        {"code 13, no description", 200, R"({"loginResult":"13","nextGenCSO":""})", login_kind::bad_credentials},
        {"numeric failure", 200, R"({"loginResult":1})", login_kind::bad_credentials},
        {"missing passcode", 200,
         R"({"loginResult":"13","errorDescription":"A one-time passcode is required for this account."})",
         login_kind::mfa_required},
        {"wrong OTP", 200, R"({"loginResult":"1","errorDescription":"Invalid OTP code"})", login_kind::mfa_required},
        {"two-factor", 200, R"({"loginResult":"2","errorDescription":"Two-Factor authentication failed"})",
         login_kind::mfa_required},
        {"result 0 without token", 200, R"({"loginResult":"0","nextGenCSO":""})", login_kind::service_error},
        {"result 0 with a bad token", 200, R"({"loginResult":"0","nextGenCSO":"abc;def"})", login_kind::service_error},
        {"result 0 with token containing CRLF", 200, "{\"loginResult\":\"0\",\"nextGenCSO\":\"a\\r\\nb\"}",
         login_kind::service_error},
        {"no loginResult", 200, R"({"nextGenCSO":"abc"})", login_kind::service_error},
        {"loginResult null", 200, R"({"loginResult":null})", login_kind::service_error},
        {"not JSON", 200, "<html>Service Unavailable</html>", login_kind::service_error},
        {"JSON array", 200, "[1,2]", login_kind::service_error},
        {"empty body", 200, "", login_kind::service_error},
        {"HTTP 503", 503, ok.c_str(), login_kind::service_error},
        {"HTTP 401", 401, R"({"loginResult":"1"})", login_kind::service_error},
    };
    for (const auto& c : cases) {
        auto out = parse_pacer_response(c.status, "application/json", c.body);
        EXPECT_EQ(out.kind, c.kind) << c.name << ": got " << to_string(out.kind);
        if (c.kind == login_kind::success) {
            EXPECT_EQ(out.token, token) << c.name;
        } else {
            EXPECT_TRUE(out.token.empty()) << c.name;
            EXPECT_FALSE(out.detail.empty()) << c.name;
        }
    }
}

TEST(PacerLogin, NoticeOnSuccessAndSafeDetail) {
    auto out = parse_pacer_response(
        200, "application/json",
        R"({"nextGenCSO":"tok","loginResult":"0","errorDescription":"Your password expires in 10 days."})");
    ASSERT_EQ(out.kind, login_kind::success);
    EXPECT_EQ(out.notice, "Your password expires in 10 days.");
    EXPECT_TRUE(out.detail.empty());

    std::string long_desc(1000, 'x');
    auto failed = parse_pacer_response(
        200, "", R"({"loginResult":"1","errorDescription":"bad\r\nInjected: header\u0007 )" + long_desc + "\"}");
    ASSERT_EQ(failed.kind, login_kind::bad_credentials);
    EXPECT_LE(failed.detail.size(), 300u);
    EXPECT_EQ(failed.detail.find_first_of("\r\n\x07"), std::string::npos);
    EXPECT_EQ(failed.detail.rfind("bad Injected: header ", 0), 0u);
}

TEST(PacerLogin, SafeTextKeepsUtf8Whole) {
    std::string s(299, 'a');
    s += "\xc3\xa9"; // 'é' straddles the 300-byte cut
    auto t = safe_text(s);
    EXPECT_EQ(t.size(), 299u);
}

TEST(LegacyLogin, FormEncoding) {
    EXPECT_EQ(legacy_login_form("jdoe", "pa ss&key=x%+é"), "login=jdoe&key=pa+ss%26key%3Dx%25%2B%C3%A9");
    EXPECT_EQ(form_urlencode("A-z_0.9~"), "A-z_0.9~");
    EXPECT_EQ(form_urlencode("\r\n"), "%0D%0A");
}

namespace {
struct legacy_case {
    const char* name;
    int status;
    const char* body;
    login_kind kind;
    const char* token;
};
} // namespace

TEST(LegacyLogin, ResponseTable) {
    const legacy_case cases[] = {
        {"script cookie", 200, "<script>document.cookie=\"PacerSession=abc123;path=/\";</script>", login_kind::success,
         "abc123"},
        {"spaces and single quotes", 200, "<SCRIPT>document.cookie = 'PacerSession = Zx9-_.+/=; secure';</SCRIPT>",
         login_kind::success, "Zx9-_.+/="},
        {"concatenation", 200, "document.cookie = \"PacerSession=\" + \"tok42\" + \"; path=/\";", login_kind::success,
         "tok42"},
        {"clear first, then set", 200,
         "document.cookie='PacerSession=; expires=Thu, 01 Jan 1970';document.cookie='PacerSession=fresh;'",
         login_kind::success, "fresh"},
        {"token beats stray text", 200, "PacerSession=t1; <p>Accounts are locked after 5 bad attempts</p>",
         login_kind::success, "t1"},
        {"invalid id or password", 200, "<b>Invalid ID or password.</b> Please try again.", login_kind::bad_credentials,
         ""},
        {"lockout", 200, "Your account has been locked for 5 minutes.", login_kind::bad_credentials, ""},
        {"blocked is not locked", 200, "<html>Request blocked by filter</html>", login_kind::service_error, ""},
        {"nothing recognisable", 200, "<html>Welcome</html>", login_kind::service_error, ""},
        {"other cookie name", 200, "document.cookie='XPacerSession=abc;'", login_kind::service_error, ""},
        {"server error", 500, "PacerSession=abc;", login_kind::service_error, ""},
        {"redirect", 302, "", login_kind::service_error, ""},
    };
    for (const auto& c : cases) {
        auto out = parse_legacy_login(c.status, c.body);
        EXPECT_EQ(out.kind, c.kind) << c.name << ": got " << to_string(out.kind);
        EXPECT_EQ(out.token, c.token) << c.name;
        if (c.kind != login_kind::success) {
            EXPECT_FALSE(out.detail.empty()) << c.name;
        }
        // Every answer that is neither a session nor a named failure counts toward the lockout guard.
        EXPECT_EQ(out.unclear, c.kind == login_kind::service_error) << c.name;
    }
}
