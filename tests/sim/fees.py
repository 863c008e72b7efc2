"""Simulated PACER fees (PROTOCOL.md §9): the Transaction Receipt on billable court pages, a
document's quote, and the charge when the document itself is fetched.

A mixin of `sim.Simulator`: the same server, lock, clock and PACER sessions. **Off by default**,
so every other suite sees the pages it always saw: `fees_enabled = True` charges at every NextGen
court, or give a collection of court ids (`sim.fees_enabled = {"azb", "azd"}`).

Billable paths (a NextGen court, a live production PACER session, fees on for the court; HEAD
is never charged and answers the plain page as before):
  /cgi-bin/DktRpt.pl        the docket report of a case, charged at once. The case: the bare
                            query (`DktRpt.pl?12345`), or a `caseid` / `all_case_ids` parameter
                            or form field (GET or POST); default "1". Rows link to documents
                            (`https://<court host>/doc1/<12 digits>`, see `docket_docids`).
                            Length: `docket_entries[case]` rows, default 4..43 (fixed per court
                            and case; ~330 bytes a row).
  /cgi-bin/HistDocQry.pl    history/documents of a case: the same, shorter rows.
      pages = ceil(billed bytes / 4320), billed bytes = the UTF-8 page without the receipt;
      billable = min(pages, 30); cost = billable x $0.10. The receipt follows the content:
      `<hr><center><table>...</table></center>` before `</body>`.
  /doc1/<digits>            a document. A GET shows the *quote*: a page with the receipt (the
                            document's cost; the 30-page note when it has more) and a "View
                            Document" form POSTing `got_receipt=1` (and caseid, de_seq_num) to
                            the same URL, or (document_view = "link") a link to the same URL plus
                            `got_receipt=1`. A POST, or a GET with `got_receipt=1`, answers the
                            PDF (`application/pdf`, `%PDF-1.4`, `/Count <pages>` and one
                            `/Type /Page` object per page; no receipt) and is the *charge*: it
                            marks the latest unfetched quote of that (login, court, document) as
                            fetched. Pages: `document_pages[docid]`, default 1..45 (fixed per
                            court and document; some are over 30).
  /cgi-bin/show_doc.pl      the same; the document is the `dm_id` parameter (else `doc_num`).
  /cgi-bin/show_multidocs.pl  several documents of a case at once (`caseid`,
                            `arr_de_seq_nums=5,6,7`): one quote and one charge, each part capped
                            at 30 pages on its own (`document_pages["<caseid>/<seq>"]`).
Receipts off: a request carrying the cookie `PacerPref=receipt=N` gets no receipt at all; the
court still charges (a docket as usual; a document's GET answers the PDF at once, charged).

Knobs (plain attributes):
  fees_enabled      False | True | a collection of court ids
  receipt_shape     how receipts look: a RECEIPT_VARIANTS name, a dict of shape options (over
                    RECEIPT_DEFAULTS), or a list of those, used in turn receipt by receipt
  receipt_shapes    {court id: the same}: overrides receipt_shape at that court
  document_view     "form" | "link", or {court id: "form" | "link"}
  docket_entries    {case id: rows}
  document_pages    {document key: pages} (/doc1 id, show_doc.pl dm_id, "<caseid>/<seq>")
Shape options: case "lower" | "upper" (tags and attributes); stray_th (a stray `</TH>` inside
every value cell); time "seconds" (06/06/2017 10:18:44) | "minutes" | "ampm" (11/29/2026
09:14:02 PM) | "ampm_minutes"; pad_client_code (pad the code with spaces to this width);
login_suffix (`login:<csoid>:0`); criteria_label "Search Criteria" | "Case Number"; nbsp
(labels wrapped in `&nbsp;`); cap_note (the "You will only be billed for 30 pages." row when
a document or report has more than 30 pages).

Records (thread-safe lists, newest last; `reset_counters()` clears them):
  fee_charges  FeeCharge: every charge the courts made (login, client code = the session's,
               court, kind "docket" | "history" | "document", pages, billable pages, cents,
               whether a receipt was shown, how the document was fetched)
  fee_quotes   FeeQuote: every quote shown, `fetched` once its document was fetched
Queries: `fee_totals(by=..., **filters)`, `charged(**filters)`, `unfetched_quotes(**filters)`,
`fee_counts(court=None)` (what a ledger fed from receipts should count), `docket_docids()`.
Filters: login, client_code, court, kind.

Module functions: `fee_cents(pages)`, `billable_pages(pages)`, `html_pages(nbytes)`,
`render_receipt(...)` (the receipt table alone), `receipt_shape(spec)`, `pdf_page_count(data)`.
"""

import html
import math
import re
import time
import urllib.parse
import zlib
from dataclasses import dataclass

PAGE_BYTES = 4320        # HTML is billed per 4,320 bytes
PAGE_CAP = 30            # a document, docket sheet or case-specific report: at most 30 pages
CENTS_PER_PAGE = 10
CAP_NOTE = "You will only be billed for 30 pages."
FEE_PATHS = ("/cgi-bin/DktRpt.pl", "/cgi-bin/HistDocQry.pl", "/cgi-bin/show_doc.pl",
             "/cgi-bin/show_multidocs.pl")

RECEIPT_DEFAULTS = dict(case="lower", stray_th=False, time="seconds", pad_client_code=0,
                        login_suffix=True, criteria_label="Search Criteria", nbsp=False,
                        cap_note=True)
# Named shapes seen in saved pages (PROTOCOL §9); each is RECEIPT_DEFAULTS plus these.
RECEIPT_VARIANTS = {
    "plain": {},
    "upper": dict(case="upper", stray_th=True),
    "ampm": dict(time="ampm", nbsp=True),
    "ampm_minutes": dict(case="upper", time="ampm_minutes", criteria_label="Case Number"),
    "minutes": dict(time="minutes", login_suffix=False),
    "padded": dict(pad_client_code=20, stray_th=True, time="ampm"),
}
_TIME_FORMATS = {"seconds": "%m/%d/%Y %H:%M:%S", "minutes": "%m/%d/%Y %H:%M",
                 "ampm": "%m/%d/%Y %I:%M:%S %p", "ampm_minutes": "%m/%d/%Y %I:%M %p"}

_DOCKET_TEXTS = (
    "Voluntary Petition under Chapter 11. Fee Amount $1738. Filed by Debtor.",
    "Declaration Re: Electronic Filing Filed by Debtor. (Attorney, Counsel)",
    "Motion for Relief from Stay Re: real property, with Proposed Order. Filed by Creditor.",
    "Notice of Appearance and Request for Notice Filed by Interested Party.",
    "ORDER granting Motion to Extend Time to File Schedules and Statements.",
    "Certificate of Service Filed by Debtor (RE: related document(s) Motion, Order).",
    "Meeting of Creditors 341(a) meeting to be held; Proofs of Claims due by deadline.",
)


# ----------------------------------------------------------------------------- arithmetic

def html_pages(nbytes):
    """Pages of an HTML answer of `nbytes` bytes (at least one)."""
    return max(1, math.ceil(nbytes / PAGE_BYTES))


def billable_pages(pages):
    return min(max(int(pages), 1), PAGE_CAP)


def fee_cents(pages):
    """Cost in cents of a capped item (document, docket, case report) of `pages` pages."""
    return billable_pages(pages) * CENTS_PER_PAGE


def dollars(cents):
    return "%d.%02d" % divmod(int(cents), 100)


def _crc(*parts):
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


def csoid_of(login):
    """The CSO id PACER prints after a login (`login:<csoid>:0`), fixed per login."""
    return 1000000 + _crc("csoid", login) % 9000000


def pdf_page_count(data):
    """The page count of a PDF the simulator sent (its `/Count`), or None."""
    m = re.search(rb"/Count (\d+)", data or b"")
    return int(m.group(1)) if m else None


def _pdf(court, key, pages):
    out = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
           ("%% courtroute-sim document %s %s, %d pages\n" % (court, key, pages)).encode("ascii", "replace"),
           b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n",
           ("2 0 obj << /Type /Pages /Kids [%s] /Count %d >> endobj\n"
            % (" ".join("%d 0 R" % (3 + i) for i in range(pages)), pages)).encode("ascii")]
    for i in range(pages):
        out.append(("%d 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
                    % (3 + i)).encode("ascii"))
    out.append(b"trailer << /Root 1 0 R >>\n%%EOF\n")
    return b"".join(out)


# ----------------------------------------------------------------------------- the receipt

def receipt_shape(spec=None):
    """Shape options of a spec: None (defaults), a RECEIPT_VARIANTS name, or a dict."""
    shape = dict(RECEIPT_DEFAULTS)
    if spec is None:
        return shape
    if isinstance(spec, str):
        if spec not in RECEIPT_VARIANTS:
            raise ValueError("unknown receipt variant %r" % spec)
        shape.update(RECEIPT_VARIANTS[spec])
        shape["name"] = spec
        return shape
    unknown = set(spec) - set(RECEIPT_DEFAULTS) - {"name"}
    if unknown:
        raise ValueError("unknown receipt shape options %s" % sorted(unknown))
    shape.update(spec)
    return shape


def render_receipt(login, client_code, description, criteria, billable, cents, when=None,
                   capped=False, shape=None):
    """The Transaction Receipt table (`<center><table>...</table></center>`) in `shape`
    (anything receipt_shape() takes). `when`: unix seconds (default now)."""
    s = shape if isinstance(shape, dict) and "case" in shape else receipt_shape(shape)
    up = s["case"] == "upper"

    def tag(name, attrs=""):
        if up:
            attrs = re.sub(r'([a-z]+)="([^"]*)"', lambda m: "%s=%s" % (m.group(1).upper(), m.group(2)), attrs)
            return "<%s%s>" % (name.upper(), " " + attrs if attrs else "")
        return "<%s%s>" % (name, " " + attrs if attrs else "")

    def end(name):
        return "</%s>" % (name.upper() if up else name)

    def font(text, attrs='size="-1" color="DARKBLUE"'):
        return tag("font", attrs) + text + end("font")

    def label(text):
        text = "&nbsp;%s&nbsp;" % text if s["nbsp"] else " %s " % text
        return tag("th", 'align="LEFT"') + font(text) + end("th")

    def value(text):
        stray = end("th") if s["stray_th"] else ""
        return tag("td", 'align="LEFT"') + font(html.escape(text, quote=False)) + stray + end("td")

    def row(*cells):
        return tag("tr") + "".join(cells) + end("tr")

    def wide(text, attrs='size="-1" color="DARKBLUE"'):
        return row(tag("td", 'colspan="4" align="CENTER"') + font(text, attrs) + end("td"))

    stamp = time.strftime(_TIME_FORMATS[s["time"]], time.localtime(time.time() if when is None else when))
    shown_login = "%s:%d:0" % (login, csoid_of(login)) if s["login_suffix"] else login
    code = client_code or ""
    if s["pad_client_code"]:
        code = code.ljust(int(s["pad_client_code"]))
    parts = [tag("center"), tag("table", 'border="1" bgcolor="white" width="400"'),
             row(tag("th", 'colspan="4"') + font("PACER Service Center ", 'size="+1" color="DARKRED"') + end("th")),
             row(tag("th", 'colspan="4"') + font("Transaction Receipt ", 'color="DARKBLUE"') + end("th")),
             tag("tr") + end("tr"), tag("tr") + end("tr"),
             wide(stamp),
             row(label("PACER Login:"), value(shown_login), label("Client Code:"), value(code)),
             row(label("Description:"), value(description), label(s["criteria_label"] + ":"), value(criteria)),
             row(label("Billable Pages:"), value(str(billable)), label("Cost:"), value(dollars(cents)))]
    if capped and s["cap_note"]:
        parts.append(wide(tag("b") + CAP_NOTE + end("b")))
    parts += [tag("tr") + end("tr"), tag("tr") + end("tr"), end("table"), end("center")]
    return "\n".join(parts[:2]) + "".join(parts[2:]) + "\n"


# ----------------------------------------------------------------------------- records

@dataclass
class FeeCharge:
    """One charge a court made (what PACER bills)."""
    time: float
    court: str
    login: str
    client_code: str     # the session's client code ("" = none)
    kind: str            # "docket" | "history" | "document"
    description: str
    criteria: str
    pages: int           # the item's pages (HTML: from its size; a PDF: its page count)
    billable_pages: int  # capped at 30 (each part of a multi-document on its own)
    cents: int
    receipt: bool        # a receipt was printed with it (documents: on the quote fetched)
    path: str            # the path, no query
    document: object = None   # the document key, documents only
    via: str = "page"    # "page" | "post" | "got_receipt" | "direct" (receipts off)
    shape: object = None # the receipt shape's name (None: no receipt, or an unnamed shape)


@dataclass
class FeeQuote:
    """One quote (a document's receipt page) shown; no charge by itself."""
    time: float
    court: str
    login: str
    client_code: str
    document: str
    path: str
    target: str          # path and query as asked
    description: str
    criteria: str
    pages: int
    billable_pages: int
    cents: int
    view: str            # "form" | "link"
    shape: object = None
    fetched: bool = False


# ----------------------------------------------------------------------------- the mixin

class FeesMixin:
    """PACER fees for `sim.Simulator` (see the module docstring)."""

    def _fees_init(self):
        self._receipt_seq = 0
        # --- knobs ---
        self.fees_enabled = False
        self.receipt_shape = None
        self.receipt_shapes = {}
        self.document_view = "form"
        self.docket_entries = {}
        self.document_pages = {}
        # --- records ---
        self.fee_charges = []
        self.fee_quotes = []

    def _fees_records(self):
        return (self.fee_charges, self.fee_quotes)

    # ------------------------------------------------------------------ queries

    @staticmethod
    def _fee_match(x, filters):
        for k, v in filters.items():
            if v is not None and getattr(x, k) != v:
                return False
        return True

    def charged(self, **filters):
        """(charges, cents) the courts charged, optionally for one login, client_code, court, kind."""
        with self._lock:
            mine = [c for c in self.fee_charges if self._fee_match(c, filters)]
        return len(mine), sum(c.cents for c in mine)

    def fee_totals(self, by="login", **filters):
        """{key: {"charges", "pages" (billable), "cents"}} of the charges, grouped by a field
        (login, client_code, court, kind) or a tuple of fields (keys are then tuples)."""
        fields = (by,) if isinstance(by, str) else tuple(by)
        out = {}
        with self._lock:
            for c in self.fee_charges:
                if not self._fee_match(c, filters):
                    continue
                key = getattr(c, fields[0]) if len(fields) == 1 else tuple(getattr(c, f) for f in fields)
                t = out.setdefault(key, {"charges": 0, "pages": 0, "cents": 0})
                t["charges"] += 1
                t["pages"] += c.billable_pages
                t["cents"] += c.cents
        return out

    def unfetched_quotes(self, **filters):
        """The quotes whose document was never fetched after them."""
        with self._lock:
            return [q for q in self.fee_quotes if not q.fetched and self._fee_match(q, filters)]

    def fee_counts(self, court=None):
        """What a ledger fed by receipts should have seen: {"charges": charges with a receipt
        (docket pages with one, documents fetched after their quote), "quotes": quotes shown,
        "cents": their cost, "unreceipted": charges made without any receipt}."""
        with self._lock:
            charges = [c for c in self.fee_charges if court is None or c.court == court]
            quotes = [q for q in self.fee_quotes if court is None or q.court == court]
        seen = [c for c in charges if c.receipt]
        return {"charges": len(seen), "quotes": len(quotes), "cents": sum(c.cents for c in seen),
                "unreceipted": len(charges) - len(seen)}

    def docket_docids(self, court_id, case="1"):
        """The /doc1 ids the docket report of `case` at `court_id` links to, in order."""
        with self._lock:
            court = self._courts[court_id]
        return [self._docid(court, case, n) for n in range(1, self._docket_rows(court, case) + 1)]

    # ------------------------------------------------------------------ serving

    def _fees_on(self, court):
        on = self.fees_enabled
        if on is True:
            return True
        if not on:
            return False
        return court.id in on

    @staticmethod
    def _receipts_wanted(rec):
        pref = rec.cookies.get("PacerPref")
        if pref is None:
            return True
        for part in re.split(r"[&|;,]", pref):
            k, _, v = part.strip().partition("=")
            if k.strip().lower() == "receipt" and v.strip().upper() == "N":
                return False
        return True

    def _next_shape(self, court):
        spec = self.receipt_shapes.get(court.id, self.receipt_shape)
        with self._lock:
            seq = self._receipt_seq
            self._receipt_seq += 1
        if isinstance(spec, (list, tuple)):
            spec = spec[seq % len(spec)] if spec else None
        shape = receipt_shape(spec)
        return shape, shape.get("name")

    def _document_view(self, court):
        v = self.document_view
        if isinstance(v, dict):
            v = v.get(court.id, "form")
        return v if v in ("form", "link") else "form"

    def _fields(self, rec, u, body):
        """Query parameters, then form fields of a POST (first value each)."""
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        fields = {k: v[0] for k, v in q.items()}
        if rec.method == "POST" and body:
            _, form = self._parse_form(rec, body)
            for k, v in form.items():
                fields.setdefault(k, v)
        return fields

    def _fee_page(self, h, rec, court, u, body, session, menu, extra):
        """Serves a billable page; False when the path is not one (or for HEAD)."""
        if h.command == "HEAD":
            return False
        path = u.path
        if path in ("/cgi-bin/DktRpt.pl", "/cgi-bin/HistDocQry.pl"):
            self._fee_report(h, rec, court, u, body, session, menu, extra,
                             "docket" if path.endswith("DktRpt.pl") else "history")
            return True
        if re.fullmatch(r"/doc1/[0-9]{1,20}", path) or path in ("/cgi-bin/show_doc.pl", "/cgi-bin/show_multidocs.pl"):
            self._fee_document(h, rec, court, u, body, session, menu, extra)
            return True
        return False

    @staticmethod
    def _case_of(u, fields):
        if u.query and re.fullmatch(r"[0-9]{1,12}", u.query):
            return u.query
        for name in ("caseid", "all_case_ids", "case_id"):
            v = fields.get(name, "").strip()
            if v:
                return re.sub(r"[^0-9A-Za-z:-]", "", v)[:24] or "1"
        return "1"

    @staticmethod
    def _case_number(court, case):
        kind = "bk" if court.type == "bankruptcy" else ("ap" if court.type == "appellate" else "cv")
        if case.isdigit():
            return "2:24-%s-%05d" % (kind, int(case) % 100000)
        return case

    def _docket_rows(self, court, case):
        n = self.docket_entries.get(case)
        return int(n) if n is not None else 4 + _crc("docket", court.id, case) % 40

    @staticmethod
    def _docid(court, case, n):
        return "%03d%09d" % (_crc("court", court.id) % 1000, (_crc("case", case) % 100000) * 1000 + n % 1000)

    def _doc_pages(self, court, key):
        n = self.document_pages.get(key)
        return max(1, int(n)) if n is not None else 1 + _crc("pages", court.id, key) % 45

    def _fee_report(self, h, rec, court, u, body, session, menu, extra, kind):
        fields = self._fields(rec, u, body)
        case = self._case_of(u, fields)
        number = self._case_number(court, case)
        rows = []
        for n in range(1, self._docket_rows(court, case) + 1):
            day = 1 + (n - 1) % 28
            text = _DOCKET_TEXTS[(n + _crc(case)) % len(_DOCKET_TEXTS)]
            if kind == "docket":
                rows.append('<tr><td width="94" valign="top">01/%02d/2024</td>'
                            '<td valign="top" align="right"><a href="https://%s/doc1/%s">%d</a></td>'
                            '<td valign="top">%s (Entered: 01/%02d/2024)</td></tr>'
                            % (day, court.host, self._docid(court, case, n), n, html.escape(text), day))
            else:
                rows.append('<tr><td>%d</td><td>01/%02d/2024</td><td>%s</td></tr>'
                            % (n, day, html.escape(text[:40])))
        title = "Docket Report" if kind == "docket" else "History/Documents"
        content = ('<h3 align="center">%s<br>%s<br>Case #: %s</h3>\n'
                   '<table border="1" cellpadding="5" width="100%%">'
                   "<tr><th>Filing Date</th><th>#</th><th>Docket Text</th></tr>\n%s\n</table>"
                   % (html.escape(court.id.upper()), title, number, "\n".join(rows)))
        page = self._page(court, u, menu, content)
        nbytes = len(page.encode("utf-8"))
        pages = html_pages(nbytes)
        billable, cents = billable_pages(pages), fee_cents(pages)
        criteria = ("%s Fil or Ent: filed Doc From: 0 Doc To: 99999999 Term: included "
                    "Format: html Page counts for documents: included" % number
                    if kind == "docket" else number)
        show = self._receipts_wanted(rec)
        shape, name = self._next_shape(court) if show else (None, None)
        now = self._now()
        with self._lock:
            self.fee_charges.append(FeeCharge(now, court.id, session.login, session.client_code, kind,
                                              title, criteria, pages, billable, cents, show, u.path,
                                              None, "page", name))
        if show:
            page = self._page(court, u, menu, content,
                              "<hr>" + render_receipt(session.login, session.client_code, title, criteria,
                                                      billable, cents, now, pages > PAGE_CAP, shape))
        h.send(200, page, headers=extra)

    def _fee_document(self, h, rec, court, u, body, session, menu, extra):
        fields = self._fields(rec, u, body)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        got_receipt = q.get("got_receipt", [""])[0] == "1"
        case = self._case_of(u, fields) if "caseid" in fields else "1"
        number = self._case_number(court, case)
        if u.path.startswith("/doc1/"):
            key = u.path.rsplit("/", 1)[1]
            parts = [self._doc_pages(court, key)]
            description = "Image %d-0" % (int(key) % 1000)
        elif u.path.endswith("show_doc.pl"):
            key = (fields.get("dm_id") or fields.get("doc_num") or "0").strip()[:24]
            parts = [self._doc_pages(court, key)]
            description = "Image %s-0" % (fields.get("doc_num") or key)
        else:
            seqs = [x for x in re.split(r"[,\s]+", fields.get("arr_de_seq_nums", "")) if x][:50] or ["1"]
            key = "%s/%s" % (case, ",".join(seqs))
            parts = [self._doc_pages(court, "%s/%s" % (case, s)) for s in seqs]
            description = "Multiple Documents: %s" % ", ".join("%s-0" % s for s in seqs)
        pages = sum(parts)
        billable = sum(billable_pages(p) for p in parts)
        cents = sum(fee_cents(p) for p in parts)
        capped = any(p > PAGE_CAP for p in parts)
        criteria = "%s Document %s" % (number, key) if not u.path.endswith("show_multidocs.pl") else number
        show = self._receipts_wanted(rec)
        fetch = rec.method == "POST" or got_receipt or not show
        now = self._now()
        if fetch:
            via = "post" if rec.method == "POST" else ("got_receipt" if got_receipt else "direct")
            with self._lock:
                quote = None
                for x in reversed(self.fee_quotes):
                    if (not x.fetched and x.login == session.login and x.court == court.id
                            and x.document == key):
                        quote = x
                        break
                if quote is not None:
                    quote.fetched = True
                self.fee_charges.append(FeeCharge(now, court.id, session.login, session.client_code,
                                                  "document", description, criteria, pages, billable,
                                                  cents, quote is not None, u.path, key, via,
                                                  quote.shape if quote is not None else None))
            headers = list(extra) + [("Content-Disposition", 'inline; filename="%s.pdf"' % re.sub(r"[^0-9A-Za-z_-]", "_", key))]
            h.send(200, _pdf(court.id, key, pages), "application/pdf", headers)
            return
        shape, name = self._next_shape(court)
        view = self._document_view(court)
        target = u.path + ("?" + u.query if u.query else "")
        receipt = render_receipt(session.login, session.client_code, description, criteria, billable, cents,
                                 now, capped, shape)
        if view == "form":
            hidden = {"caseid": case, "de_seq_num": str(_crc("seq", key) % 1000), "got_receipt": "1",
                      "pdf_toggle_possible": "1"}
            button = ('<form method="post" action="%s">%s<input type="submit" value="View Document"></form>'
                      % (html.escape(target), "".join('<input type="hidden" name="%s" value="%s">'
                                                      % (k, html.escape(v)) for k, v in hidden.items())))
        else:
            link = target + ("&" if u.query else "?") + "got_receipt=1"
            button = '<a href="%s">View Document</a>' % html.escape(link)
        content = ("<center><p>To accept charges shown below, click on the 'View Document' button, "
                   "otherwise click the 'Back' button on your browser.</p>\n%s%s</center>"
                   % (receipt, button))
        with self._lock:
            self.fee_quotes.append(FeeQuote(now, court.id, session.login, session.client_code, key, u.path,
                                            target, description, criteria, pages, billable, cents, view, name))
        h.send(200, self._page(court, u, menu, content), headers=extra)
