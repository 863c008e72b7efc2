// ACMS (PROTOCOL.md §10) as sans-io steps: hosts, the cookie jar, the SAML form, the API token,
// "not logged in", and the sign-in machine fed with saved answer shapes of both flows and of
// every way it breaks.
#include <gtest/gtest.h>

#include "auth/acms.hpp"

using namespace courtroute::auth::acms;

namespace {

const std::string pages = "ca9-showdoc.azurewebsites.us";
const std::string idp = "idp.ca9.uscourts.gov";
const std::string token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZTAxIn0.c2lnbmF0dXJlLXNpbQ";

const std::string idp_form =
    "<HTML><BODY onload=\"document.forms[0].submit()\"><noscript><p>Press Continue</p></noscript>\n"
    "<FORM METHOD=\"POST\" ACTION=\"https://ca9-showdoc.azurewebsites.us/Saml2/Acs\">\n"
    "<INPUT TYPE=\"hidden\" NAME=\"RelayState\" VALUE=\"s2a7&amp;x=1\"/>\n"
    "<input type='hidden' name='SAMLResponse' value='PHNhbWxwOlJlc3BvbnNl&#43;IElEPSJfMSI&#x2B;PC9zYW1scDpSZXNwb25zZT4='/>\n"
    "<input type=\"submit\" value=\"Continue\"></FORM></BODY></HTML>";

const std::string model_page =
    "<html><script>var model = '{\"AuthToken\":{\"Expires\":\"2026-11-29T12:00:00Z\",\"Token\":\"" + token +
    "\"},\"User\":\"alice01\"}';</script></html>";

answer redirect(std::string_view to, std::vector<std::string_view> cookies = {}) { return {302, to, cookies, {}}; }
answer page(std::string_view body, std::vector<std::string_view> cookies = {}) { return {200, {}, cookies, body}; }

request next_request(std::variant<request, signed_in, failed> v) {
    if (auto* f = std::get_if<failed>(&v)) ADD_FAILURE() << "failed: " << f->reason;
    EXPECT_TRUE(std::holds_alternative<request>(v));
    return std::holds_alternative<request>(v) ? std::get<request>(v) : request{};
}

} // namespace

TEST(Acms, HostKinds) {
    EXPECT_EQ(kind_of("ca9-showdoc.azurewebsites.us"), host_kind::pages);
    EXPECT_EQ(kind_of("ca2-showdocservices.azurewebsites.us"), host_kind::api);
    EXPECT_EQ(kind_of("ecf.ca9.uscourts.gov"), host_kind::other);
    EXPECT_EQ(kind_of("showdoc.example.com"), host_kind::other);
}

TEST(Acms, CookieJar) {
    cookie_jar jar;
    jar.absorb(pages, "ARRAffinity=abc123; Path=/; HttpOnly; Secure; Domain=ca9-showdoc.azurewebsites.us");
    jar.absorb(pages, ".AspNetCore.Cookies=CfDJ8x; path=/; secure; samesite=lax; httponly");
    jar.absorb(pages, "bad name=1");
    jar.absorb(pages, "noequals");
    EXPECT_EQ(jar.header_for(pages), "ARRAffinity=abc123; .AspNetCore.Cookies=CfDJ8x");
    EXPECT_TRUE(jar.holds(pages, "arraffinity"));
    EXPECT_FALSE(jar.has("other.example"));
    jar.absorb(pages, "ARRAffinity=def456; Path=/");
    EXPECT_EQ(jar.header_for(pages), ".AspNetCore.Cookies=CfDJ8x; ARRAffinity=def456");
    jar.absorb(pages, ".AspNetCore.Cookies=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/");
    jar.absorb(pages, "ARRAffinity=x; Max-Age=0");
    EXPECT_FALSE(jar.has(pages));
    jar.absorb(pages, "v=\"quoted\"");
    EXPECT_EQ(jar.header_for(pages), "v=quoted");
    jar.absorb(pages, "w=a\r\nX: 1");  // never a header splitter
    EXPECT_EQ(jar.header_for(pages), "v=quoted");
}

TEST(Acms, SamlFormOnSavedPageShapes) {
    auto f = find_saml_form(idp_form);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->action, "https://ca9-showdoc.azurewebsites.us/Saml2/Acs");
    ASSERT_EQ(f->fields.size(), 2u) << "the submit button has no name";
    EXPECT_EQ(f->fields[0], (std::pair<std::string, std::string>{"RelayState", "s2a7&x=1"}));
    EXPECT_EQ(f->fields[1].second, "PHNhbWxwOlJlc3BvbnNl+IElEPSJfMSI+PC9zYW1scDpSZXNwb25zZT4=") << "entities decoded";
    EXPECT_FALSE(find_saml_form("<form action=/search><input name=q></form>"));
    EXPECT_FALSE(find_saml_form("<html>no form</html>"));
    auto request_form = find_saml_form("<form method=post action=\"https://idp.ca9.uscourts.gov/idp/SSO\">"
                                       "<input type=hidden name=SAMLRequest value=abc></form>");
    ASSERT_TRUE(request_form);
    EXPECT_TRUE(request_form->has("SAMLRequest"));
    auto unclosed = find_saml_form("<form action='/Saml2/Acs'><input name=\"SAMLResponse\" value=\"x\"");
    ASSERT_TRUE(unclosed);
    EXPECT_EQ(unclosed->action, "/Saml2/Acs");
}

TEST(Acms, ApiTokenOnEitherFlowsPage) {
    EXPECT_EQ(find_api_token(model_page), token);
    EXPECT_EQ(find_api_token("var model = '{\\\"AuthToken\\\":{\\\"Token\\\":\\\"" + token + "\\\"}}';"), token);
    EXPECT_EQ(find_api_token("{\"caseNumber\":\"24-1234\",\"docket\":{\"authToken\":\"" + token + "\",\"entries\":[]}}"),
              token);
    EXPECT_EQ(find_api_token("<div data-model=\"{&quot;AuthToken&quot;:{&quot;Token&quot;:&quot;" + token +
                             "&quot;}}\"></div>"),
              token);
    EXPECT_FALSE(find_api_token("{\"authToken\":\"short\"}"));
    EXPECT_FALSE(find_api_token("{\"AuthToken\":{\"Expires\":\"2026\"}} \"token\": \"" + token + "\""))
        << "a token outside the AuthToken object is not it";
    EXPECT_FALSE(find_api_token("<html>Docket</html>"));
}

TEST(Acms, SignedOutShapes) {
    EXPECT_TRUE(looks_signed_out(host_kind::pages, 302, "https://idp.ca9.uscourts.gov/idp/SSO?SAMLRequest=x", pages, ""));
    EXPECT_FALSE(looks_signed_out(host_kind::pages, 302, "/Case/Docket?caseId=1", pages, ""));
    EXPECT_FALSE(looks_signed_out(host_kind::pages, 302, "https://" + pages + "/Home", pages, ""));
    EXPECT_TRUE(looks_signed_out(host_kind::pages, 200, "", pages, idp_form));
    EXPECT_FALSE(looks_signed_out(host_kind::pages, 200, "", pages, "<html>Docket 24-1234</html>"));
    EXPECT_TRUE(looks_signed_out(host_kind::api, 401, "", pages, "{\"message\":\"unauthorized\"}"));
    EXPECT_FALSE(looks_signed_out(host_kind::api, 200, "", pages, "{}"));
    EXPECT_FALSE(looks_signed_out(host_kind::other, 401, "", pages, ""));
}

TEST(Acms, SignInOlderFlowWithAnExtraIdpHop) {
    signin s(pages);
    auto r = s.start();
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.host, pages);
    EXPECT_EQ(r.target, "/");
    EXPECT_FALSE(r.pacer_cookie);
    r = next_request(s.step(redirect("https://idp.ca9.uscourts.gov/idp/profile/SAML2/Redirect/SSO?SAMLRequest=abc",
                                     {"ARRAffinity=pre; Path=/"})));
    EXPECT_EQ(r.host, idp);
    EXPECT_EQ(r.target, "/idp/profile/SAML2/Redirect/SSO?SAMLRequest=abc");
    EXPECT_TRUE(r.pacer_cookie) << "NextGenCSO goes to the identity provider";
    r = next_request(s.step(redirect("/idp/authn/external?conversation=e1s1", {"JSESSIONID=idp1; Path=/idp"})));
    EXPECT_EQ(r.host, idp);
    EXPECT_EQ(r.target, "/idp/authn/external?conversation=e1s1");
    EXPECT_EQ(r.cookies, "JSESSIONID=idp1") << "the identity provider's own cookie comes back to it";
    EXPECT_TRUE(r.pacer_cookie);
    r = next_request(s.step(page(idp_form)));
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.host, pages);
    EXPECT_EQ(r.target, "/Saml2/Acs");
    EXPECT_FALSE(r.pacer_cookie) << "never a PACER cookie to ACMS";
    EXPECT_EQ(r.cookies, "ARRAffinity=pre");
    EXPECT_EQ(r.body, "RelayState=s2a7%26x%3D1&SAMLResponse=PHNhbWxwOlJlc3BvbnNl%2BIElEPSJfMSI%2BPC9zYW1scDpSZXNwb25zZT4%3D");
    auto done = s.step(page(model_page, {".AspNetCore.Cookies=sess1; path=/; secure; httponly"}));
    ASSERT_TRUE(std::holds_alternative<signed_in>(done));
    auto& ok = std::get<signed_in>(done);
    EXPECT_EQ(ok.token, token);
    EXPECT_EQ(ok.jar.header_for(pages), "ARRAffinity=pre; .AspNetCore.Cookies=sess1");
    EXPECT_FALSE(ok.jar.holds(pages, "JSESSIONID")) << "the identity provider's cookies stay its own";
}

TEST(Acms, SignInNewerFlowFindsTheTokenInIndexContent) {
    signin s(pages);
    (void)s.start();
    (void)next_request(s.step(redirect("https://idp.ca9.uscourts.gov/idp/SSO")));
    (void)next_request(s.step(page(idp_form)));
    auto r = next_request(s.step(redirect("/", {"ARRAffinity=a1; Path=/", ".AspNetCore.Cookies=c1; path=/"})));
    EXPECT_EQ(r.host, pages);
    EXPECT_EQ(r.target, "/");
    EXPECT_EQ(r.cookies, "ARRAffinity=a1; .AspNetCore.Cookies=c1");
    r = next_request(s.step(page("<html><div id=app></div><script src=/js/app.js></script></html>")));
    EXPECT_EQ(r.target, "/Home/IndexContent");
    auto done = s.step(page("{\"docket\":{\"authToken\":\"" + token + "\"}}"));
    ASSERT_TRUE(std::holds_alternative<signed_in>(done));
    EXPECT_EQ(std::get<signed_in>(done).token, token);
}

TEST(Acms, SignInViaThePostBindingAndWithoutAToken) {
    signin s(pages);
    (void)s.start();
    auto r = next_request(s.step(page("<body onload=\"document.forms[0].submit()\"><form method=post "
                                      "action=\"https://idp.ca9.uscourts.gov/idp/profile/SAML2/POST/SSO\">"
                                      "<input type=hidden name=SAMLRequest value=\"req+1\"></form></body>")));
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.host, idp);
    EXPECT_EQ(r.body, "SAMLRequest=req%2B1");
    EXPECT_TRUE(r.pacer_cookie);
    (void)next_request(s.step(page(idp_form)));
    r = next_request(s.step(page("<html>Welcome</html>", {"ARRAffinity=a1"})));
    EXPECT_EQ(r.target, "/Home/IndexContent");
    auto done = s.step(answer{404, {}, {}, "not found"});
    ASSERT_TRUE(std::holds_alternative<signed_in>(done)) << "signed in; the API token is just missing";
    EXPECT_FALSE(std::get<signed_in>(done).token);
}

TEST(Acms, EveryBreakEndsInAReasonNeverALoop) {
    auto fail_reason = [](std::variant<request, signed_in, failed> v) {
        EXPECT_TRUE(std::holds_alternative<failed>(v));
        return std::holds_alternative<failed>(v) ? std::get<failed>(v) : failed{};
    };
    {  // the identity provider does not take the PACER session
        signin s(pages);
        (void)s.start();
        (void)next_request(s.step(redirect("https://idp.ca9.uscourts.gov/idp/SSO")));
        auto f = fail_reason(s.step(redirect("https://pacer.login.uscourts.gov/csologin/login.jsf?appurl=x")));
        EXPECT_TRUE(f.pacer_rejected);
        EXPECT_NE(f.reason.find("PACER's login page"), std::string::npos);
    }
    {  // a changed form: no SAMLResponse
        signin s(pages);
        (void)s.start();
        (void)next_request(s.step(redirect("https://idp.ca9.uscourts.gov/idp/SSO")));
        auto f = fail_reason(s.step(page("<html><form action=/login><input name=user></form></html>")));
        EXPECT_NE(f.reason.find("without the SAML form"), std::string::npos) << f.reason;
        EXPECT_FALSE(f.pacer_rejected);
    }
    {  // a form that would post the assertion elsewhere
        signin s(pages);
        (void)s.start();
        (void)next_request(s.step(redirect("https://idp.ca9.uscourts.gov/idp/SSO")));
        auto f = fail_reason(s.step(page("<form action=\"https://evil.example/Saml2/Acs\"><input name=SAMLResponse value=x></form>")));
        EXPECT_NE(f.reason.find("evil.example"), std::string::npos) << f.reason;
    }
    {  // ACMS sends the sign-in straight back to the identity provider after the SAML response
        signin s(pages);
        (void)s.start();
        (void)next_request(s.step(redirect("https://idp.ca9.uscourts.gov/idp/SSO")));
        (void)next_request(s.step(page(idp_form)));
        auto f = fail_reason(s.step(redirect("https://idp.ca9.uscourts.gov/idp/SSO?again=1", {"ARRAffinity=a"})));
        EXPECT_NE(f.reason.find("after the SAML response"), std::string::npos) << f.reason;
    }
    {  // no session cookie at all
        signin s(pages);
        (void)s.start();
        (void)next_request(s.step(redirect("https://idp.ca9.uscourts.gov/idp/SSO")));
        (void)next_request(s.step(page(idp_form)));
        auto f = fail_reason(s.step(page(model_page)));
        EXPECT_NE(f.reason.find("no session cookie"), std::string::npos) << f.reason;
    }
    {  // an endless chain of redirects inside the identity provider
        signin s(pages);
        (void)s.start();
        std::variant<request, signed_in, failed> v = s.step(redirect("https://idp.ca9.uscourts.gov/a"));
        int requests = 1;
        while (std::holds_alternative<request>(v) && requests < 100) {
            ++requests;
            v = s.step(redirect("/a" + std::to_string(requests)));
        }
        EXPECT_LE(requests, signin::max_requests);
        EXPECT_NE(fail_reason(v).reason.find("redirect loop"), std::string::npos);
    }
    {  // a server error, and a redirect to plain http
        signin s(pages);
        (void)s.start();
        EXPECT_NE(fail_reason(s.step(answer{503, {}, {}, "busy"})).reason.find("503"), std::string::npos);
        signin t(pages);
        (void)t.start();
        EXPECT_NE(fail_reason(t.step(redirect("http://idp.ca9.uscourts.gov/x"))).reason.find("not an https URL"),
                  std::string::npos);
    }
}
