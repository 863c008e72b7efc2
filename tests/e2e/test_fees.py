"""End-to-end tests of courtroute's fee ledger (PROTOCOL.md §9, CONTRACT §7 `courtroute fees`,
the /metrics fee counters): the real courtrouted and courtroute binaries, real clients (curl and
Debian's python3-requests) through real TLS on 127.0.0.1, against simulated NextGen courts that
charge (tests/sim/fees.py): docket reports end with PACER's Transaction Receipt, a document's
page is a quote, and its PDF, fetched with the "View Document" form or `got_receipt=1`, is the
charge.

The simulator records every charge the courts made; the tests compare what `courtroute fees`
(JSON, CSV, table, --by, the filters) and /metrics say with that. Each test runs its own daemon
(its own ledger); the simulator is shared, and each test uses its own PACER logins.

Run with `COURTROUTE_BIN=<dir> COURTROUTE_SRC=<repo> /usr/bin/python3 -m unittest -v test_fees`.
"""

import collections
import csv
import datetime
import html
import html.parser
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import harness  # noqa: E402
from harness import Daemon, SecretWatch, Simulator, curl  # noqa: E402
from sim.fees import RECEIPT_VARIANTS  # noqa: E402

COURTS = {"nga": dict(type="bankruptcy"), "ngb": dict(type="district")}
COUNTS = collections.Counter()


class _Forms(html.parser.HTMLParser):
    """The forms of a page: [{"action", "method", "fields": {name: value}}]."""

    def __init__(self, text):
        super().__init__()
        self.forms = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                               "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"].setdefault(a["name"], a.get("value") or "")


def _metric(text, name, **labels):
    """The value of one sample of /metrics (0 when absent)."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if m and m.group(1) == name:
            got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
            if got == want:
                return float(m.group(3))
    return 0


class FeesTest(unittest.TestCase):
    """The fee ledger against what the simulated courts charged."""

    @classmethod
    def setUpClass(cls):
        if not harness.have_binaries():
            raise unittest.SkipTest("no courtrouted/courtroute in %s" % harness.build_dir())
        cls.started = time.monotonic()
        cls.tmp = tempfile.mkdtemp(prefix="courtroute-fees-")
        cls.sim = Simulator(os.path.join(cls.tmp, "sim"), courts=COURTS).start()
        cls.sim.fees_enabled = True
        # Every receipt shape PROTOCOL §9 describes, in turn, receipt after receipt.
        cls.sim.receipt_shape = list(RECEIPT_VARIANTS)
        cls.sim.document_view = {"nga": "form", "ngb": "link"}
        cls.watch = SecretWatch(cls.sim)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        print("fees: %d receipts, %d charges (%d estimated without a receipt), $%d.%02d charged, "
              "%d quotes not fetched, %d documents blocked by a budget, %.1f s"
              % (COUNTS["receipts"], COUNTS["charges"], COUNTS["estimated"], *divmod(COUNTS["cents"], 100),
                 COUNTS["unfetched"], COUNTS["blocked"], time.monotonic() - cls.started))

    def setUp(self):
        self.d = Daemon(os.path.join(self.tmp, self.id().rsplit(".", 1)[1]), sim=self.sim, watch=self.watch).start()
        self.seen = []
        self.sessions = []
        self.logins = {}      # PACER login -> local user

    def tearDown(self):
        for s in self.sessions:
            s.close()
        self.d.stop()
        self.assertEqual(self.sim.errors, [], "simulator handler errors")
        texts = {"seen #%d" % i: t for i, t in enumerate(self.seen)}
        texts["daemon log"] = self.d.log_text()
        self.watch.assert_absent(**texts)

    # ------------------------------------------------------------------ helpers

    def account(self, stem, client_code=None):
        """A local user with a PACER login (and a stored client code): (user, token, login)."""
        type(self).n += 1
        user, login = "%s%02d" % (stem, self.n), "%spl%02d" % (stem, self.n)
        pw = self.watch.add("pacer password", "Pw-fees-%s-5d4c3b2a19" % login)
        self.sim.add_pacer_account(login, pw)
        token = self.d.add_user(user)
        args = ["pacer", "set", user, "--login", login]
        if client_code:
            args += ["--client-code", client_code]
        self.cli(args, stdin=pw + "\n")
        self.logins[login] = user
        return user, token, login

    def cli(self, args, stdin=None, code=0):
        r = self.d.cli(args, stdin=stdin)
        self.seen += [r.stdout, r.stderr]
        if code is not None:
            self.assertEqual(r.returncode, code, "courtroute %s: %s" % (" ".join(args), self.watch.redact(r.stderr)))
        return r

    def fees(self, *args):
        """`courtroute fees --json ARGS` parsed."""
        return json.loads(self.cli(["fees", "--json", *args]).stdout)

    def client(self, user, token):
        s = harness.requests_session(self.d.proxy_url(user, token), self.d.ca_path())
        self.sessions.append(s)
        return s

    def url(self, court, path):
        return "https://%s%s" % (self.sim.courts[court].host, path)

    def req(self, session, method, court, path, code=None, **kw):
        """A request with python3-requests through the daemon; 200 expected."""
        headers = dict(kw.pop("headers", {}))
        if code:
            headers["Courtroute-Client-Code"] = code
        r = session.request(method, self.url(court, path), headers=headers, timeout=30,
                            allow_redirects=False, **kw)
        self.seen.append(r)
        self.assertEqual(r.status_code, 200, "%s %s%s: %s" % (method, court, path, self.watch.redact(r.text)[:300]))
        self.assertEqual(r.headers.get("Courtroute-Route"), "pacer")
        return r

    def curl(self, user, token, court, path, args=(), code=None):
        a = list(args)
        if code:
            a += ["-H", "Courtroute-Client-Code: " + code]
        r = curl(a + [self.url(court, path)], proxy=self.d.proxy_url(user, token), cacert=self.d.ca_path())
        self.seen.append("\n".join("%s: %s" % kv for kv in r.headers) + "\n" + r.text)
        self.assertEqual((r.returncode, r.status), (0, 200), "curl %s%s: %s" % (court, path, r.stderr))
        return r

    def quote_form(self, text):
        """(action, fields) of a quote page's "View Document" form."""
        self.assertIn("Transaction Receipt", text)
        [form] = _Forms(text).forms
        self.assertEqual(form["method"], "post")
        return form["action"], form["fields"]

    @staticmethod
    def quote_link(text):
        return html.unescape(re.search(r'<a href="([^"]+)">View Document</a>', text).group(1))

    def ledger(self, expect_charges, expect_quotes, *args, timeout=10.0):
        """`fees --json ARGS` once the daemon has written what it saw: the ledger's writes are
        queued behind the store lock, so poll (bounded) until the counts are what the courts say."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.fees(*args)
            if (doc["total"]["charges"], doc["quotes_not_fetched"]) == (expect_charges, expect_quotes) \
                    or time.monotonic() > deadline:
                return doc
            time.sleep(0.1)

    def metrics(self):
        status, _, body = self.d.http("GET", "/metrics")
        self.assertEqual(status, 200)
        return body.decode()

    def mine(self, q=None, **filters):
        """The simulator's charges (or quotes) of this test's logins."""
        src = self.sim.fee_charges if q is None else self.sim.fee_quotes
        return [c for c in list(src) if c.login in self.logins
                and all(getattr(c, k) == v for k, v in filters.items())]

    def count_up(self):
        charges = self.mine()
        COUNTS["charges"] += len(charges)
        COUNTS["cents"] += sum(c.cents for c in charges)
        COUNTS["receipts"] += sum(1 for c in charges if c.receipt and c.kind != "document") + len(self.mine(q=True))
        COUNTS["unfetched"] += sum(1 for q in self.mine(q=True) if not q.fetched)

    # ------------------------------------------------------------------ the ledger against the courts

    def test_ledger_matches_what_the_courts_charged(self):
        sim = self.sim
        first_day = datetime.datetime.now(datetime.timezone.utc).date()
        alice, atok, alogin = self.account("al", client_code="ACME-001")
        bob, btok, blogin = self.account("bo")
        s = self.client(alice, atok)
        # Cases and documents of known sizes: a 30-page-capped docket and a 45-page document.
        sim.docket_entries["3030"] = 600
        docs_a = sim.docket_docids("nga", "1101")
        docs_b = sim.docket_docids("ngb", "2202")
        sim.document_pages.update({docs_a[0]: 4, docs_a[1]: 9, docs_a[2]: 2, docs_b[0]: 45, docs_b[1]: 6,
                                   docs_b[2]: 1})

        # alice, python3-requests: dockets with the stored code and with a matter's code.
        r = self.req(s, "GET", "nga", "/cgi-bin/DktRpt.pl?1101")
        self.assertIn("/doc1/%s" % docs_a[0], r.text)
        self.assertIn("Transaction Receipt", r.text, "the receipt reaches the client as the court sent it")
        self.req(s, "GET", "ngb", "/cgi-bin/DktRpt.pl?2202", code="ACME/matter.7")
        self.req(s, "POST", "nga", "/cgi-bin/DktRpt.pl", data={"all_case_ids": "3030"})   # capped at 30 pages
        # A document: the quote, then its "View Document" form (a POST to the same URL).
        r = self.req(s, "GET", "nga", "/doc1/%s" % docs_a[0])
        action, fields = self.quote_form(r.text)
        r = self.req(s, "POST", "nga", action, data=fields)
        self.assertEqual(r.headers.get("Content-Type"), "application/pdf")
        self.assertTrue(r.content.startswith(b"%PDF-"))
        # At ngb the quote offers a link (`got_receipt=1`); billed to the matter.
        r = self.req(s, "GET", "ngb", "/doc1/%s?caseid=2202" % docs_b[0], code="ACME/matter.7")
        r = self.req(s, "GET", "ngb", self.quote_link(r.text), code="ACME/matter.7")
        self.assertEqual(r.headers.get("Content-Type"), "application/pdf")
        # A quote never fetched; a document quoted twice and fetched once.
        self.req(s, "GET", "nga", "/doc1/%s" % docs_a[2])
        self.req(s, "GET", "nga", "/doc1/%s" % docs_a[1])
        r = self.req(s, "GET", "nga", "/doc1/%s" % docs_a[1])
        action, fields = self.quote_form(r.text)
        self.req(s, "POST", "nga", action, data=fields)

        # bob, curl: no stored code; one matter by header.
        self.curl(bob, btok, "nga", "/cgi-bin/HistDocQry.pl?1101")
        self.curl(bob, btok, "ngb", "/cgi-bin/DktRpt.pl?2202", code="BETA_22")
        r = self.curl(bob, btok, "nga", "/doc1/%s" % docs_a[0])
        action, fields = self.quote_form(r.text)
        r = self.curl(bob, btok, "nga", action, args=["--data", urllib.parse.urlencode(fields)])
        self.assertEqual(r.headers.get("Content-Type"), "application/pdf")
        r = self.curl(bob, btok, "ngb", "/doc1/%s" % docs_b[1], code="BETA_22")
        r = self.curl(bob, btok, "ngb", self.quote_link(r.text), code="BETA_22")
        self.assertTrue(r.body.startswith(b"%PDF-"))
        self.curl(bob, btok, "ngb", "/doc1/%s" % docs_b[2])                 # never fetched
        # Path mode (a script that cannot use a proxy), the same quote-then-fetch.
        auth = {"Authorization": "Bearer " + btok}
        status, hdrs, body = self.d.http("GET", "/court/nga/doc1/%s" % docs_a[2], headers=auth)
        self.assertEqual(status, 200)
        self.assertIn(b"Transaction Receipt", body)
        status, hdrs, body = self.d.http("GET", "/court/nga/doc1/%s?got_receipt=1" % docs_a[2], headers=auth)
        self.assertEqual((status, dict(hdrs).get("Content-Type")), (200, "application/pdf"))
        self.seen.append(body.decode("latin-1"))

        # ---- what the courts charged
        charged = self.mine()
        unfetched = [q for q in self.mine(q=True) if not q.fetched]
        self.assertEqual(len(charged), 11)
        self.assertEqual(len(unfetched), 3)
        self.assertTrue(all(c.receipt for c in charged))
        # every receipt shape went through the daemon (consecutive receipts take them in turn)
        self.assertEqual({c.shape for c in charged} | {q.shape for q in self.mine(q=True)}, set(RECEIPT_VARIANTS))
        self.assertIn(300, [c.cents for c in charged if c.kind == "docket"], "the capped docket")
        self.assertIn(300, [c.cents for c in charged if c.kind == "document"], "the capped document")
        total_cents = sum(c.cents for c in charged)
        self.count_up()

        # ---- courtroute fees --json: every charge, as the courts charged it
        doc = self.ledger(len(charged), len(unfetched))
        self.assertEqual(doc["total"]["charges"], len(charged), json.dumps(doc["total"]))
        self.assertEqual(doc["total"]["cents"], total_cents)
        self.assertEqual(doc["total"]["pages"], sum(c.billable_pages for c in charged))
        self.assertEqual(doc["total"]["estimated"], 0)
        self.assertEqual(doc["quotes_not_fetched"], len(unfetched))
        got = sorted((e["user"], e["court"], e["login"], e["client_code"], e["pages"], e["cents"])
                     for e in doc["charges"])
        want = sorted((self.logins[c.login], c.court, c.login, c.client_code, c.billable_pages, c.cents)
                      for c in charged)
        self.assertEqual(got, want)
        self.assertEqual(sorted(e["description"] for e in doc["charges"]), sorted(c.description for c in charged))

        # --by user / client-code / court
        def by(field, key_of):
            out = {}
            for c in charged:
                t = out.setdefault(key_of(c), {"charges": 0, "pages": 0, "cents": 0})
                t["charges"] += 1
                t["pages"] += c.billable_pages
                t["cents"] += c.cents
            return out

        for flag, key_of in (("user", lambda c: self.logins[c.login]), ("client-code", lambda c: c.client_code),
                             ("court", lambda c: c.court)):
            doc = self.fees("--by", flag)
            got = {t["key"]: {"charges": t["charges"], "pages": t["pages"], "cents": t["cents"]} for t in doc["totals"]}
            self.assertEqual(got, by(flag, key_of), "--by " + flag)
        self.assertEqual(set(by("cc", lambda c: c.client_code)), {"ACME-001", "ACME/matter.7", "", "BETA_22"})
        # the same from the simulator's own query
        self.assertEqual({self.logins[k]: v for k, v in self.sim.fee_totals(by="login").items() if k in self.logins},
                         by("user", lambda c: self.logins[c.login]))

        # filters: one client code, no client code, one user at one court
        for code in ("ACME/matter.7", "BETA_22", "ACME-001", ""):
            doc = self.fees("--client-code", code)
            mine = [c for c in charged if c.client_code == code]
            self.assertTrue(mine)
            self.assertEqual((doc["total"]["charges"], doc["total"]["cents"]),
                             (len(mine), sum(c.cents for c in mine)), "--client-code %r" % code)
        doc = self.fees("--user", alice, "--court", "nga")
        mine = [c for c in charged if c.login == alogin and c.court == "nga"]
        self.assertEqual((doc["total"]["charges"], doc["total"]["cents"]), (len(mine), sum(c.cents for c in mine)))
        self.assertEqual(doc["quotes_not_fetched"], len([q for q in unfetched if q.login == alogin and q.court == "nga"]))

        # --since / --until (UTC days; the day given to --until is included)
        today = datetime.datetime.now(datetime.timezone.utc).date()
        day = datetime.timedelta(days=1)
        if today == first_day:  # (not across midnight UTC)
            self.assertEqual(self.fees("--since", str(today), "--until", str(today))["total"]["cents"], total_cents)
            self.assertEqual([(t["key"], t["cents"]) for t in self.fees("--by", "day")["totals"]],
                             [(str(today), total_cents)])
        self.assertEqual(self.fees("--since", str(first_day - day))["total"]["cents"], total_cents)
        self.assertEqual(self.fees("--since", str(today + day))["total"]["charges"], 0)
        self.assertEqual(self.fees("--until", str(first_day - day))["total"]["charges"], 0)
        self.assertEqual(sum(t["cents"] for t in self.fees("--by", "day")["totals"]), total_cents)

        # PACER's quarterly bill per login, with the $30 waiver
        doc = self.fees()
        for q in doc["quarters"]:
            cents = sum(c.cents for c in charged if c.login == q["login"])
            self.assertEqual((q["cents"], q["waived"], q["owed_cents"]),
                             (cents, cents <= 3000, 0 if cents <= 3000 else cents))
        self.assertEqual({q["login"] for q in doc["quarters"]}, {alogin, blogin})

        # --csv: the charges, and --by user as CSV
        rows = list(csv.DictReader(io.StringIO(self.cli(["fees", "--csv"]).stdout)))
        self.assertEqual(len(rows), len(charged))
        self.assertEqual(sum(int(r["cents"]) for r in rows), total_cents)
        self.assertTrue(any("," in r["criteria"] or " " in r["criteria"] for r in rows))
        rows = list(csv.DictReader(io.StringIO(self.cli(["fees", "--csv", "--by", "user"]).stdout)))
        self.assertEqual({r["key"]: int(r["cents"]) for r in rows},
                         {u: t["cents"] for u, t in by("user", lambda c: self.logins[c.login]).items()})
        # the table: a total line and the quotes counted apart
        text = self.cli(["fees"]).stdout
        self.assertRegex(text, r"(?m)^total\b.*\$%d\.%02d" % divmod(total_cents, 100))
        self.assertIn("%d quote(s) of documents never fetched" % len(unfetched), text)

        # /metrics agrees, court by court
        m = self.metrics()
        for court in COURTS:
            c = self.sim.fee_counts(court)
            charges = [x for x in charged if x.court == court]
            quotes = self.mine(q=True, court=court)
            self.assertEqual(_metric(m, "courtroute_fee_receipts_total", court=court, kind="charge"), len(charges), court)
            self.assertEqual(_metric(m, "courtroute_fee_receipts_total", court=court, kind="quote"), len(quotes), court)
            self.assertEqual(_metric(m, "courtroute_fee_cents_total", court=court), sum(x.cents for x in charges), court)
            self.assertEqual(c["unreceipted"], 0)

    def test_cli_refusals(self):
        user, _, _ = self.account("cl")
        for code in ("two words", "a,b", "x" * 33):
            r = self.cli(["fees", "--client-code", code], code=2)
            self.assertIn("client-code", r.stderr)
        self.cli(["fees", "--client-code", "x" * 32])
        r = self.cli(["fees", "--user", "nobody"], code=1)
        self.assertIn("nobody", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.cli(["fees", "--csv", "--json"], code=2)
        self.cli(["fees", "--by", "month"], code=2)
        self.cli(["fees", "--since", "yesterday"], code=2)
        self.cli(["fees", "--until", "2026-13-01"], code=2)
        doc = self.fees("--user", user)
        self.assertEqual((doc["total"]["charges"], doc["quotes_not_fetched"], doc["charges"]), (0, 0, []))

    # ------------------------------------------------------------------ cases the daemon gets wrong

    # show_doc.pl and show_multidocs.pl name the document in the query: each fetch finds its own
    # quote (fees::document_key), not whichever quote on that path came last.
    def test_show_doc_quotes_told_apart_by_query(self):
        user, token, login = self.account("sd")
        s = self.client(user, token)
        self.sim.document_pages.update({"sd7001": 3, "sd7002": 50})
        self.req(s, "GET", "nga", "/cgi-bin/show_doc.pl?caseid=88&dm_id=sd7001&doc_num=5")
        r = self.req(s, "GET", "nga", "/cgi-bin/show_doc.pl?caseid=88&dm_id=sd7002&doc_num=6")
        self.assertIn("3.00", r.text)
        r = self.req(s, "POST", "nga", "/cgi-bin/show_doc.pl?caseid=88&dm_id=sd7001&doc_num=5",
                     data={"got_receipt": "1"})
        self.assertEqual(r.headers.get("Content-Type"), "application/pdf")
        self.assertEqual(self.sim.charged(login=login), (1, 30))
        self.assertEqual([q.document for q in self.sim.unfetched_quotes(login=login)], ["sd7002"])
        self.count_up()
        doc = self.ledger(1, 1)
        self.assertEqual((doc["total"]["charges"], doc["quotes_not_fetched"]), (1, 1))
        self.assertEqual(doc["total"]["cents"], 30, "charged the other document's quote")

    # BUG (daemon): with receipts turned off (the client's own cookie `PacerPref=receipt=N`, which
    # the daemon passes on), the courts still charge but no receipt appears, and the ledger records
    # nothing: no estimate from the fee schedule (fees::entry::estimated is never set), and the
    # client's preference is not overridden either. The ledger and budgets under-count.
    def test_receipts_turned_off_by_the_client(self):
        """PROTOCOL.md §9: with `PacerPref=receipt=N` no receipt shows, yet the courts charge. The
        ledger estimates from the fee schedule (HTML per 4,320 bytes, a PDF by its pages, 30 pages
        at most) and marks those lines estimated; the totals still equal what the courts charged."""
        user, token, login = self.account("rn", client_code="RN-1")
        s = self.client(user, token)
        docids = self.sim.docket_docids("ngb", "61")
        self.sim.document_pages[docids[0]] = 5
        self.sim.document_pages[docids[1]] = 45   # over the cap: billed as 30
        self.sim.docket_entries["62"] = 600      # a docket over 30 pages of HTML (~170 kB): billed as 30
        off = {"Cookie": "PacerPref=receipt=N"}
        for case in ("61", "62"):
            r = self.req(s, "GET", "ngb", "/cgi-bin/DktRpt.pl?%s" % case, headers=off)
            self.seen.append(r)
        for docid in docids[:2]:
            r = s.get(self.url("ngb", "/doc1/%s" % docid), headers=off, timeout=30)
            self.seen.append(r)
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.headers.get("Content-Type"), "application/pdf", "receipts off: the PDF at once")
        charged = self.mine()
        self.assertEqual(len(charged), 4, "two dockets and two documents charged")
        self.assertFalse(any(c.receipt for c in charged), "no receipt shown")
        self.count_up()
        cents = sum(c.cents for c in charged)
        doc = self.ledger(len(charged), 0, timeout=3.0)
        self.assertEqual((doc["total"]["charges"], doc["total"]["cents"]), (len(charged), cents),
                         "the ledger missed charges the courts made without a receipt")
        self.assertEqual(doc["total"]["estimated"], len(charged), "every line without a receipt is marked estimated")
        self.assertEqual(sum(1 for c in charged if c.cents == 300), 2, "the long docket and document were capped")
        COUNTS["estimated"] += len(charged)

    def test_budget_blocks_a_document_before_the_charge_and_warns(self):
        """[fees] action = "block": a document whose quote would pass the client code's monthly
        limit is refused with 402 and never reaches the court; one under it is fetched; once the
        limit is reached every answer and /status carry `fee_budget` (issue 13)."""
        user, token, login = self.account("bu", client_code="BUD-1")
        s = self.client(user, token)
        case = "71"
        self.sim.docket_entries[case] = 100
        doc_a, doc_b = self.sim.docket_docids("ngb", case)[:2]
        self.sim.document_pages[doc_a] = 5   # $0.50
        self.sim.document_pages[doc_b] = 2   # $0.20
        self.req(s, "GET", "ngb", "/cgi-bin/DktRpt.pl?%s" % case)
        [docket] = self.mine()
        quote_a = self.req(s, "GET", "ngb", "/doc1/%s" % doc_a)
        self.ledger(1, 1)

        # A limit the docket is under, which document A's quote would pass, and B's would not.
        limit = docket.cents + 40
        self.d.stop()
        self.d.write_config(extra='[fees]\nperiod = "month"\naction = "block"\nclient_codes = { "BUD-1" = %d.%02d }\n'
                            % divmod(limit, 100))
        self.d.start()
        s = self.client(user, token)
        r = s.get(self.url("ngb", self.quote_link(quote_a.text)), timeout=30)
        self.seen.append(r)
        self.assertEqual(r.status_code, 402, self.watch.redact(r.text)[:300])
        self.assertIn("$%d.%02d" % divmod(limit, 100), r.text, "the body says the limit")
        self.assertIn('client_codes."BUD-1"', r.text, "and which key raises it")
        self.assertIn("fee_budget", " ".join(r.headers.get("Courtroute-Warning", "").split()))
        self.assertEqual([c.kind for c in self.mine()], ["docket"], "the blocked document never reached the court")
        self.assertEqual([q.fetched for q in self.mine(q=True)], [False])

        quote_b = self.req(s, "GET", "ngb", "/doc1/%s" % doc_b)
        r = s.get(self.url("ngb", self.quote_link(quote_b.text)), timeout=30)
        self.seen.append(r)
        self.assertEqual((r.status_code, r.headers.get("Content-Type")), (200, "application/pdf"),
                         "a document under the limit is fetched")
        self.assertNotIn("fee_budget", r.headers.get("Courtroute-Warning", ""))
        self.ledger(2, 1)

        # Past the limit: the next answers and /status say so, with the key that raises it.
        self.req(s, "GET", "ngb", "/cgi-bin/DktRpt.pl?%s" % case)
        self.ledger(3, 1)
        r = self.req(s, "GET", "ngb", "/cgi-bin/iquery.pl")
        self.assertIn("fee_budget", r.headers.get("Courtroute-Warning", ""), "answers warn once the limit is reached")
        status = self.d.status()
        mine = [w for w in status["warnings"] if w["code"] == "fee_budget" and w["user"] == user]
        self.assertEqual(len(mine), 1, status["warnings"])
        spent = sum(c.cents for c in self.mine())
        self.assertIn("client code BUD-1 has spent $%d.%02d of the $%d.%02d monthly PACER budget"
                      % (*divmod(spent, 100), *divmod(limit, 100)), mine[0]["message"])
        text = self.cli(["status", "--user", user]).stdout
        self.assertIn("client code BUD-1 has spent", text, "courtroute status lists it too")
        self.count_up()
        COUNTS["blocked"] += 1

if __name__ == "__main__":
    unittest.main()
