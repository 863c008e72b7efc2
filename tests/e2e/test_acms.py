"""End-to-end tests of ACMS through courtroute (issue 12, PROTOCOL.md §10): the real daemon,
curl and Debian's python3-requests through real TLS on 127.0.0.1, against the simulated ACMS
of the Second and Ninth Circuits (tests/sim/acms.py: pages host, API host, PACER's identity
provider reading NextGenCSO, the SAML form, both token flows, expiry, and broken flows).

A client that knows nothing of SAML reads an ACMS docket page and an ACMS API answer with the
user's PACER credentials, one PACER login in all, and sees no ACMS or PACER cookie or token.
The same holds through python3-requests, for every variation of the flow the simulator can play
(an extra hop at the identity provider, the POST binding, Shibboleth's encoded attributes,
chunked cookies, IndexContent as HTML, absolute redirects), for concurrent first requests (one
sign-in), across a new PACER login (a new sign-in with the new session), between users and
between courts (no shared session, no cookie carried across), and in `courtroute status`.

Run with `COURTROUTE_BIN=<dir> COURTROUTE_SRC=<repo> /usr/bin/python3 -m unittest -v test_acms`.
"""

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402
from harness import Daemon, SecretWatch, Simulator, curl  # noqa: E402
from sim.acms import (ACMS_IDP_HOST, PACER_COOKIE_NAMES, acms_services_host,  # noqa: E402
                      acms_showdoc_host, is_acms_cookie_name)

SIM_COURTS = {"ca9": dict(type="appellate"), "ca2": dict(type="appellate"), "azb": dict(type="bankruptcy")}
COUNTS = {"requests": 0, "signins": 0}
# The simulator's ACMS knobs and their defaults (tests/sim/acms.py), restored around every test.
KNOB_DEFAULTS = {
    "acms_flow": "model", "acms_break": None, "acms_challenge": "redirect",
    "acms_idp_extra_hop": False, "acms_idp_hop_needs_cookie": True,
    "acms_absolute_locations": False, "acms_form_style": "plain", "acms_cookie_chunks": 0,
    "acms_indexcontent_type": "json", "acms_require_affinity": True,
    "acms_session_max_age": None, "acms_idle_timeout": None, "acms_tied_to_pacer": False,
    "acms_saml_lifetime": 300.0,
}
# Cookie names a client must never see from ACMS or PACER (chunks are matched by prefix too).
SECRET_COOKIE_NAMES = ("ARRAffinity", ".AspNetCore.Cookies", "AspNetCore", "JSESSIONID") + PACER_COOKIE_NAMES


class AcmsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not harness.have_binaries():
            raise unittest.SkipTest("no courtrouted/courtroute in %s" % harness.build_dir())
        cls.tmp = tempfile.mkdtemp(prefix="courtroute-acms-")
        cls.sim = Simulator(os.path.join(cls.tmp, "sim"), courts=SIM_COURTS).start()
        cls.watch = SecretWatch(cls.sim)
        courts = {}
        for c in cls.sim.courts.values():
            spec = dict(type=c.type, system=c.system, host=c.host)
            if c.id in ("ca2", "ca9"):
                spec["extra_hosts"] = [acms_showdoc_host(c.id), acms_services_host(c.id)]
            courts[c.id] = spec
        cls.d = Daemon(os.path.join(cls.tmp, "d"), sim=cls.sim, courts=courts, watch=cls.watch).start()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop()
            cls.watch.assert_absent(daemon_log=cls.d.log_text())
        finally:
            cls.sim.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            print("acms: %d requests through courtroute, %d ACMS sign-ins" % (COUNTS["requests"], COUNTS["signins"]))

    def reset_knobs(self):
        for name, value in KNOB_DEFAULTS.items():
            setattr(self.sim, name, value)
        self.sim.acms_fault = {}

    def setUp(self):
        self.reset_knobs()
        self.seen = []
        self.sessions = []

    def tearDown(self):
        self.reset_knobs()
        for s in self.sessions:
            s.close()
        self.assertFalse(self.sim.acms_pacer_cookie_leaked, "a PACER/CM-ECF cookie reached an ACMS host")
        self.assertFalse(self.sim.acms_credential_leaked, "an ACMS credential reached a uscourts.gov host")
        self.watch.assert_absent(**{"seen #%d" % i: t for i, t in enumerate(self.seen)})
        COUNTS["signins"] = self.sim.acms_counts()["signins"]

    def account(self):
        type(self).n += 1
        user, login = "ac%02d" % self.n, "acpl%02d" % self.n
        pw = "Pw-acms-%s-7e6d5c4b3a" % login
        self.watch.add("pacer password", pw)
        self.sim.add_pacer_account(login, pw)
        token = self.d.add_user(user)
        r = self.d.cli(["pacer", "set", user, "--login", login], stdin=pw + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        return user, token, login

    def fetch(self, user, token, host, path, **kw):
        r = curl(["-sS", "https://%s%s" % (host, path)] + kw.get("args", []),
                 proxy=self.d.proxy_url(user, token), cacert=self.d.ca_path())
        COUNTS["requests"] += 1
        self.seen.append("\n".join("%s: %s" % kv for kv in r.headers) + "\n" + r.text)
        return r

    def client(self, user, token):
        """A fresh python3-requests session through the daemon (forward proxy, its CA trusted)."""
        s = harness.requests_session(self.d.proxy_url(user, token), self.d.ca_path())
        self.sessions.append(s)
        return s

    def get(self, session, host, path, **kw):
        """GET https://host/path with `session`; the answer joins what SecretWatch checks."""
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        r = session.get("https://%s%s" % (host, path), **kw)
        COUNTS["requests"] += 1
        self.seen.append(SecretWatch._text(r))
        return r

    def pacer_logins(self, login):
        return [a for a in list(self.sim.pacer_attempts) if a.login == login]

    def acms_row(self, user, court):
        st = self.d.status()
        self.seen.append(json.dumps(st))
        return {c["court"]: c for u in st["users"] if u["user"] == user for c in u["courts"]}[court]["acms"]

    def assert_requests_clean(self, session, *answers):
        """No ACMS or PACER cookie in the session's jar or in any answer's headers, no
        Set-Cookie at all, and no secret the simulator issued anywhere in them."""
        jar = [c.name for c in session.cookies]
        self.assertEqual([n for n in jar if n.startswith(SECRET_COOKIE_NAMES) or is_acms_cookie_name(n)], [],
                         "cookies reached the client's jar")
        self.assertEqual(jar, [], "the client's jar is not empty")
        for r in answers:
            head = "\n".join("%s: %s" % kv for kv in r.headers.items())
            self.assertNotIn("Set-Cookie", r.headers)
            for name in SECRET_COOKIE_NAMES:
                self.assertNotIn(name, head)
            self.watch.assert_absent(**{"answer %s %s" % (r.request.method, r.url): r})
        self.watch.assert_absent(jar=repr([(c.name, c.value) for c in session.cookies]))

    def page_and_api(self, session, court, case):
        """An ACMS docket page and the same docket from the API, both 200 and clean."""
        page = self.get(session, acms_showdoc_host(court), "/Case/Docket?caseId=" + case)
        self.assertEqual(page.status_code, 200, self.watch.redact(page.text)[:300])
        self.assertIn('<h1 id="case-number">%s</h1>' % case, page.text)
        self.assertEqual(page.headers.get("Courtroute-Route"), "pacer")
        api = self.get(session, acms_services_host(court), "/api/Dockets/" + case)
        self.assertEqual(api.status_code, 200, self.watch.redact(api.text)[:300])
        doc = api.json()
        self.assertEqual((doc["caseNumber"], doc["courtId"]), (case, court.upper()))
        self.assertEqual([e["billablePages"] for e in doc["entries"]], [3, 30, 1])
        self.assert_requests_clean(session, page, api)
        return page, api

    def assert_clean(self, r):
        """No ACMS or PACER cookie or token in what the client got."""
        self.assertEqual(r.headers.get_all("Set-Cookie"), [])
        for name in ("ARRAffinity", "AspNetCore", "NextGenCSO", "PacerSession"):
            self.assertNotIn(name, "\n".join("%s: %s" % kv for kv in r.headers))

    def test_docket_page_and_api_with_one_pacer_login(self):
        for flow in ("model", "indexcontent"):
            with self.subTest(flow=flow):
                self.sim.acms_flow = flow
                user, token, login = self.account()
                before = self.sim.acms_counts("ca9")
                page = self.fetch(user, token, acms_showdoc_host("ca9"), "/Case/Docket?caseId=24-1234")
                self.assertEqual(page.status, 200, page.text[:300])
                self.assertIn("24-1234", page.text)
                self.assertEqual(page.headers.get("Courtroute-Route"), "pacer")
                self.assert_clean(page)
                api = self.fetch(user, token, acms_services_host("ca9"), "/api/Dockets/24-1234")
                self.assertEqual(api.status, 200, api.text[:300])
                doc = json.loads(api.text)
                self.assertEqual(doc["caseNumber"], "24-1234")
                self.assert_clean(api)
                # The CM/ECF side uses the same PACER session: still one PACER login in all.
                ecf = self.fetch(user, token, self.sim.courts["ca9"].host, "/cgi-bin/DktRpt.pl")
                self.assertEqual(ecf.status, 200)
                self.assertEqual(len([a for a in self.sim.pacer_attempts if a.login == login]), 1)
                after = self.sim.acms_counts("ca9")
                self.assertEqual(after["acs_accepted"] - before["acs_accepted"], 1, "one ACMS sign-in")
                st = self.d.status()
                row = {c["court"]: c for u in st["users"] if u["user"] == user for c in u["courts"]}["ca9"]
                self.assertEqual(row["acms"]["state"], "signed_in")

    def test_expiry_signs_in_again_once_and_repeats(self):
        user, token, login = self.account()
        self.assertEqual(self.fetch(user, token, acms_showdoc_host("ca9"), "/Case/Docket?caseId=24-1").status, 200)
        before = self.sim.acms_counts("ca9")
        self.sim.expire_acms(login=login)
        api = self.fetch(user, token, acms_services_host("ca9"), "/api/Dockets/24-1")
        self.assertEqual(api.status, 200, "the 401 was answered by a new sign-in and one repeat")
        page = self.fetch(user, token, acms_showdoc_host("ca9"), "/Case/Docket?caseId=24-1")
        self.assertEqual(page.status, 200)
        after = self.sim.acms_counts("ca9")
        self.assertEqual(after["acs_accepted"] - before["acs_accepted"], 1)
        self.assertEqual(len([a for a in self.sim.pacer_attempts if a.login == login]), 1, "no PACER re-login")

    def test_broken_flows_warn_without_loops(self):
        for mode, missing in (("no_form", "SAML form"), ("loop", "")):
            with self.subTest(mode=mode):
                self.sim.acms_break = mode
                user, token, login = self.account()
                before = self.sim.acms_counts("ca2")
                r = self.fetch(user, token, acms_showdoc_host("ca2"), "/Case/Docket?caseId=24-9")
                self.assertIn("acms_signin_failed", "\n".join(r.headers.get_all("Courtroute-Warning")), r.text[:300])
                if missing:
                    self.assertIn(missing, r.text + "\n".join(r.headers.get_all("Courtroute-Warning")))
                # The next requests within a minute do not sign in again (no loop, no storm).
                for _ in range(3):
                    self.fetch(user, token, acms_showdoc_host("ca2"), "/Case/Docket?caseId=24-9")
                after = self.sim.acms_counts("ca2")
                self.assertLessEqual(after["idp_hits"] - before["idp_hits"], 4)
                self.assertEqual(len([a for a in self.sim.pacer_attempts if a.login == login]), 1)
                st = self.d.status()
                row = {c["court"]: c for u in st["users"] if u["user"] == user for c in u["courts"]}["ca2"]
                self.assertIn(row["acms"]["state"], ("failed", "signed_in"))
                codes = {w["code"] for w in st["warnings"] if w["user"] == user}
                if mode == "no_form":
                    self.assertEqual(row["acms"]["state"], "failed")
                    self.assertIn("acms_signin_failed", codes)

    def test_no_token_is_a_clear_warning_on_the_api(self):
        self.sim.acms_break = "no_token"
        user, token, _ = self.account()
        page = self.fetch(user, token, acms_showdoc_host("ca9"), "/Case/Docket?caseId=24-5")
        self.assertEqual(page.status, 200)
        api = self.fetch(user, token, acms_services_host("ca9"), "/api/Dockets/24-5")
        self.assertEqual(api.status, 502)
        self.assertIn("acms_signin_failed", "\n".join(api.headers.get_all("Courtroute-Warning")))
        self.assertIn("token", api.text)

    # ------------------------------------------------------------------ python3-requests

    def test_requests_docket_page_and_api_with_one_pacer_login(self):
        for flow in ("model", "indexcontent"):
            with self.subTest(flow=flow):
                self.sim.acms_flow = flow
                user, token, login = self.account()
                s = self.client(user, token)
                before = self.sim.acms_counts("ca9")
                page, api = self.page_and_api(s, "ca9", "24-2001")
                ecf = self.get(s, self.sim.courts["ca9"].host, "/cgi-bin/DktRpt.pl")
                self.assertEqual(ecf.status_code, 200)
                self.assertEqual(ecf.headers.get("Courtroute-Route"), "pacer")
                # A second round on the same session signs in no more.
                self.page_and_api(s, "ca9", "24-2002")
                self.assert_requests_clean(s, page, api, ecf)
                self.assertEqual(len(self.pacer_logins(login)), 1, "one PACER login in all")
                after = self.sim.acms_counts("ca9")
                self.assertEqual(after["acs_accepted"] - before["acs_accepted"], 1, "one ACMS sign-in")
                self.assertEqual(after["api_unauthorized"] - before["api_unauthorized"], 0)
                self.assertEqual(self.acms_row(user, "ca9")["state"], "signed_in")

    # ------------------------------------------------------------------ tolerance

    def test_signin_tolerates_each_variation_of_the_flow(self):
        variations = [
            (dict(acms_idp_extra_hop=True), "extra hop with JSESSIONID"),
            (dict(acms_challenge="form"), "POST binding"),
            (dict(acms_form_style="encoded"), "encoded attributes"),
            (dict(acms_cookie_chunks=3), "chunked cookie"),
            (dict(acms_flow="indexcontent", acms_indexcontent_type="html"), "IndexContent as HTML"),
            # Same-host redirects only happen in the hop and in the newer flow's 302 to `/`.
            (dict(acms_absolute_locations=True, acms_idp_extra_hop=True, acms_flow="indexcontent"),
             "absolute Locations"),
        ]
        for knobs, what in variations:
            with self.subTest(what, **knobs):
                self.reset_knobs()
                for name, value in knobs.items():
                    setattr(self.sim, name, value)
                user, token, login = self.account()
                s = self.client(user, token)
                before = self.sim.acms_counts("ca9")
                n_hits, n_signins = len(self.sim.acms_idp_hits), len(self.sim.acms_signins)
                self.page_and_api(s, "ca9", "24-3001")
                self.page_and_api(s, "ca9", "24-3002")
                after = self.sim.acms_counts("ca9")
                self.assertEqual(after["acs_accepted"] - before["acs_accepted"], 1, "one ACMS sign-in")
                self.assertEqual(after["acs_posts"] - before["acs_posts"], 1, "no refused SAML response")
                self.assertEqual(len(self.pacer_logins(login)), 1)
                hits = [h.result for h in self.sim.acms_idp_hits[n_hits:]]
                signins = self.sim.acms_signins[n_signins:]
                self.assertEqual(len(signins), 1, [x.reason for x in signins])
                if knobs.get("acms_idp_extra_hop"):
                    self.assertEqual(hits, ["hop", "form"], "the hop was followed with its JSESSIONID")
                else:
                    self.assertEqual(hits, ["form"])
                if knobs.get("acms_challenge") == "form":
                    self.assertEqual(signins[0].binding, "form")
                    self.assertEqual(self.sim.acms_idp_hits[n_hits].method, "POST")
                if knobs.get("acms_flow") == "indexcontent":
                    self.assertIn("/Home/IndexContent", [p.path for p in self.sim.acms_pages
                                                         if p.login == login and p.status == 200])
                if knobs.get("acms_cookie_chunks"):
                    pages = self.sim.cookie_names_seen(acms_showdoc_host("ca9"))
                    self.assertIn(".AspNetCore.CookiesC3", pages)
                self.assertEqual(self.acms_row(user, "ca9")["state"], "signed_in")

    # ------------------------------------------------------------------ single flight

    def test_concurrent_first_requests_sign_in_once(self):
        user, token, login = self.account()
        sessions = [self.client(user, token) for _ in range(10)]
        before = self.sim.acms_counts("ca9")
        barrier = threading.Barrier(len(sessions))
        lock = threading.Lock()
        results = []

        def run(i, s):
            try:
                barrier.wait(30)
                r = s.get("https://%s/Case/Docket?caseId=24-40%02d" % (acms_showdoc_host("ca9"), i),
                          timeout=60, allow_redirects=False)
                with lock:
                    results.append((r.status_code, "24-40%02d" % i in r.text, SecretWatch._text(r)))
            except Exception as e:  # noqa: BLE001
                with lock:
                    results.append((0, False, type(e).__name__))

        threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        COUNTS["requests"] += len(results)
        self.seen.extend(text for _, _, text in results)
        self.assertEqual(sorted((st, ok) for st, ok, _ in results), [(200, True)] * len(sessions),
                         [text[:200] for st, _, text in results if st != 200])
        after = self.sim.acms_counts("ca9")
        self.assertEqual(after["acs_accepted"] - before["acs_accepted"], 1, "one ACMS sign-in for all ten")
        self.assertEqual(after["signins"] - before["signins"], 1, "one challenge for all ten")
        self.assertEqual(len(self.pacer_logins(login)), 1, "one PACER login for all ten")
        for s in sessions:
            self.assertEqual(list(s.cookies), [])

    # ------------------------------------------------------------------ a new PACER login

    def idp_nextgen_values(self, since):
        return [r.cookies.get("NextGenCSO") for r in list(self.sim.requests)[since:]
                if r.host == ACMS_IDP_HOST and "NextGenCSO" in r.cookies]

    def test_new_pacer_login_voids_the_acms_session(self):
        user, token, login = self.account()
        s = self.client(user, token)
        mark = len(self.sim.requests)
        self.page_and_api(s, "ca9", "24-5001")
        first = self.idp_nextgen_values(mark)
        self.assertEqual(len(set(first)), 1)
        self.assertEqual(len(self.pacer_logins(login)), 1)
        # The PACER session ends (the ACMS session itself stays good at ACMS: not tied).
        self.sim.expire_sessions(login=login)
        ecf = self.get(s, self.sim.courts["ca9"].host, "/cgi-bin/DktRpt.pl")
        self.assertEqual(ecf.status_code, 200)
        self.assertIn("login.pl?logout", ecf.text, "the court page after a new PACER login")
        self.assertEqual(len(self.pacer_logins(login)), 2, "the CM/ECF request logged in to PACER again")
        before = self.sim.acms_counts("ca9")
        mark = len(self.sim.requests)
        self.page_and_api(s, "ca9", "24-5002")
        after = self.sim.acms_counts("ca9")
        self.assertEqual(after["acs_accepted"] - before["acs_accepted"], 1, "a new ACMS sign-in")
        self.assertEqual(after["api_unauthorized"] - before["api_unauthorized"], 0)
        second = self.idp_nextgen_values(mark)
        self.assertEqual(len(set(second)), 1)
        self.assertNotEqual(second[0], first[0], "the sign-in used the new PACER session")
        hits = [h for h in self.sim.acms_idp_hits if h.court == "ca9" and h.login == login]
        self.assertEqual(hits[-1].result, "form")
        self.assertEqual(len(self.pacer_logins(login)), 2)
        self.assertEqual(self.acms_row(user, "ca9")["state"], "signed_in")

    # ACMS tied to the PACER session: its "not logged in" is answered by a sign-in that meets
    # PACER's login page, then one new PACER login, then a sign-in that works, all in one request.
    def test_tied_acms_session_recovers_after_pacer_expiry_with_one_pacer_login(self):
        self.sim.acms_tied_to_pacer = True
        user, token, login = self.account()
        s = self.client(user, token)
        self.page_and_api(s, "ca9", "24-6001")
        self.assertEqual(len(self.pacer_logins(login)), 1)
        self.sim.expire_sessions(login=login)
        self.assertEqual([x for x in self.sim.live_acms_sessions() if x[1] == login], [],
                         "the simulator ended the tied ACMS session")
        before = self.sim.acms_counts("ca9")
        page = self.get(s, acms_showdoc_host("ca9"), "/Case/Docket?caseId=24-6002")
        self.assertEqual(page.status_code, 200, "%s %s" % (page.headers.get("Courtroute-Warning"),
                                                           self.watch.redact(page.text)[:300]))
        self.assertIn("24-6002", page.text)
        self.assertEqual(len(self.pacer_logins(login)), 2, "exactly one new PACER login")
        self.page_and_api(s, "ca9", "24-6003")
        after = self.sim.acms_counts("ca9")
        self.assertEqual(after["acs_accepted"] - before["acs_accepted"], 1, "one new ACMS sign-in")
        self.assertEqual(len(self.pacer_logins(login)), 2)

    # ------------------------------------------------------------------ isolation

    def test_users_and_courts_do_not_share_acms_sessions(self):
        (ua, ta, la), (ub, tb, lb) = self.account(), self.account()
        sa, sb = self.client(ua, ta), self.client(ub, tb)
        bearer = {}
        for user_session, login in ((sa, la), (sb, lb)):
            n_calls, n_pages = len(self.sim.acms_api_calls), len(self.sim.acms_pages)
            self.page_and_api(user_session, "ca9", "24-7001")
            pages = [p for p in self.sim.acms_pages[n_pages:] if p.logged_in]
            self.assertEqual({p.login for p in pages}, {login}, "the pages saw this user's ACMS session")
            calls = self.sim.acms_api_calls[n_calls:]
            self.assertEqual([(c.status, c.token_valid, c.login) for c in calls], [(200, True, login)])
            bearer[login] = calls[0].authorization
        self.assertNotEqual(bearer[la], bearer[lb], "two users, two bearer tokens")
        live = {(c, login) for c, login, _, has_token in self.sim.live_acms_sessions() if has_token}
        self.assertLessEqual({("ca9", la), ("ca9", lb)}, live)
        # Each user's bearer is only ever sent for that user's login.
        by_bearer = {}
        for c in self.sim.acms_api_calls:
            if c.authorization in (bearer[la], bearer[lb]):
                by_bearer.setdefault(c.authorization, set()).add(c.login)
        self.assertEqual(by_bearer, {bearer[la]: {la}, bearer[lb]: {lb}})

        # User A at ca2: its own sign-in there; nothing of ca9's travels.
        ca9_values = {v for r in list(self.sim.requests) if r.host == acms_showdoc_host("ca9")
                      for n, v in r.cookie_list if is_acms_cookie_name(n)}
        self.assertTrue(ca9_values)
        before = self.sim.acms_counts("ca2")
        mark, n_signins = len(self.sim.requests), len(self.sim.acms_signins)
        self.page_and_api(sa, "ca2", "24-7002")
        after = self.sim.acms_counts("ca2")
        self.assertEqual(after["acs_accepted"] - before["acs_accepted"], 1, "ca2 has its own sign-in")
        self.assertEqual(after["api_unauthorized"] - before["api_unauthorized"], 0)
        ca2 = [r for r in list(self.sim.requests)[mark:]
               if r.host in (acms_showdoc_host("ca2"), acms_services_host("ca2"))]
        self.assertTrue(ca2)
        for r in ca2:
            sent = {v for _, v in r.cookie_list} | {r.headers.get("authorization", "")}
            self.assertFalse(sent & ca9_values, "a ca9 ACMS cookie went to %s" % r.host)
            self.assertNotIn(r.headers.get("authorization"), (bearer[la], bearer[lb]),
                             "a ca9 bearer token went to %s" % r.host)
        self.assertEqual([x.reason for x in self.sim.acms_signins[n_signins:] if x.court == "ca2"],
                         ["no_session"], "ca2's one challenge found no (foreign) session cookie")
        self.assertEqual([n for n in self.sim.cookie_names_seen(acms_services_host("ca2"))
                          if is_acms_cookie_name(n) or n in PACER_COOKIE_NAMES], [])
        self.assertEqual([(x.kind, x.host, x.what) for x in self.sim.acms_leaks], [])
        self.assertEqual(self.acms_row(ua, "ca2")["state"], "signed_in")
        st = self.d.status()
        b_courts = {c["court"]: c for u in st["users"] if u["user"] == ub for c in u["courts"]}
        self.assertEqual(b_courts.get("ca2", {}).get("acms", {"state": "none"})["state"], "none",
                         "user B never used ACMS at ca2")
        self.assertNotIn(("ca2", lb), {(c, login) for c, login, _, _ in self.sim.live_acms_sessions()})

    # ------------------------------------------------------------------ courtroute status

    def test_status_cli_shows_acms_state_and_failure(self):
        user, token, _ = self.account()
        s = self.client(user, token)
        self.page_and_api(s, "ca9", "24-8001")
        r = self.d.cli(["status", "--user", user])
        self.seen.append(r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        ca9 = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("ca9 ")]
        self.assertEqual(len(ca9), 1, r.stdout)
        self.assertIn("ACMS signed_in", ca9[0])

        self.sim.acms_break = {"ca2": "no_form"}
        bad = self.get(s, acms_showdoc_host("ca2"), "/Case/Docket?caseId=24-8002")
        self.assertEqual(bad.status_code, 502)
        self.assertIn("acms_signin_failed", bad.headers.get("Courtroute-Warning", ""))
        r = self.d.cli(["status", "--user", user])
        self.seen.append(r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, self.watch.redact(r.stderr))
        out = r.stdout
        # `  N. [severity] user @ ca2: the ACMS sign-in ... (why) ...` (the code is in the JSON).
        todo = [ln for ln in out.splitlines()
                if re.match(r"\s+\d+\. \[", ln) and "%s @ ca2: the ACMS sign-in" % user in ln]
        self.assertEqual(len(todo), 1, out)
        self.assertIn("without the SAML form", todo[0])
        self.assertFalse([ln for ln in out.splitlines() if "@ ca9: the ACMS" in ln], out)
        rows = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ca")}
        self.assertIn("ACMS signed_in", rows["ca9"], out)
        self.assertIn("ACMS failed", rows["ca2"], out)
        n = todo[0].split(".")[0].strip()
        self.assertRegex(rows["ca2"], r"\(to do (\d+, )*%s(, \d+)*\)" % n)
        # The same to-do entry carries its code in the JSON form.
        j = self.d.cli(["status", "--user", user, "--json"])
        self.seen.append(j.stdout)
        doc = json.loads(j.stdout)
        self.assertIn("acms_signin_failed", {w["code"] for w in doc["warnings"] if w["court"] == "ca2"})
        self.assertNotIn("acms_signin_failed", {w["code"] for w in doc["warnings"] if w["court"] == "ca9"})
        self.assertEqual([u["user"] for u in doc["users"]], [user])


if __name__ == "__main__":
    unittest.main()
