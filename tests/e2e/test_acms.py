"""End-to-end tests of ACMS through courtroute (issue 12, PROTOCOL.md §10): the real daemon,
curl and Debian's python3-requests through real TLS on 127.0.0.1, against the simulated ACMS
of the Second and Ninth Circuits (tests/sim/acms.py: pages host, API host, PACER's identity
provider reading NextGenCSO, the SAML form, both token flows, expiry, and broken flows).

A client that knows nothing of SAML reads an ACMS docket page and an ACMS API answer with the
user's PACER credentials, one PACER login in all, and sees no ACMS or PACER cookie or token.

Run with `COURTROUTE_BIN=<dir> COURTROUTE_SRC=<repo> /usr/bin/python3 -m unittest -v test_acms`.
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402
from harness import Daemon, SecretWatch, Simulator, curl  # noqa: E402
from sim.acms import acms_services_host, acms_showdoc_host  # noqa: E402

SIM_COURTS = {"ca9": dict(type="appellate"), "ca2": dict(type="appellate"), "azb": dict(type="bankruptcy")}
COUNTS = {"requests": 0, "signins": 0}


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

    def setUp(self):
        self.sim.acms_flow = "model"
        self.sim.acms_break = None
        self.seen = []

    def tearDown(self):
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


if __name__ == "__main__":
    unittest.main()
