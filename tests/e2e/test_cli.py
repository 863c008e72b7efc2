"""End-to-end tests of the admin CLI `courtroute` (CONTRACT §2 and §7) against the real binary.

Each test gets its own temporary config, court registry and state directory. No simulator is
needed: the CLI works on the store and the registry directly. Run with
`COURTROUTE_BIN=<dir with courtroute and courtrouted> COURTROUTE_SRC=<repo> python3 -m unittest -v test_cli`.
"""

import datetime
import json
import os
import pty
import re
import select
import shutil
import subprocess
import tempfile
import termios
import time
import unittest

BIN = os.environ.get("COURTROUTE_BIN", "")
SRC = os.environ.get("COURTROUTE_SRC", "")
COURTROUTE = os.path.join(BIN, "courtroute")
COURTROUTED = os.path.join(BIN, "courtrouted")

# Secrets used by the tests: none of them may ever appear in a CLI's output or in a state file.
PACER_PASSWORD = "Pacer-Pa55word-Xq7!zv"
PACER_PASSWORD_2 = "Second-PACER-pass-88kk"
TOTP_SECRET = "JBSW Y3DP EHPK 3PXP"       # as an authenticator setup page shows it
TOTP_NORMALISED = "JBSWY3DPEHPK3PXP"
ECF_PASSWORD = "ecf-Court-Secret-4411"
ALL_PASSWORDS = (PACER_PASSWORD, PACER_PASSWORD_2, ECF_PASSWORD, TOTP_SECRET, TOTP_NORMALISED)

ONE_ERROR_LINE = re.compile(r"^courtroute: .+ \(.+\)$")


def _court(cid, name, ctype, system, since=None, extra=""):
    text = (f'id = "{cid}"\nname = "{name}"\ntype = "{ctype}"\n'
            f'ecf_url = "https://ecf.{cid}.uscourts.gov"\nsystem = "{system}"\n')
    if since is not None:
        text += f"nextgen_since = {since.isoformat()}\n"
    return text + extra


def _probe_daemon_check():
    """True once `courtrouted --check` is wired (it prints the summary line with 'courts')."""
    if not os.access(COURTROUTED, os.X_OK):
        return False
    tmp = tempfile.mkdtemp(prefix="courtroute-probe-")
    try:
        cfg = os.path.join(tmp, "c.toml")
        with open(cfg, "w") as f:
            f.write(f'[registry]\ndirs = ["{tmp}/none"]\n[state]\ndir = "{tmp}/state"\n')
        r = subprocess.run([COURTROUTED, "--config", cfg, "--check"], capture_output=True, text=True,
                           timeout=20, stdin=subprocess.DEVNULL)
        return "courts" in r.stdout + r.stderr
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class CliTest(unittest.TestCase):
    """A temporary installation: config, four courts, an empty state directory."""

    def setUp(self):
        self.assertTrue(os.access(COURTROUTE, os.X_OK), f"no courtroute binary in COURTROUTE_BIN={BIN!r}")
        self.tmp = tempfile.mkdtemp(prefix="courtroute-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.courts_dir = os.path.join(self.tmp, "courts.d")
        self.state = os.path.join(self.tmp, "state")
        os.mkdir(self.courts_dir)
        today = datetime.date.today()
        self.tomorrow = today + datetime.timedelta(days=1)
        self.write_court("azb", _court("azb", "U.S. Bankruptcy Court for the District of Arizona", "bankruptcy",
                                       "nextgen", datetime.date(2021, 6, 28)))
        self.write_court("nvb", _court("nvb", "U.S. Bankruptcy Court for the District of Nevada", "bankruptcy",
                                       "legacy"))
        self.write_court("ca9", _court("ca9", "U.S. Court of Appeals for the Ninth Circuit", "appellate", "nextgen",
                                       datetime.date(2022, 3, 1), 'extra_hosts = ["ca9-showdoc.azurewebsites.us"]\n'))
        # NextGen from tomorrow on: legacy today.
        self.write_court("mad", _court("mad", "U.S. District Court for the District of Massachusetts", "district",
                                       "nextgen", self.tomorrow))
        self.config = os.path.join(self.tmp, "courtroute.toml")
        with open(self.config, "w") as f:
            f.write(f'[registry]\ndirs = ["{self.courts_dir}"]\n\n[state]\ndir = "{self.state}"\n')

    def write_court(self, name, text):
        path = os.path.join(self.courts_dir, name + ".toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def cli(self, *args, input="", config=True):
        """Runs courtroute; asserts that no password ever shows up in its output."""
        argv = [COURTROUTE] + (["--config", self.config] if config else []) + list(args)
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=30)
        for secret in ALL_PASSWORDS:
            self.assertNotIn(secret, r.stdout, f"secret in stdout of {args}")
            self.assertNotIn(secret, r.stderr, f"secret in stderr of {args}")
        return r

    def ok(self, *args, input=""):
        r = self.cli(*args, input=input)
        self.assertEqual(r.returncode, 0, f"{args}: {r.stderr}")
        return r

    def fails(self, *args, input="", contains=None):
        """Exit 1 with exactly one line on stderr naming what and where."""
        r = self.cli(*args, input=input)
        self.assertEqual(r.returncode, 1, f"{args}: stdout={r.stdout!r} stderr={r.stderr!r}")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"{args}: {r.stderr!r}")
        self.assertRegex(lines[0], ONE_ERROR_LINE)
        if contains:
            self.assertIn(contains, lines[0])
        return r

    def usage(self, *args, input=""):
        r = self.cli(*args, input=input)
        self.assertEqual(r.returncode, 2, f"{args}: stdout={r.stdout!r} stderr={r.stderr!r}")
        self.assertTrue(r.stderr.startswith("courtroute: "), r.stderr)
        self.assertIn("try 'courtroute --help'", r.stderr)
        return r

    def status(self, *extra):
        return json.loads(self.ok("status", "--json", *extra).stdout)

    def user(self, doc, name):
        for u in doc["users"]:
            if u["user"] == name:
                return u
        self.fail(f"user {name} not in status: {doc['users']}")

    def court_entry(self, doc, name, court):
        for c in self.user(doc, name)["courts"]:
            if c["court"] == court:
                return c
        return None

    def warning_codes(self, doc, user=None, court=None):
        return {w["code"] for w in doc["warnings"]
                if (user is None or w["user"] == user) and (court is None or w["court"] == court)}

    def add_user(self, name):
        r = self.ok("user", "add", name)
        return r.stdout.splitlines()[-1]

    def set_pacer(self, user, *flags, password=PACER_PASSWORD, totp=None):
        data = password + "\n" + (totp + "\n" if totp is not None else "")
        return self.cli("pacer", "set", user, "--login", user + "01", *flags, input=data)


class UserTest(CliTest):
    def test_add_list_rotate_remove(self):
        r = self.ok("user", "add", "alice")
        token = r.stdout.splitlines()[-1]
        self.assertRegex(token, r"^\S{16,}$", "the token is alone on the last line")
        self.assertEqual(r.stdout.count(token), 1, "the token is printed once")
        self.assertIn("alice", self.ok("user", "list").stdout)

        self.fails("user", "add", "alice", contains="alice")
        self.fails("user", "add", "bad name!")

        r = self.ok("user", "rotate", "alice")
        new_token = r.stdout.splitlines()[-1]
        self.assertRegex(new_token, r"^\S{16,}$")
        self.assertNotEqual(new_token, token)
        self.fails("user", "rotate", "nobody", contains="nobody")

        self.add_user("bob")
        listed = self.ok("user", "list").stdout
        self.assertIn("alice", listed)
        self.assertIn("bob", listed)
        self.assertNotIn(new_token, listed)

        self.ok("user", "remove", "alice")
        listed = self.ok("user", "list").stdout
        self.assertNotIn("alice", listed)
        self.assertIn("bob", listed)
        r = self.fails("user", "remove", "alice")
        self.assertIn("user 'alice' does not exist", r.stderr)
        self.assertIn(os.path.join(self.state, "courtroute.db"), r.stderr, "the error says where")

    def test_removed_user_loses_credentials(self):
        self.add_user("alice")
        self.assertEqual(self.set_pacer("alice").returncode, 0)
        self.ok("user", "remove", "alice")
        self.add_user("alice")
        self.assertEqual(self.user(self.status(), "alice")["pacer"]["state"], "none")


class PacerTest(CliTest):
    def test_password_set_date_drives_the_180_day_warning(self):
        self.add_user("alice")
        today = datetime.date.today()
        for bad in ("2026-13-01", "yesterday", "2026-1-1", (today + datetime.timedelta(days=2)).isoformat(),
                    "1999-12-31", "2026-02-30"):
            with self.subTest(bad):
                self.usage("pacer", "set", "alice", "--login", "alice01", "--password-set", bad,
                           input=PACER_PASSWORD + "\n")
        r = self.set_pacer("alice", "--password-set", (today - datetime.timedelta(days=170)).isoformat())
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = self.status()
        self.assertIn("pacer_password_age", self.warning_codes(doc, "alice"))
        msg = [w["message"] for w in doc["warnings"] if w["code"] == "pacer_password_age"][0]
        self.assertIn("10 days left", msg)
        # Stored again without the option: set today, no warning.
        self.assertEqual(self.set_pacer("alice").returncode, 0)
        self.assertNotIn("pacer_password_age", self.warning_codes(self.status(), "alice"))

    def test_set_without_totp(self):
        self.add_user("alice")
        doc = self.status()
        self.assertEqual(self.user(doc, "alice")["pacer"]["state"], "none")
        self.assertIsNone(self.user(doc, "alice")["pacer"]["login"])

        r = self.set_pacer("alice")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "", "a 14-45 character password draws no warning")
        pacer = self.user(self.status(), "alice")["pacer"]
        self.assertEqual(pacer["login"], "alice01")
        self.assertEqual(pacer["state"], "active")
        self.assertFalse(pacer["shared"])
        self.assertFalse(pacer["totp"])

    def test_set_with_totp_and_client_code(self):
        self.add_user("alice")
        r = self.set_pacer("alice", "--totp", "--client-code", "matter-17", totp=TOTP_SECRET.lower())
        self.assertEqual(r.returncode, 0, r.stderr)
        pacer = self.user(self.status(), "alice")["pacer"]
        self.assertTrue(pacer["totp"])
        self.assertEqual(pacer["client_code"], "matter-17")

    def test_bad_totp_refused(self):
        self.add_user("alice")
        for bad in ("NOT*BASE32!", "JBSWY3DP18", "A", ""):
            r = self.set_pacer("alice", "--totp", totp=bad)
            self.assertEqual(r.returncode, 1, f"{bad!r}: {r.stderr}")
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            if len(bad) > 3:
                self.assertNotIn(bad, r.stderr, "the bad secret is not echoed")
        # Nothing was stored by the refused attempts.
        self.assertEqual(self.user(self.status(), "alice")["pacer"]["state"], "none")
        # A missing second line is refused too.
        self.assertEqual(self.set_pacer("alice", "--totp").returncode, 1)

    def test_password_problems(self):
        self.add_user("alice")
        self.fails("pacer", "set", "alice", "--login", "a01", input="", contains="no PACER password on standard input")
        self.fails("pacer", "set", "alice", "--login", "a01", input="\n")
        r = self.set_pacer("alice", password="short1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning", r.stderr)
        self.assertNotIn("short1", r.stderr + r.stdout)
        self.fails("pacer", "set", "nobody", "--login", "n01", input=PACER_PASSWORD + "\n", contains="nobody")

    def test_crlf_stripped_and_replace(self):
        self.add_user("alice")
        r = self.cli("pacer", "set", "alice", "--login", "alice01", input=PACER_PASSWORD + "\r\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("pacer", "set", "alice", "--login", "alice02", "--shared", input=PACER_PASSWORD_2 + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = self.status()
        pacer = self.user(doc, "alice")["pacer"]
        self.assertEqual(pacer["login"], "alice02")
        self.assertTrue(pacer["shared"])
        self.assertIn("shared_pacer_account", self.warning_codes(doc, user="alice"))


class EcfAndLinkTest(CliTest):
    def setUp(self):
        super().setUp()
        self.add_user("alice")
        self.assertEqual(self.set_pacer("alice").returncode, 0)

    def ecf_set(self, user, court, password=ECF_PASSWORD):
        return self.cli("ecf", "set", user, court, "--login", user + "-ecf", input=password + "\n")

    def test_ecf_set_at_legacy_court(self):
        r = self.ecf_set("alice", "nvb")
        self.assertEqual(r.returncode, 0, r.stderr)
        entry = self.court_entry(self.status(), "alice", "nvb")
        self.assertEqual(entry, {"court": "nvb", "system": "legacy", "route": "cmecf", "credential": "active"})
        # The court that goes NextGen tomorrow is legacy today.
        self.assertEqual(self.ecf_set("alice", "mad").returncode, 0)
        entry = self.court_entry(self.status(), "alice", "mad")
        self.assertEqual((entry["system"], entry["route"]), ("legacy", "cmecf"))

        self.fails("ecf", "set", "alice", "xxb", "--login", "a", input=ECF_PASSWORD + "\n", contains="xxb")
        self.fails("ecf", "set", "nobody", "nvb", "--login", "a", input=ECF_PASSWORD + "\n", contains="nobody")
        self.fails("ecf", "set", "alice", "nvb", "--login", "a", input="", contains="standard input")

    def test_link_refused_at_legacy_courts(self):
        self.fails("link", "alice", "nvb", contains="legacy")
        self.fails("link", "alice", "mad", contains="legacy")
        self.fails("link", "alice", "nowhere", contains="nowhere")
        self.fails("link", "nobody", "azb", contains="nobody")

    def test_link_refused_for_shared_account(self):
        self.add_user("firm")
        self.assertEqual(self.set_pacer("firm", "--shared").returncode, 0)
        self.fails("link", "firm", "ca9", contains="shared")
        self.assertIsNone(self.court_entry(self.status(), "firm", "ca9"))

    def test_link_lifecycle(self):
        # A CM/ECF login at a NextGen court without a link: routed via PACER, warned as unlinked.
        self.assertEqual(self.ecf_set("alice", "azb").returncode, 0)
        doc = self.status()
        self.assertEqual(self.court_entry(doc, "alice", "azb"),
                         {"court": "azb", "system": "nextgen", "route": "pacer", "linked": False})
        self.assertIn("unlinked_nextgen", self.warning_codes(doc, "alice", "azb"))

        # Verifying needs the running daemon (none runs here): say so, record nothing.
        self.fails("verify", "alice", "azb", contains="start it")
        self.fails("link", "alice", "azb", "--verify", contains="start it")
        r = self.ok("link", "alice", "azb")
        self.assertIn("deleted", r.stdout, "link says that it deleted the CM/ECF login")
        doc = self.status()
        self.assertEqual(self.court_entry(doc, "alice", "azb"),
                         {"court": "azb", "system": "nextgen", "route": "pacer", "linked": True})
        self.assertNotIn("unlinked_nextgen", self.warning_codes(doc, "alice", "azb"))

        self.fails("link", "alice", "azb", contains="already")
        self.fails("ecf", "set", "alice", "azb", "--login", "x", input=ECF_PASSWORD + "\n", contains="link")

        self.ok("unlink", "alice", "azb")
        # The CM/ECF login is gone: with neither link nor login the court drops out of the status.
        self.assertIsNone(self.court_entry(self.status(), "alice", "azb"))
        self.fails("unlink", "alice", "azb", contains="no link")
        self.assertEqual(self.ecf_set("alice", "azb").returncode, 0)
        self.assertEqual(self.court_entry(self.status(), "alice", "azb")["linked"], False)

        # Linking without a stored CM/ECF login works too and says nothing was deleted.
        r = self.ok("link", "alice", "ca9")
        self.assertNotIn("deleted", r.stdout)

    def test_missing_pacer_credential(self):
        self.add_user("carol")
        self.assertEqual(self.ecf_set("carol", "azb").returncode, 0)
        doc = self.status()
        self.assertEqual(self.court_entry(doc, "carol", "azb")["route"], "refuse")
        self.assertIn("missing_pacer_credential", self.warning_codes(doc, "carol", "azb"))


class StatusTest(CliTest):
    def test_json_structure(self):
        self.add_user("alice")
        self.add_user("bob")
        self.assertEqual(self.set_pacer("alice").returncode, 0)
        doc = self.status()
        self.assertEqual(set(doc), {"version", "uptime_s", "registry", "users", "warnings"})
        self.assertEqual(doc["registry"]["courts"], 4)
        self.assertEqual(doc["registry"]["nextgen"], 2)
        self.assertEqual(doc["registry"]["legacy"], 2)
        self.assertEqual(doc["registry"]["errors"], [])
        self.assertEqual(sorted(u["user"] for u in doc["users"]), ["alice", "bob"])
        self.assertEqual(self.user(doc, "alice")["pacer"]["state"], "active")
        self.assertEqual(self.user(doc, "bob")["pacer"]["state"], "none")
        self.assertIn("expires_at", self.user(doc, "alice")["pacer"])
        # The court going NextGen tomorrow is announced.
        soon = [w for w in doc["warnings"] if w["code"] == "nextgen_cutover_soon"]
        self.assertEqual([w["court"] for w in soon], ["mad"])
        for w in doc["warnings"]:
            self.assertEqual(set(w), {"user", "court", "code", "message"})

        only = self.status("--user", "bob")
        self.assertEqual([u["user"] for u in only["users"]], ["bob"])
        self.fails("status", "--user", "nobody", contains="nobody")

        table = self.ok("status").stdout
        self.assertIn("4 courts", table)
        self.assertIn("alice", table)

    def todo(self, *extra):
        """The numbered lines of `courtroute status`'s to-do list, in order."""
        return [line.strip() for line in self.ok("status", *extra).stdout.splitlines()
                if re.match(r"^  \d+\. \[", line)]

    def test_status_reads_as_a_todo_list(self):
        # A new user: no PACER login yet. The table alone would be empty; the list says what to do.
        self.add_user("dana")
        lines = self.todo("--user", "dana")
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^1\. \[blocked\] dana: no PACER login is stored for dana.*"
                                   r"courtroute pacer set dana --login LOGIN")
        # With a PACER login and no link recorded anywhere: the one-time link every NextGen court needs.
        self.assertEqual(self.set_pacer("dana").returncode, 0)
        lines = self.todo("--user", "dana")
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("[cannot file] dana: dana has linked no NextGen court yet (none used yet)", lines[0])
        self.assertTrue(lines[0].endswith("courtroute verify dana COURT"), lines[0])
        # A legacy login with a failed mark, a court moving to NextGen tomorrow, a link recorded
        # (an account with filing rights and no TOTP secret: PACER will ask for a passcode).
        self.assertEqual(self.cli("ecf", "set", "dana", "mad", "--login", "dana_ma", input=PACER_PASSWORD + "\n").returncode, 0)
        self.ok("link", "dana", "azb")
        lines = self.todo("--user", "dana")
        severities = [re.match(r"^\d+\. \[([a-z ]+)\]", l).group(1) for l in lines]
        order = {"blocked": 0, "cannot file": 1, "soon": 2}
        self.assertEqual(severities, sorted(severities, key=order.get), "worst first: %s" % lines)
        self.assertEqual([int(l.split(".")[0]) for l in lines], list(range(1, len(lines) + 1)))
        text = "\n".join(lines)
        self.assertIn("--totp", text)  # MFA, before PACER demands it
        cutover = [l for l in lines if "dana @ mad" in l and "moves to NextGen" in l]
        self.assertEqual(len(cutover), 1, lines)
        self.assertIn("on that date log in at https://ecf.mad.uscourts.gov", cutover[0])
        self.assertTrue(cutover[0].endswith("courtroute link dana mad"), cutover[0])
        self.assertNotIn("has linked no NextGen court", text)
        # Each court row of the table points at its lines of the list; --json is the same report.
        table = self.ok("status", "--user", "dana").stdout
        self.assertRegex(table, r"mad +legacy +cmecf +credential active \(to do \d+\)")
        self.assertRegex(table, r"azb +nextgen +pacer +linked\n")
        doc = self.status("--user", "dana")
        self.assertEqual(len([w for w in doc["warnings"]]), len(lines))
        for w in doc["warnings"]:
            self.assertEqual(set(w), {"user", "court", "code", "message"})

    def test_registry_errors_in_status(self):
        self.write_court("broken", "id = \n")
        doc = self.status()
        self.assertEqual(doc["registry"]["courts"], 4)
        self.assertEqual(len(doc["registry"]["errors"]), 1)
        self.assertIn("registry_error", self.warning_codes(doc))


class CourtsTest(CliTest):
    def rows(self, *args):
        lines = self.ok("courts", *args).stdout.splitlines()
        self.assertEqual(lines[0].split()[:5], ["ID", "TYPE", "SYSTEM", "HOST", "NEXTGEN_SINCE"])
        return {line.split()[0]: line.split() for line in lines[1:]}

    def test_filters(self):
        everything = self.rows()
        self.assertEqual(set(everything), {"azb", "nvb", "ca9", "mad"})
        self.assertEqual(everything["mad"][1:5], ["district", "legacy", "ecf.mad.uscourts.gov",
                                                  self.tomorrow.isoformat()])
        self.assertEqual(everything["azb"][1:5], ["bankruptcy", "nextgen", "ecf.azb.uscourts.gov", "2021-06-28"])
        self.assertEqual(everything["nvb"][4], "-")
        self.assertEqual(set(self.rows("--system", "nextgen")), {"azb", "ca9"})
        self.assertEqual(set(self.rows("--system=legacy")), {"nvb", "mad"})
        self.assertEqual(set(self.rows("--type", "appellate")), {"ca9"})
        self.assertEqual(set(self.rows("--type", "bankruptcy", "--system", "legacy")), {"nvb"})
        self.assertEqual(set(self.rows("--type", "other")), set())
        self.usage("courts", "--system", "modern")
        self.usage("courts", "--type", "supreme")
        self.usage("courts", "--system")


class UsageTest(CliTest):
    def test_usage_errors(self):
        self.usage()
        self.usage("frobnicate")
        self.usage("--verbose", "user", "list")
        self.usage("user")
        self.usage("user", "add")
        self.usage("user", "add", "a", "b")
        self.usage("user", "explode", "a")
        self.usage("pacer", "set", "alice")                      # no --login
        self.usage("ecf", "set", "alice", "--login", "x")        # no COURT
        self.usage("link", "alice")
        self.usage("status", "--json", "--bogus")
        self.usage("check", "extra")
        r = self.cli("--config")
        self.assertEqual(r.returncode, 2)

    def test_help(self):
        for args in (["--help"], ["-h"], ["user", "add", "--help"]):
            r = self.cli(*args, config=False)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn("usage: courtroute", r.stdout)
            for command in ("user add", "pacer set", "ecf set", "link", "unlink", "status", "courts", "ca", "check"):
                self.assertIn(command, r.stdout)

    def test_secrets_never_accepted_from_argv(self):
        self.add_user("alice")
        for args in (["pacer", "set", "alice", "--login", "a01", "--password", PACER_PASSWORD],
                     ["pacer", "set", "alice", "--login", "a01", "--password=" + PACER_PASSWORD],
                     ["pacer", "set", "alice", "--login", "a01", "--totp-secret", TOTP_NORMALISED],
                     ["ecf", "set", "alice", "nvb", "--login", "a", "--password", ECF_PASSWORD],
                     ["pacer", "set", "alice", PACER_PASSWORD, "--login", "a01"]):
            self.usage(*args, input=PACER_PASSWORD + "\n")   # cli() checks the secret is not echoed
        self.assertEqual(self.user(self.status(), "alice")["pacer"]["state"], "none")

    def test_unknown_user_and_config_problems(self):
        self.fails("pacer", "set", "ghost", "--login", "g", input=PACER_PASSWORD + "\n", contains="ghost")
        self.fails("link", "ghost", "azb", contains="ghost")
        self.fails("unlink", "ghost", "azb", contains="ghost")
        # A named config that does not exist.
        r = subprocess.run([COURTROUTE, "--config", os.path.join(self.tmp, "missing.toml"), "user", "list"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.toml", r.stderr)
        # A config with an unknown key: its diagnostic, then exit 1.
        bad = os.path.join(self.tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write(f'[state]\ndir = "{self.tmp}/state2"\ncolour = "blue"\n')
        r = subprocess.run([COURTROUTE, "--config=" + bad, "user", "list"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn(bad + ":3:1: ", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "state2")), "nothing created")


class CheckTest(CliTest):
    def check(self, config):
        return subprocess.run([COURTROUTE, "--config", config, "check"], capture_output=True, text=True, timeout=60)

    @unittest.skipUnless(SRC and os.path.exists(os.path.join(SRC, "config", "local.toml")), "no config/local.toml")
    def test_shipped_config(self):
        r = self.check(os.path.join(SRC, "config", "local.toml"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("205 courts", r.stdout)
        self.assertIn("0 problems", r.stdout)

    def bad_registry(self):
        unknown = self.write_court("zzb", _court("zzb", "Bad", "bankruptcy", "legacy") + "colour = \"red\"\n")
        syntax = self.write_court("yyb", 'id = "yyb"\nname = "Broken\ntype = "district"\n')
        return unknown, syntax

    def test_bad_drop_ins(self):
        r = self.check(self.config)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("4 courts (2 nextgen, 2 legacy), 0 problems", r.stdout)

        unknown, syntax = self.bad_registry()
        r = self.check(self.config)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(unknown + ":6:1: ", r.stdout)
        self.assertRegex(r.stdout, re.escape(syntax) + r":2:\d+: ")
        self.assertIn("4 courts (2 nextgen, 2 legacy), 2 problems", r.stdout)
        # Every problem line, then the summary.
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[-1].startswith("config " + self.config + ": "))

    def test_bad_config(self):
        with open(self.config, "a") as f:
            f.write("[listen]\nproxy = 3128\n")
        r = self.check(self.config)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout, re.escape(self.config) + r":7:\d+: ")
        r = self.check(os.path.join(self.tmp, "absent.toml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("absent.toml:1:1: ", r.stdout)

    @unittest.skipUnless(_probe_daemon_check(), "courtrouted --check not wired yet")
    def test_daemon_check_agrees(self):
        configs = [self.config]
        if SRC and os.path.exists(os.path.join(SRC, "config", "local.toml")):
            configs.append(os.path.join(SRC, "config", "local.toml"))
        for clean in (True, False):
            if not clean:
                self.bad_registry()
            for config in configs:
                cli = self.check(config)
                daemon = subprocess.run([COURTROUTED, "--config", config, "--check"], capture_output=True,
                                        text=True, timeout=60, stdin=subprocess.DEVNULL)
                self.assertEqual(daemon.returncode, cli.returncode, config)
                for line in cli.stdout.splitlines():
                    self.assertIn(line, daemon.stdout + daemon.stderr)


class SecretsTest(CliTest):
    def state_bytes(self):
        """Every file under the state directory, as (path, bytes)."""
        for root, _, files in os.walk(self.state):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    yield path, f.read()

    def test_no_secret_in_files(self):
        token = self.add_user("alice")
        r = self.set_pacer("alice", "--totp", totp=TOTP_SECRET)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli("ecf", "set", "alice", "nvb", "--login", "alice-ecf", input=ECF_PASSWORD + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.ok("status", "--json")
        self.ok("status")
        files = list(self.state_bytes())
        self.assertTrue(any(p.endswith("courtroute.db") for p, _ in files), [p for p, _ in files])
        for path, data in files:
            for secret in ALL_PASSWORDS + (token,):
                self.assertNotIn(secret.encode(), data, f"a secret in {path}")
        # The store is private to its owner.
        self.assertEqual(os.stat(self.state).st_mode & 0o077, 0)

    def test_terminal_prompt_without_echo(self):
        self.add_user("alice")
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        proc = subprocess.Popen([COURTROUTE, "--config", self.config, "pacer", "set", "alice", "--login",
                                 "alice01"], stdin=slave, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""

        def read_until(pred, timeout=10):
            nonlocal seen
            deadline = time.monotonic() + timeout
            while not pred() and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        return
                    if not chunk:
                        return
                    seen += chunk

        read_until(lambda: b"PACER password for alice01: " in seen)
        self.assertIn(b"PACER password for alice01: ", seen)
        self.assertFalse(termios.tcgetattr(master)[3] & termios.ECHO, "echo is off while the password is typed")
        os.write(master, PACER_PASSWORD.encode() + b"\n")
        out, _ = proc.communicate(timeout=20)
        read_until(lambda: False, timeout=0.5)
        self.assertEqual(proc.returncode, 0, seen)
        self.assertNotIn(PACER_PASSWORD.encode(), seen, "the password was echoed")
        self.assertNotIn(PACER_PASSWORD.encode(), out)
        self.assertIn(b"stored PACER login alice01", out)
        self.assertEqual(self.user(self.status(), "alice")["pacer"]["state"], "active")


class CaTest(CliTest):
    def test_ca_path(self):
        r = self.ok("ca")
        path = r.stdout.strip()
        self.assertEqual(len(r.stdout.splitlines()), 1)
        self.assertTrue(path.startswith(self.state), path)
        with open(path) as f:
            self.assertIn("BEGIN CERTIFICATE", f.read())
        self.assertEqual(self.ok("ca").stdout.strip(), path, "the same CA on the second call")


if __name__ == "__main__":
    unittest.main()
