#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/, and the hostile
inputs into tests/fuzz/hostile/<target>/.

Seeds are small, real-looking inputs: the shapes PROTOCOL.md describes, the pages the test
simulator (tests/sim) serves, the shipped config and drop-ins, good and bad TOML. Hostile
inputs are 64 KiB pages that a super-linear scan cannot judge within the fuzz runs' -timeout;
run.sh replays them once per run instead of mutating them (64 KiB inputs would slow the
fuzzing itself a hundredfold). Run this again after changing it; the files are committed.
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
from sim.sim import LIMITED_MENU, NOT_LOGGED_IN_XML, PACER_LOGIN_PAGE, full_menu  # noqa: E402

corpus = {}


hostile_inputs = {}


def seed(target, name, data):
    corpus.setdefault(target, {})[name] = data.encode("utf-8") if isinstance(data, str) else data


def hostile_seed(target, name, data):
    hostile_inputs.setdefault(target, {})[name] = data.encode("utf-8")


def answer(status, body, location=None, ctype=None):
    """The framing of fuzz::parse_answer: status line, headers, empty line, body."""
    head = "%d\n" % status
    if location is not None:
        head += "Location: %s\n" % location
    if ctype is not None:
        head += "Content-Type: %s\n" % ctype
    return head + "\n" + body


def hostile(piece, size=64 << 10):
    return (piece * (size // len(piece) + 1))[:size]


# ---------------------------------------------------------------------------- config
with open(os.path.join(REPO, "config", "courtroute.toml")) as f:
    seed("config", "shipped", f.read())
with open(os.path.join(REPO, "config", "local.toml")) as f:
    seed("config", "local", f.read())
seed("config", "every_key", """\
[listen]
proxy = "127.0.0.1:3128"
threads = 2
max_connections = 4096

[registry]
dirs = ["/usr/share/courtroute/courts.d", "/etc/courtroute/courts.d", "courts.d"]

[state]
dir = "/var/lib/courtroute"

[secrets]
key_file = "secret.key"

[pacer]
auth_url   = "https://qa-login.uscourts.gov/services/cso-auth"
logout_url = "https://qa-login.uscourts.gov/services/cso-logout"

[upstream]
ca_file = "sim-ca.pem"
resolve = { "ecf.azb.uscourts.gov:443" = "127.0.0.1:8443", "pacer.login.uscourts.gov:443" = "localhost:8443" }

[policy]
unlinked_nextgen = "block"
other_hosts      = "tunnel"
anonymous_user   = "alice"
""")
seed("config", "ipv6_listen", '[listen]\nproxy = "[::1]:3128"\n[upstream]\nresolve = { "[::1]:443" = "[::1]:8443" }\n')
for i, bad in enumerate([
    '[listen]\nproxy = "127.0.0.1:3128"\nbogus = 1\n',
    '[listen.extra]\nx = 1\n',
    'proxy = "127.0.0.1:3128"\n',
    '[listen]\nproxy = 3128\n',
    '[registry]\ndirs = ["/a", 5]\n',
    '[listen]\nproxy = "::1:3128"\n',
    '[listen]\nproxy = "127.0.0.1:70000"\n',
    '[listen]\nthreads = -1\nmax_connections = 0\n',
    '[pacer]\nauth_url = "http://pacer.login.uscourts.gov/x"\nlogout_url = "https://u:p@h/"\n',
    '[pacer]\nauth_url = "https://pacer.login.uscourts.gov/a\\r\\nX: y"\n',
    '[policy]\nunlinked_nextgen = "allow"\nanonymous_user = "a\\u0007b"\n',
    '[upstream]\nresolve = { "A.b:443" = "127.0.0.1:1", "a.B:443" = "127.0.0.1:2" }\n',
    '[listen]\nproxy = "127.0.0.1:3128\n',
    '[state]\ndir = "a"\ndir = "b"\n',
    '[listen]\nthreads = i\n',
]):
    seed("config", "bad_%02d" % i, bad)

# ---------------------------------------------------------------------------- registry
for court in ("azb", "ohndad", "ca9", "nvb", "cofc"):
    path = os.path.join(REPO, "courts.d", court + ".toml")
    if os.path.exists(path):
        with open(path) as f:
            seed("registry", court, f.read())
seed("registry", "legacy_cutover", 'id = "nvb"\nname = "U.S. Bankruptcy Court for the District of Nevada"\n'
     'type = "bankruptcy"\necf_url = "https://ecf.nvb.uscourts.gov/"\nsystem = "legacy"\nnextgen_since = 2031-01-05\n')
seed("registry", "extra_hosts", 'id = "ca2"\nname = "Second Circuit"\ntype = "appellate"\n'
     'ecf_url = "https://ecf.ca2.uscourts.gov:443"\nsystem = "nextgen"\n'
     'extra_hosts = ["ca2-showdoc.azurewebsites.us", "CA2-showdocservices.azurewebsites.us"]\n')
seed("registry", "empty", "")
seed("registry", "comments_only", "# masked\n\n")
for i, bad in enumerate([
    'id = "AZB"\nname = "x"\ntype = "bankruptcy"\necf_url = "https://ecf.azb.uscourts.gov"\nsystem = "nextgen"\n',
    'id = "azb"\nname = ""\ntype = "court"\necf_url = "http://ecf.azb.uscourts.gov"\nsystem = "next"\n',
    'id = "azb"\nname = "x"\ntype = "district"\necf_url = "https://ecf.azb.uscourts.gov/cgi-bin"\nsystem = "legacy"\n',
    'id = "azb"\nname = "x"\ntype = "district"\necf_url = "https://ecf.azb.uscourts.gov:8443"\nsystem = "legacy"\n',
    'id = "azb"\nname = "x"\ntype = "district"\necf_url = "https://127.0.0.1"\nsystem = "legacy"\n',
    'id = "azb"\nname = "x"\ntype = "district"\necf_url = "https://ecf.azb.uscourts.gov"\nsystem = "nextgen"\n'
    'nextgen_since = "2021-06-28"\n',
    'id = "azb"\nname = "x"\ntype = "district"\necf_url = "https://ecf.azb.uscourts.gov"\nsystem = "nextgen"\n'
    'nextgen_since = 2021-06-28T10:00:00\nextra_hosts = ["ecf.azb.uscourts.gov", "bad_host"]\nbogus = 1\n',
    'id = "azb"\nname = "x\\ny"\n',
    'id = "azb"\nname = "x"\ntype = "district"\necf_url = "https://ecf.azb.uscourts.gov#frag"\nsystem = "nextgen"\n',
    'id = "azb"\nname = "x"\nid = "azb"\n',
    '[court]\nid = "azb"\n',
]):
    seed("registry", "bad_%02d" % i, bad)

# ---------------------------------------------------------------------------- PACER cso-auth answers
J = "application/json"
token = "aZ3" * 42 + "xy"  # ~128 characters, as PACER's
seed("pacer_response", "success", answer(200, '{"nextGenCSO":"%s","loginResult":"0","errorDescription":""}' % token, ctype=J))
seed("pacer_response", "success_notice", answer(200, '{"nextGenCSO":"%s","loginResult":"0","errorDescription":'
                                                     '"Your password will expire in 12 days.\\nPlease change it."}' % token, ctype=J))
seed("pacer_response", "success_number", answer(200, '{"loginResult":0,"nextGenCSO":"%s"}' % token, ctype="text/html"))
seed("pacer_response", "bad_password", answer(200, '{"nextGenCSO":"","loginResult":"13","errorDescription":'
                                                  '"Login failed. Invalid username or password."}', ctype=J))
seed("pacer_response", "bad_login_1", answer(200, '{"loginResult":"1","errorDescription":"Invalid login"}', ctype=J))
seed("pacer_response", "mfa", answer(200, '{"nextGenCSO":"","loginResult":"13","errorDescription":'
                                         '"Login failed. A valid one-time passcode is required for this account."}', ctype=J))
seed("pacer_response", "mfa_word", answer(200, '{"loginResult":"2","errorDescription":"OTP code missing (MFA)"}', ctype=J))
seed("pacer_response", "zero_no_token", answer(200, '{"loginResult":"0","nextGenCSO":""}', ctype=J))
seed("pacer_response", "bad_token", answer(200, '{"loginResult":"0","nextGenCSO":"a b;c\\r\\nX: y"}', ctype=J))
seed("pacer_response", "redact", answer(200, '{"nextGenCSO":"","loginResult":"2","errorDescription":'
                                            '"Login failed. You must acknowledge the redaction rules (redactFlag)."}', ctype=J))
seed("pacer_response", "html_503", answer(503, "<html><body>Service Unavailable</body></html>", ctype="text/html"))
seed("pacer_response", "html_200", answer(200, "<html><head><title>PACER: Login</title></head></html>", ctype="text/html"))
seed("pacer_response", "malformed_400", answer(400, '{"loginResult": "1", "nextGenCSO": "", "errorDescription": "Malformed request."}', ctype=J))
seed("pacer_response", "array", answer(200, '[{"loginResult":"0"}]', ctype=J))
hostile_seed("pacer_response", "deep_json", answer(200, hostile("[")))
hostile_seed("pacer_response", "long_description", answer(200, '{"loginResult":"1","errorDescription":"%s"}'
                                                          % hostile("one time \\u0007 ")))
seed("pacer_response", "bare_body", '{"nextGenCSO":"tok","loginResult":"0","extra":{"nested":[1,2.5e3,null,true]}}')

# ---------------------------------------------------------------------------- legacy login.pl answers
seed("legacy_login", "success", answer(200, '<html><head><script type="text/javascript">'
                                           'document.cookie="PacerSession=Xk2mQ9vT7rLp;path=/";'
                                           'location.href="/cgi-bin/iquery.pl";</script></head></html>'))
seed("legacy_login", "success_spaces", answer(200, "<script>document.cookie = 'PacerSession = \"abc123\"; path=/'</script>"))
seed("legacy_login", "success_concat", answer(200, '<script>document.cookie = "PacerSession=" + "tok42" + ";path=/";</script>'))
seed("legacy_login", "clear_then_set", answer(200, '<script>document.cookie="PacerSession=;expires=Thu, 01 Jan 1970";'
                                                  'document.cookie="PacerSession=tok;path=/";</script>'))
seed("legacy_login", "invalid", answer(200, "<html><body><h3>Login Error</h3><p>Invalid ID or password.</p></body></html>"))
seed("legacy_login", "locked", answer(200, "<html><body>Your account has been locked for 5 minutes.</body></html>"))
seed("legacy_login", "disabled", answer(200, "<html><body>This account is disabled.</body></html>"))
seed("legacy_login", "form_again", answer(200, '<html><head><title>NVB - CM/ECF Login</title></head><body>'
                                              '<form method="POST" action="/cgi-bin/login.pl" enctype="multipart/form-data">'
                                              'Login: <input type="text" name="login" size="20"><br>'
                                              'Password: <input type="password" name="key" size="20"><br>'
                                              '<input type="submit" value="Login"></form></body></html>'))
hostile_seed("legacy_login", "empty_sessions", answer(200, hostile("PacerSession=;")))
hostile_seed("legacy_login", "words", answer(200, hostile("blocked PacerSessionX=1 invalid ")))
seed("legacy_login", "server_error", answer(500, "<html><body>Internal Server Error</body></html>"))

# ---------------------------------------------------------------------------- court pages ("logged out" and menus)


def page(court_id, labels, path="/cgi-bin/iquery.pl"):
    """The simulator's logged-in page (tests/sim/sim.py _page)."""
    links = []
    for label in labels:
        href = "/cgi-bin/login.pl?logout" if label == "Logout" else "/cgi-bin/DisplayMenu.pl?%sEvents" % label
        links.append('<a href="%s">%s</a>' % (href, label))
    return ("<html><head><title>%s CM/ECF</title></head><body>\n"
            '<div id="topmenu"><div id="topmenuinner">%s</div></div>\n'
            '<div id="cmecfMainContent"><p>Page: <span id="sim-path">%s</span></p></div>\n'
            "</body></html>" % (court_id.upper(), " ".join(links), path))


login_url = PACER_LOGIN_PAGE + "?pscCourtId=AZBK"
script_redirect = ('<html><head><script type="text/javascript">\nwindow.location = "%s";\n'
                   "</script></head><body></body></html>" % login_url)
meta_refresh = ('<html><head><meta http-equiv="refresh" content="0; url=%s"></head>'
                "<body>Redirecting to PACER login</body></html>" % login_url.replace("&", "&amp;"))
legacy_form = ('<html><head><title>NVB - CM/ECF Login</title></head><body>'
               '<form method="POST" action="/cgi-bin/login.pl" enctype="multipart/form-data">'
               'Login: <input type="text" name="login" size="20"><br>'
               'Password: <input type="password" name="key" size="20"><br>'
               '<input type="submit" value="Login"></form></body></html>')
seed("logged_out", "script_redirect", script_redirect)
seed("logged_out", "script_escaped", '<script>var u = "https:\\/\\/pacer.login.uscourts.gov\\/csologin\\/login.jsf";'
                                     " location.replace(u);</script>")
seed("logged_out", "meta_refresh", meta_refresh)
seed("logged_out", "onload", "<body onload=\"window.location='https://qa-login.uscourts.gov/csologin/login.jsf'\"></body>")
seed("logged_out", "xml", answer(200, NOT_LOGGED_IN_XML, ctype="text/xml"))
seed("logged_out", "xml_mislabelled", answer(200, '<message text="Not logged in.  Please refresh this page."/>', ctype="text/html"))
seed("logged_out", "xml_cases", answer(200, "<request number='1:24-bk-00001'><case number='1:24-bk-00001' id='12345' "
                                            "title='In re Test Debtor'/></request>", ctype="text/xml"))
seed("logged_out", "redirect_pacer", answer(302, "<html><body>Found</body></html>", location=login_url))
seed("logged_out", "redirect_legacy", answer(303, "", location="/cgi-bin/login.pl?back=DktRpt.pl"))
seed("logged_out", "redirect_logout", answer(302, "", location="/cgi-bin/login.pl?logout"))
seed("logged_out", "redirect_trick", answer(302, "", location="https://pacer.login.uscourts.gov@evil.example/"))
seed("logged_out", "legacy_form", legacy_form)
seed("logged_out", "logged_in", page("azb", full_menu("bankruptcy")))
seed("logged_out", "logged_in_with_script", '<a href="/cgi-bin/login.pl?logout">Logout</a><script>function cc(){location.href='
                                            "'https://pacer.login.uscourts.gov/csologin/login.jsf';}</script>")
seed("logged_out", "public_link", '<p>Location: Phoenix. <a href="%s">Log in</a></p>' % PACER_LOGIN_PAGE)
seed("logged_out", "lookalike", "<script>location='https://pacer.login.uscourts.gov.evil.example/csologin/login.jsf'</script>")
# Hostile pages: each took seconds (quadratic scans) before detect.cpp was made linear.
hostile_seed("logged_out", "script_opens", hostile("<script "))
hostile_seed("logged_out", "form_no_gt", hostile("<form action=login.pl "))
hostile_seed("logged_out", "form_inputs", hostile("<form action=login.pl><input "))
hostile_seed("logged_out", "meta_no_gt", hostile("<meta http-equiv=refresh "))
hostile_seed("logged_out", "message_no_gt", answer(200, hostile("<message "), ctype="text/xml"))
hostile_seed("logged_out", "markers", "<script>" + hostile("xcsologin/login.jsf"))

seed("menus", "bankruptcy_linked", page("azb", full_menu("bankruptcy")))
seed("menus", "district_linked", page("azd", full_menu("district")))
seed("menus", "appellate", page("ca9", full_menu("appellate")))
seed("menus", "limited", page("cacb", LIMITED_MENU))
seed("menus", "limited_with_text", "<title>U.S. Bankruptcy Court</title><a href='/cgi-bin/iquery.pl'>Query</a><a>Reports</a>"
                                   "<a>Utilities</a><a href='/cgi-bin/login.pl?logout'>Logout</a><p>Civil cases are heard downstairs</p>")
seed("menus", "spaced_labels", "<li><a href='/cgi-bin/DisplayMenu.pl?AdversaryEvents'> Adversary </a></li><li> Query </li>")
seed("menus", "docket", "<html><h3>Docket Report</h3><table></table></html>")
hostile_seed("menus", "labels", hostile("Civil   Query   Utilities   "))

# ---------------------------------------------------------------------------- URLs
urls = [
    "https://pacer.login.uscourts.gov/csologin/login.jsf?pscCourtId=AZBK",
    "https://Pacer.Login.USCourts.gov./csologin/login.jsf",
    "https://evil/?pacer.login.uscourts.gov",
    "https://pacer.login.uscourts.gov@evil.example/x",
    "https://evil.example:443#pacer.login.uscourts.gov",
    "//qa-login.uscourts.gov:8443/x",
    "https:\\\\pacer.login.uscourts.gov\\x",
    "/csologin/login.jsf",
    "https://[::1]:8443/cgi-bin/iquery.pl",
    "http://127.0.0.1:3128/court/azb/cgi-bin/DktRpt.pl?12345",
    "https://ecf.ohndad.ohnd.uscourts.gov",
    "HTTPS://ECF.AZB.USCOURTS.GOV:443?x=1#frag",
    "https://h.example:99999/",
    "javascript:location='https://pacer.login.uscourts.gov/'",
]
for i, u in enumerate(urls):
    seed("url_host", "url_%02d" % i, u)
    seed("parse_url", "url_%02d" % i, u)
for i, a in enumerate(["ecf.azb.uscourts.gov:443", "[::1]:3128", "127.0.0.1:8443", "localhost", "ecf.azb.uscourts.gov.:443"]):
    seed("parse_url", "authority_%02d" % i, a)

# ---------------------------------------------------------------------------- cookies
seed("cookies", "browser", "PacerUser=alice; PacerPref=receipt=Y; NextGenCSO=client-secret; PacerSession=x; JSESSIONID=1\n"
                           "NextGenCSO=" + token + "\nPacerSession=" + token + "\nPacerClientCode=matter-42/a")
seed("cookies", "case_variants", " nextgencso = x ;  c=3;;d=4 ; PACERSESSION=z; flag; PacerSession\nPacerSession=tok")
seed("cookies", "lenient", "a=1, NextGenCSO=evil; \x0bPacerSession=evil; b=2\nPacerSession=tok")
seed("cookies", "bad_pairs", "a=1\nPacerClientCode=bad;value\nBad Name=v\nPacerSession=" + "a" * 4097)
seed("cookies", "set_cookie", "NextGenCSO=abc; Domain=.uscourts.gov; Path=/; Secure; HttpOnly")
seed("cookies", "set_cookie_clear", "PacerSession=; expires=Thu, 01 Jan 1970 00:00:00 GMT")

# ---------------------------------------------------------------------------- base64 / base32
for i, b in enumerate(["YWxpY2U6dG9rZW4=", "YWxpY2U6", "YQ==", "YWI=", "", "!!!!", "YQ=a", "YWxp\nY2U="]):
    seed("base64", "b64_%02d" % i, b)
for i, b in enumerate(["JBSWY3DPEHPK3PXP", "jbsw y3dp ehpk 3pxp", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
                       "MZXW6===", "MZXW6YQ=", "A", "ABC", "ABCDEF", "0189"]):
    seed("base32", "b32_%02d" % i, b)

# ---------------------------------------------------------------------------- fees
from sim.fees import RECEIPT_VARIANTS, _pdf, render_receipt  # noqa: E402

for i, variant in enumerate(sorted(RECEIPT_VARIANTS)):
    seed("fees", "receipt_%s" % variant,
         "<html><body><h3>Docket</h3><table><tr><td>1</td></tr></table><hr>"
         + render_receipt("ab1234", "smith/0042", "Docket Report", "2:24-cv-00061", 3 + i, 30 + 10 * i,
                          when=1795960283, capped=i % 2 == 1, shape=variant)
         + "</body></html>")
seed("fees", "pdf_3", _pdf("azb", "0123", 3))
seed("fees", "pdf_count_only", b"%PDF-1.5\n<< /Type /Pages /Count 12 /Kids [3 0 R] >>\n")
seed("fees", "cookies_off", "a=1; PacerPref=receipt=N")
seed("fees", "multidocs", "/cgi-bin/show_multidocs.pl?caseid=1&arr_de_seq_nums=5,6,7")
seed("fees", "run_report", "<form><input type=submit value='Run Report'></form>")

# ---------------------------------------------------------------------------- write
for folder, inputs in (("corpus", corpus), ("hostile", hostile_inputs)):
    root = os.path.join(HERE, folder)
    if os.path.isdir(root):
        shutil.rmtree(root)
    for target, files in sorted(inputs.items()):
        os.makedirs(os.path.join(root, target))
        for name, data in files.items():
            with open(os.path.join(root, target, name), "wb") as f:
                f.write(data)
        print("%-8s %-16s %3d inputs" % (folder, target, len(files)))
