"""Simulated ACMS, the Second and Ninth Circuits' case system (PROTOCOL.md §10).

A mixin of `sim.Simulator`: the same TLS server, lock, clock, PACER sessions and records.
ACMS is on for a court when the court is added with `acms=True`, or automatically when an
*appellate* court's id is `ca2` or `ca9` (`add_court("ca9", type="appellate")`, or
`Simulator(dir, courts={"ca9": "appellate"})`); `enable_acms(court_id)` turns it on later.
The court keeps its CM/ECF host (`ecf.ca9.uscourts.gov`) as before.

Hosts (all on the simulator's one port, in `sim.hosts` and in its certificate):
  {id}-showdoc.azurewebsites.us          pages and the SAML service provider (SP)
  {id}-showdocservices.azurewebsites.us  JSON API under /api/
  idp.ca9.uscourts.gov                   PACER's identity provider (IdP), ca2's too
  acmssimfiles.blob.core.usgovcloudapi.net  document files named in the API's JSON (a made-up
                                          "other host": nothing may be injected there)

Sign-in, as a browser does it (each step answers what PROTOCOL §10 describes):
 1. Any request to the showdoc host without a live ACMS session (e.g. `POST /`, empty body) is
    a *challenge*: a new SAML AuthnRequest and either
      - acms_challenge = "redirect" (default): 302, Location
        https://idp.ca9.uscourts.gov/idp/profile/SAML2/Redirect/SSO?SAMLRequest=...&RelayState=...
        (SAMLRequest = base64 of raw-deflated XML, as the HTTP-Redirect binding has it), or
      - acms_challenge = "form": 200, an auto-submitting form POSTing SAMLRequest (base64 XML)
        and RelayState to https://idp.ca9.uscourts.gov/idp/profile/SAML2/POST/SSO.
    Recorded in `acms_signins`. `/Saml2/Acs` is the only path that never challenges.
 2. The IdP (GET or POST to either SSO path) needs a SAMLRequest the SP issued (else 400) and
    reads the `NextGenCSO` cookie only: a live production PACER session from cso-auth.
      - no or dead NextGenCSO: 302 to https://pacer.login.uscourts.gov/csologin/login.jsf
        ?pscCourtId=CA9&appurl=...;
      - acms_idp_extra_hop = True: first a 302 to /idp/authn/External?conversation=<id>
        (relative Location unless acms_absolute_locations) setting
        `JSESSIONID=...; Path=/idp; Secure; HttpOnly`; that URL must then be fetched with the
        JSESSIONID (when acms_idp_hop_needs_cookie, the default) and NextGenCSO, once only;
        else 400 "Stale Request";
      - otherwise 200, HTML `<body onload="document.forms[0].submit()">` with
        `<form action="https://{id}-showdoc.azurewebsites.us/Saml2/Acs" method="post">` and
        hidden inputs RelayState (the one received) and SAMLResponse (base64 of XML whose NameID
        is the PACER login). acms_form_style = "encoded" writes every attribute value the way
        Shibboleth does (`https&#x3a;&#x2f;&#x2f;...`): a client must HTML-unescape.
    Recorded in `acms_idp_hits`.
 3. `POST /Saml2/Acs` (form-urlencoded or multipart SAMLResponse, RelayState) accepts a
    SAMLResponse the IdP issued, once, for this court, with its RelayState, within
    acms_saml_lifetime seconds; otherwise 400 with an HTML error and no cookies. On success it
    sets the ACMS session cookies:
        ARRAffinity=<64 hex>;Path=/;HttpOnly;Secure;Domain={id}-showdoc.azurewebsites.us
        .AspNetCore.Cookies=<opaque>; path=/; secure; samesite=lax; httponly
    (acms_cookie_chunks = N >= 2 splits the second the ASP.NET Core way:
    `.AspNetCore.Cookies=chunks-N` plus `.AspNetCore.CookiesC1` ... `CN`) and answers
      - acms_flow = "model" (default, the older flow): 200 HTML holding
        `var model = '{"AuthToken":{"Token":"<bearer>",...},...}';`
      - acms_flow = "indexcontent" (the newer flow): 302 to `/` (relative unless
        acms_absolute_locations), whose page fetches `/Home/IndexContent`; that answers JSON
        (acms_indexcontent_type = "json", default) or an HTML fragment with a script
        (= "html"), either holding `"docketData":{...,"authToken":"<bearer>",...}`.
    Recorded in `acms_acs_posts`.
 4. Pages need both cookies (ARRAffinity must match unless acms_require_affinity = False):
    `GET|POST /` (model flow: the model page again, token included; newer flow: the shell page),
    `GET /Home/IndexContent` (newer flow only; 404 in the model flow),
    `GET /Case/Docket?caseId=<case number>` (HTML docket: `<h1 id="case-number">`, one row per
    entry with billable pages and cost). Anything else: 404 when signed in. Without a live
    session every path challenges (step 1 again). Recorded in `acms_pages`.
 5. API on the showdocservices host, `Authorization: Bearer <token>` of a live ACMS session of
    *that* court, else 401 JSON with `WWW-Authenticate: Bearer` (`error="invalid_token"` when a
    token was sent). `GET /api/Dockets/<case number>`: JSON {caseNumber, courtId, caseTitle,
    entries: [{entryNumber, dateFiled, description, documentId, pageCount, billablePages, cost,
    fileUrl}]} with PROTOCOL §9 fees ($0.10 a page, capped at 30 pages); `GET /api/echo`: what
    the request carried (like the courts' /echo). OPTIONS answers a CORS preflight (204)
    without a token. Recorded in `acms_api_calls`.
 6. The fileUrl of a docket entry is on the files host with a signed query (`sig=`); it needs
    no cookie and no Authorization (any sent is a leak). Recorded in `acms_file_gets`.

Knobs (plain attributes; `acms_flow` and `acms_break` may also be {court id: value}):
  acms_flow               "model" | "indexcontent"
  acms_break              None | "no_form"  (the IdP answers 200 without the SAML form)
                               | "no_token" (Acs sets cookies, but no token anywhere: the model
                                             has "AuthToken":null, IndexContent no authToken)
                               | "loop"     (Acs accepts the response and sets cookies, then
                                             redirects to /, which challenges again; every
                                             page keeps challenging; no token is issued)
  acms_challenge          "redirect" | "form"
  acms_idp_extra_hop      False; acms_idp_hop_needs_cookie True
  acms_absolute_locations False: same-host redirects use a path-only Location
  acms_form_style         "plain" | "encoded"
  acms_cookie_chunks      0
  acms_indexcontent_type  "json" | "html"
  acms_require_affinity   True
  acms_session_max_age    None (seconds, the simulator's clock: advance_time)
  acms_idle_timeout       None
  acms_tied_to_pacer      False: True ends an ACMS session with the PACER session it came from
  acms_saml_lifetime      300.0 seconds for an issued SAMLResponse
  acms_fault              {} host kind ("showdoc" | "services" | "idp" | "files") -> a court
                          fault ("500" or any status, "slow" for court_slow_seconds, "close",
                          "truncate"; see court_fault), on every request to those hosts

Controls: `expire_acms(login=None, court=None)` ends ACMS sessions (cookies and tokens);
`live_acms_sessions()`; `acms_counts()`; `cookie_names_seen(host=None)`; `acms_courts`.
`reset_counters()` clears the ACMS records too. Tokens, cookie values and SAMLResponses the
sim issues are in `issued_tokens()` (kinds "acms bearer token", "acms session cookie",
"acms saml response") so SecretWatch sees them.

Records (thread-safe lists of dataclasses, newest last): acms_signins, acms_idp_hits,
acms_acs_posts, acms_pages, acms_api_calls, acms_file_gets, acms_leaks. `sim.requests` holds
every request too, with `court` = "acms:<id>" (showdoc and showdocservices hosts), "acms-idp"
or "acms-files", and `logged_in` = a live ACMS session (showdoc), a valid bearer token (API) or
a live NextGenCSO (IdP). `acms_leaks` (AcmsLeak kind, host, what) records, once per request and kind:
  pacer_cookie_to_acms      a NextGenCSO / PacerSession / PacerClientCode cookie, or the value of
                            any PACER or CM/ECF session token, sent to a showdoc, showdocservices
                            or files host (NextGenCSO belongs to the IdP only)
  acms_credential_to_court  an ACMS cookie (by name or value) or bearer token sent to a CM/ECF
                            court host
  acms_credential_to_pacer  ... to pacer.login / qa-login
  acms_credential_to_idp    ... to the IdP
  acms_cookie_to_services   ACMS (showdoc) cookies sent to the showdocservices host
  authorization_to_showdoc  an Authorization header sent to the showdoc host
  credential_to_files_host  any Cookie or Authorization sent to the files host
`acms_pacer_cookie_leaked` and `acms_credential_leaked` are the two headline booleans.
"""

import base64
import html
import json
import re
import secrets
import string
import urllib.parse
import zlib
from dataclasses import dataclass

ACMS_COURT_IDS = ("ca2", "ca9")
ACMS_IDP_HOST = "idp.ca9.uscourts.gov"
ACMS_FILES_HOST = "acmssimfiles.blob.core.usgovcloudapi.net"
ACMS_SSO_REDIRECT_PATH = "/idp/profile/SAML2/Redirect/SSO"
ACMS_SSO_POST_PATH = "/idp/profile/SAML2/POST/SSO"
ACMS_AUTHN_PATH = "/idp/authn/External"
ACMS_ACS_PATH = "/Saml2/Acs"
ACMS_INDEX_CONTENT_PATH = "/Home/IndexContent"
ACMS_DOCKET_PATH = "/Case/Docket"
ACMS_AFFINITY_COOKIE = "ARRAffinity"
ACMS_AUTH_COOKIE = ".AspNetCore.Cookies"
ACMS_IDP_SESSION_COOKIE = "JSESSIONID"
PACER_COOKIE_NAMES = ("NextGenCSO", "PacerSession", "PacerClientCode")

_PACER_LOGIN_PAGE = "https://pacer.login.uscourts.gov/csologin/login.jsf"
_ALNUM = string.ascii_letters + string.digits
_FLOWS = ("model", "indexcontent")
_BREAKS = (None, "no_form", "no_token", "loop")
_KNOB_DEFAULTS = {"acms_flow": "model", "acms_break": None}

# The docket every simulated ACMS case has: (entry, date filed, text, pages).
_DOCKET = [
    (1, "2025-11-03", "Case docketed. Notice of appeal filed.", 3),
    (2, "2025-12-15", "Opening brief filed.", 45),
    (3, "2026-01-09", "Order granting motion to extend time.", 1),
]


def acms_showdoc_host(court_id):
    """`{id}-showdoc.azurewebsites.us`: pages and the SAML service provider."""
    return "%s-showdoc.azurewebsites.us" % court_id.lower()


def acms_services_host(court_id):
    """`{id}-showdocservices.azurewebsites.us`: the JSON API under /api/."""
    return "%s-showdocservices.azurewebsites.us" % court_id.lower()


def acms_acs_url(court_id):
    """The absolute assertion consumer URL the IdP's form posts to."""
    return "https://%s%s" % (acms_showdoc_host(court_id), ACMS_ACS_PATH)


def acms_signin_url(court_id):
    """Where a sign-in starts: `POST https://{id}-showdoc.azurewebsites.us/` (empty body)."""
    return "https://%s/" % acms_showdoc_host(court_id)


def acms_fee(pages):
    """(billable pages, cost in dollars) of a document of `pages` pages (PROTOCOL §9)."""
    billable = min(max(int(pages), 1), 30)
    return billable, round(billable * 0.10, 2)


def is_acms_cookie_name(name):
    """True for the names of the ACMS session cookies (chunks included)."""
    return (name in (ACMS_AFFINITY_COOKIE, ACMS_AUTH_COOKIE)
            or re.fullmatch(re.escape(ACMS_AUTH_COOKIE) + r"C[0-9]+", name) is not None)


def _rand(n):
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def _b64url(data):
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _shib_attr(value):
    """An attribute value encoded the way Shibboleth's templates do (every non-alphanumeric
    character but , . - _ as a hex character reference)."""
    return "".join(c if c in _ALNUM or c in ",.-_" else "&#x%x;" % ord(c) for c in value)


def _js_json(obj):
    """JSON that can sit in a single-quoted JavaScript string inside <script>."""
    return (json.dumps(obj, separators=(",", ":"))
            .replace("'", "\\u0027").replace("</", "<\\/"))


# ----------------------------------------------------------------------------- records

@dataclass
class AcmsSignin:
    """A challenge from a showdoc host: a sign-in started (an AuthnRequest issued)."""
    court: str
    method: str
    path: str
    reason: str        # "no_session" | "unknown_cookie" | "no_affinity" | "expired" | "loop"
    binding: str       # "redirect" | "form"
    request_id: str    # the AuthnRequest ID
    time: float


@dataclass
class AcmsIdpHit:
    """One request to the IdP host."""
    method: str
    path: str
    court: object      # the court of the AuthnRequest, when known
    had_nextgencso: bool
    login: object      # PACER login of a live NextGenCSO, else None
    result: str        # "form" | "no_form" | "hop" | "pacer_login" | "bad_request" | "stale" |
                       # "not_found"
    time: float


@dataclass
class AcmsAcsPost:
    """One request to /Saml2/Acs."""
    court: str
    login: object
    result: str        # "ok" | "no_token" | "loop" (all three set cookies) | "missing" |
                       # "unknown" | "replayed" | "wrong_court" | "bad_relay_state" |
                       # "expired" | "bad_method"
    time: float


@dataclass
class AcmsPage:
    """One request to a showdoc host other than /Saml2/Acs."""
    court: str
    method: str
    path: str
    logged_in: bool
    login: object
    status: object
    time: float


@dataclass
class AcmsApiCall:
    """One request to a showdocservices host."""
    court: str
    method: str
    path: str
    authorization: object   # the Authorization header as sent (None when absent)
    token_valid: bool
    login: object
    status: object
    time: float


@dataclass
class AcmsFileGet:
    """One request to the files host."""
    method: str
    path: str
    had_cookie: bool
    had_authorization: bool
    status: object
    time: float


@dataclass
class AcmsLeak:
    """A credential sent where it does not belong (see the module docstring for kinds)."""
    kind: str
    host: str
    what: str          # e.g. "cookie NextGenCSO", "ACMS bearer token" (never the value)
    time: float


@dataclass
class _AcmsAuthn:
    id: str
    court: str
    relay_state: str
    binding: str
    created: float


@dataclass
class _AcmsAssertion:
    id: str
    court: str
    login: str
    client_code: str
    pacer_token: str
    relay_state: str
    b64: str
    created: float
    used: bool = False


@dataclass
class _AcmsConversation:
    authn_id: str
    relay_state: str
    jsessionid: str
    created: float


@dataclass
class _AcmsSession:
    court: str
    login: str
    client_code: str
    pacer_token: str
    affinity: str
    auth: str
    bearer: object     # None when no token was issued (break modes)
    created: float
    last_used: float
    revoked: bool = False


# ----------------------------------------------------------------------------- the mixin

class AcmsMixin:
    """ACMS for `sim.Simulator` (see the module docstring)."""

    def _acms_init(self):
        self._acms_courts = {}          # court id -> True, in the order enabled
        self._host_acms = {}            # host -> (kind, court id or None)
        self._acms_authn = {}           # AuthnRequest ID -> _AcmsAuthn
        self._acms_assertions = {}      # Response ID -> _AcmsAssertion
        self._acms_conversations = {}   # IdP conversation id -> _AcmsConversation
        self._acms_sessions = []
        self._acms_by_auth = {}
        self._acms_by_bearer = {}
        self._acms_file_sigs = {}       # sig -> (court, document id, size)

        # --- knobs ---
        self.acms_flow = "model"
        self.acms_break = None
        self.acms_challenge = "redirect"
        self.acms_idp_extra_hop = False
        self.acms_idp_hop_needs_cookie = True
        self.acms_absolute_locations = False
        self.acms_form_style = "plain"
        self.acms_cookie_chunks = 0
        self.acms_indexcontent_type = "json"
        self.acms_require_affinity = True
        self.acms_session_max_age = None
        self.acms_idle_timeout = None
        self.acms_tied_to_pacer = False
        self.acms_saml_lifetime = 300.0
        self.acms_fault = {}

        # --- records ---
        self.acms_signins = []
        self.acms_idp_hits = []
        self.acms_acs_posts = []
        self.acms_pages = []
        self.acms_api_calls = []
        self.acms_file_gets = []
        self.acms_leaks = []

    def _acms_records(self):
        return (self.acms_signins, self.acms_idp_hits, self.acms_acs_posts, self.acms_pages,
                self.acms_api_calls, self.acms_file_gets, self.acms_leaks)

    # ------------------------------------------------------------------ setup and controls

    def enable_acms(self, court_id):
        """Serves ACMS for `court_id` (its hosts join `hosts` and the certificate)."""
        hosts = [acms_showdoc_host(court_id), acms_services_host(court_id), ACMS_IDP_HOST,
                 ACMS_FILES_HOST]
        with self._lock:
            self._acms_courts[court_id] = True
            self._host_acms[hosts[0]] = ("showdoc", court_id)
            self._host_acms[hosts[1]] = ("services", court_id)
            self._host_acms[ACMS_IDP_HOST] = ("idp", None)
            self._host_acms[ACMS_FILES_HOST] = ("files", None)
            missing = ([x for x in hosts if x not in self._host_ctx_all]
                       if self._ssl_ctx is not None else [])
        for host in missing:
            self._add_host_context(host)

    @property
    def acms_courts(self):
        """Ids of the courts with ACMS, in the order enabled."""
        with self._lock:
            return list(self._acms_courts)

    def _acms_hosts(self):
        with self._lock:
            out = []
            for cid in self._acms_courts:
                out += [acms_showdoc_host(cid), acms_services_host(cid)]
            if out:
                out += [ACMS_IDP_HOST, ACMS_FILES_HOST]
            return out

    def expire_acms(self, login=None, court=None):
        """Ends the ACMS sessions of `login` at `court` (None: any): their cookies and bearer
        tokens stop working, so pages challenge again and the API answers 401."""
        with self._lock:
            for s in self._acms_sessions:
                if (login is None or s.login == login) and (court is None or s.court == court):
                    s.revoked = True

    def live_acms_sessions(self):
        """[(court, login, client_code, has_token)] of ACMS sessions still valid."""
        with self._lock:
            return [(s.court, s.login, s.client_code, s.bearer is not None)
                    for s in self._acms_sessions if self._acms_alive(s, touch=False)]

    def acms_counts(self, court=None):
        """Counts of what ACMS saw (of one court when given)."""
        with self._lock:
            def mine(lst):
                return [x for x in lst if court is None or getattr(x, "court", None) == court]
            idp = mine(self.acms_idp_hits)
            acs = mine(self.acms_acs_posts)
            api = mine(self.acms_api_calls)
            return {
                "signins": len(mine(self.acms_signins)),
                "idp_hits": len(idp),
                "idp_forms": sum(1 for x in idp if x.result == "form"),
                "acs_posts": len(acs),
                "acs_accepted": sum(1 for x in acs if x.result in ("ok", "no_token", "loop")),
                "pages": len(mine(self.acms_pages)),
                "api_calls": len(api),
                "api_authorized": sum(1 for x in api if x.token_valid),
                "api_unauthorized": sum(1 for x in api if x.status == 401),
                "file_gets": len(self.acms_file_gets),
                "leaks": len(self.acms_leaks),
            }

    def cookie_names_seen(self, host=None):
        """{host: sorted cookie names} over every request seen (or the names for one host)."""
        with self._lock:
            seen = {}
            for r in self.requests:
                seen.setdefault(r.host, set()).update(n for n, _ in r.cookie_list)
        if host is not None:
            return sorted(seen.get(host.lower(), ()))
        return {h: sorted(v) for h, v in seen.items()}

    @property
    def acms_pacer_cookie_leaked(self):
        """Whether a PACER or CM/ECF cookie or token ever went to an ACMS host (not the IdP)."""
        with self._lock:
            return any(x.kind == "pacer_cookie_to_acms" for x in self.acms_leaks)

    @property
    def acms_credential_leaked(self):
        """Whether an ACMS cookie or bearer token ever went to a uscourts.gov host."""
        with self._lock:
            return any(x.kind in ("acms_credential_to_court", "acms_credential_to_pacer",
                                  "acms_credential_to_idp") for x in self.acms_leaks)

    def _acms_opt(self, name, court):
        v = getattr(self, name)
        if isinstance(v, dict):
            v = v.get(court, _KNOB_DEFAULTS[name])
        if v not in (_FLOWS if name == "acms_flow" else _BREAKS):
            raise ValueError("%s: unknown value %r" % (name, v))
        return v

    # ------------------------------------------------------------------ sessions

    def _acms_alive(self, s, touch=True):
        if s.revoked:
            return False
        now = self._now()
        if self.acms_session_max_age is not None and now - s.created >= self.acms_session_max_age:
            return False
        if self.acms_idle_timeout is not None and now - s.last_used >= self.acms_idle_timeout:
            return False
        if self.acms_tied_to_pacer:
            p = self._pacer_sessions.get(s.pacer_token)
            if p is None or not self._alive(p, touch=False):
                return False
        if touch:
            s.last_used = now
        return True

    def _acms_pacer_session(self, token):
        """The live production PACER session of a NextGenCSO value, or None."""
        if not token:
            return None
        with self._lock:
            s = self._pacer_sessions.get(token)
            if s is not None and s.service == "pacer" and self._alive(s):
                return s
        return None

    @staticmethod
    def _acms_auth_cookie(rec):
        v = rec.cookies.get(ACMS_AUTH_COOKIE)
        m = re.fullmatch(r"chunks-([0-9]{1,2})", v or "")
        if m:
            parts = [rec.cookies.get("%sC%d" % (ACMS_AUTH_COOKIE, i))
                     for i in range(1, int(m.group(1)) + 1)]
            return None if any(p is None for p in parts) else "".join(parts)
        return v

    def _acms_session_of(self, rec, court):
        """(session, None) or (None, reason) for a showdoc request."""
        auth = self._acms_auth_cookie(rec)
        if not auth:
            return None, "no_session"
        with self._lock:
            s = self._acms_by_auth.get(auth)
            if s is None or s.court != court:
                return None, "unknown_cookie"
            if self.acms_require_affinity and rec.cookies.get(ACMS_AFFINITY_COOKIE) != s.affinity:
                return None, "no_affinity"
            if not self._acms_alive(s):
                return None, "expired"
            return s, None

    def _acms_new_session(self, a, bearer_wanted):
        now = self._now()
        bearer = None
        if bearer_wanted:
            head = _b64url(b'{"alg":"RS256","kid":"sim","typ":"JWT"}')
            body = _b64url(json.dumps({"sub": a.login, "court": a.court, "jti": secrets.token_hex(16),
                                       "iat": int(now), "iss": acms_signin_url(a.court)}).encode())
            bearer = "%s.%s.%s" % (head, body, _b64url(secrets.token_bytes(64)))
        s = _AcmsSession(a.court, a.login, a.client_code, a.pacer_token, secrets.token_hex(32),
                         "CfDJ8" + _b64url(secrets.token_bytes(330)), bearer, now, now)
        with self._lock:
            self._acms_sessions.append(s)
            self._acms_by_auth[s.auth] = s
            self._issued.append(("acms session cookie", s.auth))
            self._issued.append(("acms session cookie", s.affinity))
            if bearer:
                self._acms_by_bearer[bearer] = s
                self._issued.append(("acms bearer token", bearer))
        return s

    def _acms_cookie_headers(self, s):
        attrs = "; path=/; secure; samesite=lax; httponly"
        out = [("Set-Cookie", "%s=%s;Path=/;HttpOnly;Secure;Domain=%s"
                % (ACMS_AFFINITY_COOKIE, s.affinity, acms_showdoc_host(s.court)))]
        n = int(self.acms_cookie_chunks or 0)
        if n >= 2:
            size = -(-len(s.auth) // n)
            out.append(("Set-Cookie", "%s=chunks-%d%s" % (ACMS_AUTH_COOKIE, n, attrs)))
            for i in range(n):
                out.append(("Set-Cookie", "%sC%d=%s%s" % (ACMS_AUTH_COOKIE, i + 1,
                                                          s.auth[i * size:(i + 1) * size], attrs)))
        else:
            out.append(("Set-Cookie", "%s=%s%s" % (ACMS_AUTH_COOKIE, s.auth, attrs)))
        return out

    # ------------------------------------------------------------------ dispatch

    def _acms_handle(self, h, rec, host, body):
        """Answers a request to an ACMS host; False when `host` is not one."""
        with self._lock:
            entry = self._host_acms.get(host)
        if entry is None:
            return False
        kind, cid = entry
        rec.court = {"idp": "acms-idp", "files": "acms-files"}.get(kind, "acms:%s" % cid)
        self._acms_watch(rec, kind)
        fault = self.acms_fault.get(kind)
        if fault is not None and self._fault(h, fault, self.court_slow_seconds):
            return True
        u = urllib.parse.urlsplit(rec.path)
        {"showdoc": self._acms_showdoc, "services": self._acms_services,
         "idp": self._acms_idp, "files": self._acms_files}[kind](h, rec, cid, u, body)
        return True

    def _acms_watch(self, rec, kind):
        """Records credentials sent where they do not belong (kind: showdoc | services | files |
        idp | court | pacer)."""
        with self._lock:
            if not self._acms_courts:
                return
            values = "\n".join(v for _, v in rec.header_list)
            found = []
            if kind in ("showdoc", "services", "files"):
                for name, _ in rec.cookie_list:
                    if name in PACER_COOKIE_NAMES:
                        found.append(("pacer_cookie_to_acms", "cookie " + name))
                if any(t in values for t in self._pacer_sessions):
                    found.append(("pacer_cookie_to_acms", "PACER session token value"))
                if any(t in values for t in self._ecf_sessions):
                    found.append(("pacer_cookie_to_acms", "CM/ECF session token value"))
            if kind in ("court", "pacer", "idp"):
                leak = "acms_credential_to_" + kind
                for name, _ in rec.cookie_list:
                    if is_acms_cookie_name(name):
                        found.append((leak, "cookie " + name))
                for s in self._acms_sessions:
                    if s.auth in values or s.affinity in values:
                        found.append((leak, "ACMS session cookie value"))
                    if s.bearer and s.bearer in values:
                        found.append((leak, "ACMS bearer token"))
            if kind == "services":
                for name, _ in rec.cookie_list:
                    if is_acms_cookie_name(name):
                        found.append(("acms_cookie_to_services", "cookie " + name))
            if kind == "showdoc" and "authorization" in rec.headers:
                found.append(("authorization_to_showdoc", "Authorization header"))
            if kind == "files":
                for name, _ in rec.cookie_list:
                    found.append(("credential_to_files_host", "cookie " + name))
                if "authorization" in rec.headers:
                    found.append(("credential_to_files_host", "Authorization header"))
            now = self._now()
            seen = set()
            for k, what in found:
                if (k, what) not in seen:
                    seen.add((k, what))
                    self.acms_leaks.append(AcmsLeak(k, rec.host, what, now))

    def _acms_location(self, host, path):
        return "https://%s%s" % (host, path) if self.acms_absolute_locations else path

    def _acms_params(self, h, rec, u, body):
        """Query parameters, and form fields of a POST (which win)."""
        params = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        if h.command == "POST":
            params.update(self._parse_form(rec, body)[1])
        return params

    # ------------------------------------------------------------------ showdoc (SP and pages)

    def _acms_showdoc(self, h, rec, cid, u, body):
        path = u.path.lower()
        if path == ACMS_ACS_PATH.lower():
            self._acms_acs(h, rec, cid, body)
            return
        session, reason = self._acms_session_of(rec, cid)
        if session is not None and self._acms_opt("acms_break", cid) == "loop":
            session, reason = None, "loop"
        rec.logged_in = session is not None
        page = AcmsPage(cid, rec.method, rec.path, session is not None,
                        session.login if session else None, None, self._now())
        with self._lock:
            self.acms_pages.append(page)
        if session is None:
            page.status = self._acms_challenge(h, rec, cid, reason)
            return
        flow = self._acms_opt("acms_flow", cid)
        norm = path.rstrip("/") or "/"
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        ctype = "text/html; charset=utf-8"
        if norm == "/":
            status, text = 200, (self._acms_model_page(session) if flow == "model"
                                 else self._acms_shell_page(session))
        elif norm == ACMS_INDEX_CONTENT_PATH.lower() and flow != "model":
            status, text = 200, self._acms_index_content(session)
            if self.acms_indexcontent_type != "html":
                ctype = "application/json; charset=utf-8"
        elif norm == ACMS_DOCKET_PATH.lower():
            case = q.get("caseId") or q.get("caseNumber") or ""
            if re.fullmatch(r"[A-Za-z0-9:._-]{1,40}", case):
                status, text = 200, self._acms_docket_page(cid, case)
            else:
                status, text = 400, "<html><body><h1>Bad request</h1><p>No such case.</p></body></html>"
        else:
            status, text = 404, "<html><body><h1>404 - Not found</h1></body></html>"
        page.status = status
        h.send(status, text, ctype, headers=[("Cache-Control", "no-cache, no-store")])

    def _acms_challenge(self, h, rec, cid, reason):
        now = self._now()
        authn = _AcmsAuthn("id" + secrets.token_hex(16), cid, _rand(40), self.acms_challenge, now)
        with self._lock:
            self._acms_authn[authn.id] = authn
            self.acms_signins.append(AcmsSignin(cid, rec.method, rec.path, reason, authn.binding,
                                                authn.id, now))
        binding = "POST" if authn.binding == "form" else "Redirect"
        sso = "https://%s%s" % (ACMS_IDP_HOST, ACMS_SSO_POST_PATH if binding == "POST"
                                else ACMS_SSO_REDIRECT_PATH)
        xml = ('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
               'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" Version="2.0" '
               'IssueInstant="%d" Destination="%s" AssertionConsumerServiceURL="%s" '
               'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
               "<saml:Issuer>https://%s/Saml2</saml:Issuer></samlp:AuthnRequest>"
               % (authn.id, int(now), sso, acms_acs_url(cid), acms_showdoc_host(cid))).encode()
        nocache = ("Cache-Control", "no-cache, no-store")
        if binding == "POST":
            saml = base64.b64encode(xml).decode("ascii")
            h.send(200, self._acms_form_page(sso, [("SAMLRequest", saml),
                                                   ("RelayState", authn.relay_state)]),
                   headers=[nocache])
            return 200
        query = urllib.parse.urlencode({"SAMLRequest": base64.b64encode(_deflate(xml)).decode("ascii"),
                                        "RelayState": authn.relay_state})
        h.send(302, "<html><head><title>Object moved</title></head><body><h2>Object moved to "
                    "the identity provider.</h2></body></html>",
               headers=[("Location", "%s?%s" % (sso, query)), nocache])
        return 302

    def _acms_form_page(self, action, fields):
        enc = _shib_attr if self.acms_form_style == "encoded" else (lambda v: html.escape(v, quote=True))
        inputs = "".join('                <input type="hidden" name="%s" value="%s"/>\n'
                         % (enc(k), enc(v)) for k, v in fields)
        return ('<!DOCTYPE html>\n<html>\n    <head>\n        <meta charset="utf-8" />\n'
                "    </head>\n    <body onload=\"document.forms[0].submit()\">\n"
                "        <noscript><p><strong>Note:</strong> Since your browser does not support "
                "JavaScript, you must press the Continue button once to proceed.</p></noscript>\n"
                '        <form action="%s" method="post">\n            <div>\n%s            </div>\n'
                '            <noscript><div><input type="submit" value="Continue"/></div></noscript>\n'
                "        </form>\n    </body>\n</html>\n" % (enc(action), inputs))

    def _acms_model_page(self, s):
        model = {"AuthToken": ({"Token": s.bearer, "TokenType": "Bearer", "ExpiresIn": 3600}
                               if s.bearer else None),
                 "User": {"LoginName": s.login, "CourtId": s.court.upper()},
                 "ApiBaseUrl": "https://%s/api/" % acms_services_host(s.court),
                 "Environment": "sim"}
        return ('<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8" />'
                "<title>ACMS - %s</title></head>\n<body>\n<div id=\"app\"></div>\n"
                '<script type="text/javascript">\n    var model = \'%s\';\n'
                "    window.acmsStart && window.acmsStart(JSON.parse(model));\n</script>\n"
                "</body>\n</html>\n" % (s.court.upper(), _js_json(model)))

    def _acms_shell_page(self, s):
        return ('<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8" />'
                "<title>ACMS - %s</title></head>\n<body>\n<div id=\"content\">Loading...</div>\n"
                '<script type="text/javascript">\n    fetch("%s", {credentials: "same-origin", '
                'headers: {"X-Requested-With": "XMLHttpRequest"}})\n'
                "        .then(function (r) { return r.json(); })\n"
                "        .then(function (d) { window.acmsStart && window.acmsStart(d); });\n"
                "</script>\n</body>\n</html>\n" % (s.court.upper(), ACMS_INDEX_CONTENT_PATH))

    def _acms_index_content(self, s):
        docket = {"courtId": s.court.upper(),
                  "servicesUrl": "https://%s/api/" % acms_services_host(s.court),
                  "recentCases": [{"caseNumber": "25-1001", "title": "Sim Appellant v. Sim Appellee"}]}
        if s.bearer:
            docket["authToken"] = s.bearer
        data = {"isAuthenticated": True,
                "user": {"loginName": s.login, "courtId": s.court.upper()},
                "docketData": docket}
        if self.acms_indexcontent_type == "html":
            return ('<div id="index-content"><h2>Recent cases</h2><ul><li>25-1001</li></ul></div>\n'
                    '<script type="text/javascript">\n    var indexContent = %s;\n</script>\n'
                    % json.dumps(data).replace("</", "<\\/"))
        return json.dumps(data)

    def _acms_entries(self, cid, case):
        entries = []
        with self._lock:
            for n, filed, text, pages in _DOCKET:
                billable, cost = acms_fee(pages)
                doc = "%s-%s-%d" % (cid, re.sub(r"[^A-Za-z0-9-]", "-", case), n)
                sig = _b64url(secrets.token_bytes(24))
                self._acms_file_sigs[sig] = (cid, doc, pages * 1024)
                entries.append({"entryNumber": n, "dateFiled": filed, "description": text,
                                "documentId": doc, "pageCount": pages, "billablePages": billable,
                                "cost": cost,
                                "fileUrl": "https://%s/%s/%s.pdf?sv=2024-08-04&sr=b&sp=r&sig=%s"
                                           % (ACMS_FILES_HOST, cid, doc, sig)})
        return entries

    def _acms_docket_page(self, cid, case):
        rows = "".join('<tr><td class="entry">%d</td><td class="filed">%s</td><td class="text">%s</td>'
                       '<td class="billable-pages">%d</td><td class="cost">$%.2f</td></tr>\n'
                       % (n, filed, html.escape(text), acms_fee(pages)[0], acms_fee(pages)[1])
                       for n, filed, text, pages in _DOCKET)
        return ('<!DOCTYPE html>\n<html><head><title>ACMS - %s - Docket %s</title></head><body>\n'
                '<h1 id="case-number">%s</h1>\n<p class="caption">Sim Appellant v. Sim Appellee</p>\n'
                '<table id="docket">\n<tr><th>No.</th><th>Filed</th><th>Docket text</th>'
                "<th>Billable pages</th><th>Cost</th></tr>\n%s</table>\n</body></html>\n"
                % (cid.upper(), html.escape(case), html.escape(case), rows))

    # ------------------------------------------------------------------ /Saml2/Acs

    def _acms_acs(self, h, rec, cid, body):
        post = AcmsAcsPost(cid, None, "", self._now())
        with self._lock:
            self.acms_acs_posts.append(post)
        if h.command != "POST":
            post.result = "bad_method"
            h.send(405, "<html><body><h1>405 - Method not allowed</h1></body></html>",
                   headers=[("Allow", "POST")])
            return
        _, fields = self._parse_form(rec, body)
        b64 = fields.get("SAMLResponse") or ""
        relay = fields.get("RelayState")
        rid = None
        try:
            xml = base64.b64decode(b64, validate=True).decode("utf-8")
            m = re.search(r'<samlp:Response\b[^>]*\sID="([^"]+)"', xml)
            rid = m.group(1) if m else None
        except ValueError:
            pass
        now = self._now()
        with self._lock:
            a = self._acms_assertions.get(rid) if rid else None
            if not b64:
                result = "missing"
            elif a is None or not secrets.compare_digest(a.b64.encode(), b64.encode()):
                result = "unknown"
            elif a.used:
                result = "replayed"
            elif a.court != cid:
                result = "wrong_court"
            elif relay != a.relay_state:
                result = "bad_relay_state"
            elif now - a.created > self.acms_saml_lifetime:
                result = "expired"
            else:
                a.used = True
                result = "ok"
            if a is not None:
                post.login = a.login
        if result != "ok":
            post.result = result
            h.send(400, "<html><head><title>Error</title></head><body><h1>An error occurred while "
                        "processing your request.</h1><p>The SAML response was not accepted (%s)."
                        "</p></body></html>" % result)
            return
        brk = self._acms_opt("acms_break", cid)
        flow = self._acms_opt("acms_flow", cid)
        s = self._acms_new_session(a, bearer_wanted=brk not in ("no_token", "loop"))
        post.result = {"loop": "loop", "no_token": "no_token"}.get(brk, "ok")
        headers = self._acms_cookie_headers(s) + [("Cache-Control", "no-cache, no-store")]
        if brk == "loop" or flow != "model":
            h.send(302, "<html><head><title>Object moved</title></head><body></body></html>",
                   headers=[("Location", self._acms_location(acms_showdoc_host(cid), "/"))] + headers)
        else:
            h.send(200, self._acms_model_page(s), headers=headers)

    # ------------------------------------------------------------------ the identity provider

    def _acms_idp(self, h, rec, _cid, u, body):
        nextgen = rec.cookies.get("NextGenCSO")
        pacer = self._acms_pacer_session(nextgen)
        hit = AcmsIdpHit(rec.method, rec.path, None, nextgen is not None,
                         pacer.login if pacer else None, "", self._now())
        with self._lock:
            self.acms_idp_hits.append(hit)
        rec.logged_in = pacer is not None
        if u.path in (ACMS_SSO_REDIRECT_PATH, ACMS_SSO_POST_PATH):
            params = self._acms_params(h, rec, u, body)
            authn = self._acms_decode_authn(params.get("SAMLRequest"))
            relay = params.get("RelayState", "")
            if authn is None:
                hit.result = "bad_request"
                h.send(400, "<html><head><title>Web Login Service - Error</title></head><body>"
                            "<h1>Web Login Service - Unsupported Request</h1><p>The application "
                            "you have accessed is not registered for use with this service."
                            "</p></body></html>")
                return
            hit.court = authn.court
            if pacer is None:
                self._acms_to_pacer_login(h, hit, authn, rec)
                return
            if self.acms_idp_extra_hop:
                conv = _AcmsConversation(authn.id, relay, _rand(32), self._now())
                conv_id = _rand(20)
                with self._lock:
                    self._acms_conversations[conv_id] = conv
                hit.result = "hop"
                h.send(302, "", headers=[
                    ("Location", self._acms_location(ACMS_IDP_HOST, "%s?conversation=%s"
                                                     % (ACMS_AUTHN_PATH, conv_id))),
                    ("Set-Cookie", "%s=%s; Path=/idp; Secure; HttpOnly"
                     % (ACMS_IDP_SESSION_COOKIE, conv.jsessionid)),
                    ("Cache-Control", "no-store")])
                return
            self._acms_idp_answer(h, hit, authn, relay, pacer)
            return
        if u.path == ACMS_AUTHN_PATH:
            q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            with self._lock:
                conv = self._acms_conversations.pop(q.get("conversation", [""])[0], None)
                authn = self._acms_authn.get(conv.authn_id) if conv else None
            if authn is None or (self.acms_idp_hop_needs_cookie and
                                 rec.cookies.get(ACMS_IDP_SESSION_COOKIE) != conv.jsessionid):
                hit.result = "stale"
                h.send(400, "<html><head><title>Web Login Service - Stale Request</title></head>"
                            "<body><h1>Web Login Service - Stale Request</h1><p>You may be seeing "
                            "this page because you used the Back button.</p></body></html>")
                return
            hit.court = authn.court
            if pacer is None:
                self._acms_to_pacer_login(h, hit, authn, rec)
                return
            self._acms_idp_answer(h, hit, authn, conv.relay_state, pacer)
            return
        hit.result = "not_found"
        h.send(404, "<html><body><h1>Not Found</h1></body></html>")

    def _acms_decode_authn(self, saml):
        if not saml:
            return None
        try:
            raw = base64.b64decode(saml, validate=True)
        except ValueError:
            return None
        try:
            raw = zlib.decompress(raw, -15)
        except zlib.error:
            pass
        m = re.search(rb'<samlp:AuthnRequest\b[^>]*\sID="([^"]+)"', raw)
        if not m:
            return None
        with self._lock:
            return self._acms_authn.get(m.group(1).decode("ascii", "replace"))

    def _acms_to_pacer_login(self, h, hit, authn, rec):
        hit.result = "pacer_login"
        back = "https://%s%s" % (ACMS_IDP_HOST, rec.path)
        loc = "%s?pscCourtId=%s&appurl=%s" % (_PACER_LOGIN_PAGE, authn.court.upper(),
                                              urllib.parse.quote(back, safe=""))
        h.send(302, "<html><body>Found</body></html>", headers=[("Location", loc)])

    def _acms_idp_answer(self, h, hit, authn, relay, pacer):
        if self._acms_opt("acms_break", authn.court) == "no_form":
            hit.result = "no_form"
            h.send(200, "<html><head><title>Web Login Service</title></head><body>"
                        "<h1>Web Login Service</h1><p>Your request could not be completed at "
                        "this time. Please try again later.</p></body></html>")
            return
        now = self._now()
        rid = "_" + secrets.token_hex(16)
        login = html.escape(pacer.login, quote=True)
        acs = acms_acs_url(authn.court)
        xml = ('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
               'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" InResponseTo="%s" '
               'Version="2.0" IssueInstant="%d" Destination="%s">'
               "<saml:Issuer>https://%s/idp/shibboleth</saml:Issuer>"
               '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
               "</samlp:Status><saml:Assertion ID=\"_%s\"><saml:Subject><saml:NameID>%s</saml:NameID>"
               "</saml:Subject><saml:AttributeStatement>"
               '<saml:Attribute Name="pacerLogin"><saml:AttributeValue>%s</saml:AttributeValue></saml:Attribute>'
               '<saml:Attribute Name="clientCode"><saml:AttributeValue>%s</saml:AttributeValue></saml:Attribute>'
               "</saml:AttributeStatement></saml:Assertion>"
               "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">%s</ds:Signature>"
               "</samlp:Response>"
               % (rid, authn.id, int(now), acs, ACMS_IDP_HOST, secrets.token_hex(16), login, login,
                  html.escape(pacer.client_code, quote=True), _b64url(secrets.token_bytes(48))))
        b64 = base64.b64encode(xml.encode("utf-8")).decode("ascii")
        with self._lock:
            self._acms_assertions[rid] = _AcmsAssertion(rid, authn.court, pacer.login,
                                                        pacer.client_code, pacer.token, relay,
                                                        b64, now)
            self._issued.append(("acms saml response", b64))
        hit.result = "form"
        h.send(200, self._acms_form_page(acs, [("RelayState", relay), ("SAMLResponse", b64)]),
               headers=[("Cache-Control", "no-cache, no-store")])

    # ------------------------------------------------------------------ API and files

    def _acms_services(self, h, rec, cid, u, body):
        auth = rec.headers.get("authorization")
        call = AcmsApiCall(cid, rec.method, rec.path, auth, False, None, None, self._now())
        with self._lock:
            self.acms_api_calls.append(call)

        def answer(status, obj, headers=()):
            call.status = status
            h.send(status, json.dumps(obj), "application/json; charset=utf-8", headers)

        if h.command == "OPTIONS":
            call.status = 204
            h.send(204, b"", None, headers=[
                ("Access-Control-Allow-Origin", "https://" + acms_showdoc_host(cid)),
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
                ("Access-Control-Max-Age", "600")])
            return
        if not u.path.lower().startswith("/api/"):
            answer(404, {"status": 404, "title": "Not Found"})
            return
        m = re.fullmatch(r"Bearer +(\S+)", auth or "", re.IGNORECASE)
        session = None
        if m:
            with self._lock:
                s = self._acms_by_bearer.get(m.group(1))
                if s is not None and s.court == cid and self._acms_alive(s):
                    session = s
        rec.logged_in = call.token_valid = session is not None
        if session is None:
            answer(401, {"status": 401, "title": "Unauthorized"},
                   [("WWW-Authenticate", 'Bearer error="invalid_token"' if m else "Bearer")])
            return
        call.login = session.login
        path = urllib.parse.unquote(u.path)
        d = re.fullmatch(r"/api/dockets/([A-Za-z0-9:._-]{1,40})", path, re.IGNORECASE)
        if d:
            case = d.group(1)
            answer(200, {"caseNumber": case, "courtId": cid.upper(),
                         "caseTitle": "Sim Appellant v. Sim Appellee",
                         "entries": self._acms_entries(cid, case)})
        elif path.lower() == "/api/echo":
            answer(200, {"court": cid, "host": rec.host, "sni": rec.sni, "method": rec.method,
                         "path": rec.path, "headers": rec.headers, "cookies": rec.cookies,
                         "body_length": rec.body_length, "login": session.login})
        else:
            answer(404, {"status": 404, "title": "Not Found"})

    def _acms_files(self, h, rec, _cid, u, body):
        get = AcmsFileGet(rec.method, rec.path, bool(rec.cookie_list),
                          "authorization" in rec.headers, None, self._now())
        with self._lock:
            self.acms_file_gets.append(get)
            sig = urllib.parse.parse_qs(u.query).get("sig", [""])[0]
            f = self._acms_file_sigs.get(sig)
        if f is None or u.path != "/%s/%s.pdf" % (f[0], f[1]) or h.command not in ("GET", "HEAD"):
            get.status = 403
            h.send(403, '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed'
                        "</Code><Message>Server failed to authenticate the request.</Message></Error>",
                   "application/xml")
            return
        get.status = 200
        self._stream(h, f[2], chunked=False)
