#include "cli/ca_trust.hpp"

#include "core/text.hpp"
#include "store/crypto.hpp"
#include "tls/local_ca.hpp"

#include <boost/json.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace courtroute::cli {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view nickname_prefix = "courtroute local CA";
constexpr std::string_view certutil_package = "libnss3-tools";

// ------------------------------------------------------------------------------ processes

/// A user to run `certutil` as.
struct account {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    fs::path home;
};

struct run_result {
    int status = -1;  ///< exit status, or -1 when it did not exit normally
    std::string out;  ///< standard output
    std::string err;  ///< standard error
};

/// `name` resolved on PATH (or as given when it contains a '/'); empty when not executable.
fs::path find_program(const std::string& name) {
    if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? fs::path(name) : fs::path();
    const char* path = std::getenv("PATH");
    std::string_view dirs = path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    while (true) {
        const auto colon = dirs.find(':');
        const std::string dir(dirs.substr(0, colon));
        const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (colon == std::string_view::npos) break;
        dirs.remove_prefix(colon + 1);
    }
    return {};
}

/// Runs `program` with `args` (no shell), feeding `input` on its standard input and collecting
/// its output. With `as` and a root caller, the child drops to that user (groups, gid, uid)
/// before exec, with HOME set to the user's home: root never opens a user's files.
run_result run_program(const fs::path& program, const std::vector<std::string>& args, std::string_view input,
                       const account* as = nullptr) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw trust_error(std::string("cannot create a pipe: ") + std::strerror(errno), program.string());
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
        throw trust_error(std::string("cannot create a pipe: ") + std::strerror(errno), program.string());
    std::vector<std::string> argv_store{program.filename().string()};
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);

    // A child that exits without reading its input must not kill us with SIGPIPE.
    struct sigaction ignore {}, previous {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, &previous);

    const pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        ::sigaction(SIGPIPE, &previous, nullptr);
        throw trust_error(std::string("cannot start a process: ") + std::strerror(err), program.string());
    }
    if (pid == 0) {
        // The child: only async-signal-safe calls matter in a multi-threaded parent; the CLI
        // is single-threaded, so setenv is fine here.
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        ::sigaction(SIGPIPE, &dfl, nullptr);
        if (as) {
            if (::geteuid() == 0 && as->uid != 0) {
                if (::initgroups(as->name.c_str(), as->gid) != 0 || ::setgid(as->gid) != 0 ||
                    ::setuid(as->uid) != 0 || ::setuid(0) == 0) {
                    static constexpr char msg[] = "cannot switch to the database's owner\n";
                    [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
                    ::_exit(126);
                }
            }
            ::setenv("HOME", as->home.c_str(), 1);
        }
        ::execv(program.c_str(), argv.data());
        static constexpr char msg[] = "cannot execute\n";
        [[maybe_unused]] auto n = ::write(2, msg, sizeof msg - 1);
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);

    run_result r;
    int in_fd = in_pipe[1];
    std::size_t written = 0;
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    int fds[2] = {out_pipe[0], err_pipe[0]};
    std::string* sinks[2] = {&r.out, &r.err};
    while (fds[0] >= 0 || fds[1] >= 0 || in_fd >= 0) {
        pollfd p[3];
        nfds_t n = 0;
        int which[3];
        for (int i = 0; i < 2; ++i)
            if (fds[i] >= 0) {
                p[n] = {fds[i], POLLIN, 0};
                which[n++] = i;
            }
        if (in_fd >= 0) {
            p[n] = {in_fd, POLLOUT, 0};
            which[n++] = 2;
        }
        if (::poll(p, n, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (nfds_t k = 0; k < n; ++k) {
            if (!p[k].revents) continue;
            if (which[k] == 2) {
                ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
                if (w > 0) written += static_cast<std::size_t>(w);
                if (w < 0 || written == input.size()) {
                    ::close(in_fd);
                    in_fd = -1;
                }
                continue;
            }
            const int i = which[k];
            char buf[4096];
            ssize_t got = ::read(fds[i], buf, sizeof buf);
            if (got > 0) {
                if (sinks[i]->size() < (1u << 20)) sinks[i]->append(buf, static_cast<std::size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                ::close(fds[i]);
                fds[i] = -1;
            }
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ::sigaction(SIGPIPE, &previous, nullptr);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

/// The first line of a child's error output, for a one-line message.
std::string first_line(const std::string& text) {
    std::string t(trim(text));
    auto nl = t.find('\n');
    if (nl != std::string::npos) t.resize(nl);
    return t.empty() ? "no message" : t;
}

// ---------------------------------------------------------------------------- certificates

struct bio_free {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};

/// SHA-256 (hex) of the DER of each certificate in `pem`.
std::vector<std::string> pem_fingerprints(std::string_view pem) {
    std::vector<std::string> out;
    std::unique_ptr<BIO, bio_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return out;
    while (X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        tls::x509_ptr cert(raw);
        unsigned char* der = nullptr;
        const int len = i2d_X509(cert.get(), &der);
        if (len > 0) {
            out.push_back(hex_encode(sha256(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)))));
            OPENSSL_free(der);
        }
    }
    ERR_clear_error(); // the loop ends on "no start line"
    return out;
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Writes `data` to `path` (mode `mode`) through a temporary file and a rename.
void write_atomically(const fs::path& path, std::string_view data, mode_t mode) {
    const fs::path tmp = path.string() + ".tmp";
    ::unlink(tmp.c_str());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        const int err = errno;
        std::string hint = err == EACCES || err == EPERM || err == EROFS ? "; run as root (sudo courtroute ca --install)" : "";
        throw trust_error("cannot write " + path.string() + ": " + std::strerror(err) + hint, path.string());
    }
    bool ok = ::fchmod(fd, mode) == 0;
    std::size_t done = 0;
    while (ok && done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) ok = false;
        else done += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    const int err = errno;
    ok = (::close(fd) == 0) && ok;
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = ok ? errno : err;
        ::unlink(tmp.c_str());
        throw trust_error("cannot write " + path.string() + ": " + std::strerror(e), path.string());
    }
}

// ------------------------------------------------------------------------------- manifest

/// One place where courtroute put the CA.
struct entry {
    std::string kind;     ///< "system" or "nss"
    std::string path;     ///< the .crt file, or the NSS database directory
    std::string sha256;   ///< hex SHA-256 of the DER of the certificate that was added
    std::string user;     ///< nss: whose database
    std::string browser;  ///< nss: "Chromium" or "Firefox"
    std::string nickname; ///< nss: the nickname it was added under

    [[nodiscard]] bool same_place(const entry& o) const {
        return kind == o.kind && path == o.path && nickname == o.nickname;
    }
    [[nodiscard]] std::string describe() const {
        if (kind == "system") return "the system store (" + path + ")";
        return user + "'s " + browser + " NSS database " + path + " as \"" + nickname + "\"";
    }
};

std::vector<entry> load_manifest(const fs::path& file) {
    std::vector<entry> out;
    std::error_code ec;
    if (!fs::exists(file, ec)) return out;
    json::value v;
    try {
        v = json::parse(read_text(file));
    } catch (const std::exception&) {
        throw trust_error("the trust manifest " + file.string() + " is not valid JSON; fix or remove it", file.string());
    }
    const auto* root = v.if_object();
    const auto* list = root ? root->if_contains("entries") : nullptr;
    if (!list || !list->is_array())
        throw trust_error("the trust manifest " + file.string() + " has no \"entries\" list", file.string());
    for (const auto& item : list->get_array()) {
        const auto* o = item.if_object();
        if (!o) continue;
        auto str = [&](const char* k) {
            const auto* x = o->if_contains(k);
            return x && x->is_string() ? std::string(x->get_string()) : std::string();
        };
        entry e{str("kind"), str("path"), str("sha256"), str("user"), str("browser"), str("nickname")};
        if ((e.kind == "system" || e.kind == "nss") && !e.path.empty()) out.push_back(std::move(e));
    }
    return out;
}

void save_manifest(const fs::path& file, const std::vector<entry>& entries) {
    if (entries.empty()) {
        if (::unlink(file.c_str()) != 0 && errno != ENOENT)
            throw trust_error("cannot remove " + file.string() + ": " + std::strerror(errno), file.string());
        return;
    }
    json::array list;
    for (const auto& e : entries) {
        json::object o{{"kind", e.kind}, {"path", e.path}, {"sha256", e.sha256}};
        if (e.kind == "nss") {
            o["user"] = e.user;
            o["browser"] = e.browser;
            o["nickname"] = e.nickname;
        }
        list.push_back(std::move(o));
    }
    json::object root{{"comment", "what `courtroute ca --install` added; `courtroute ca --uninstall` removes exactly these"},
                      {"version", 1},
                      {"entries", std::move(list)}};
    write_atomically(file, json::serialize(root) + "\n", 0644);
}

void remember(std::vector<entry>& entries, const entry& e) {
    auto it = std::find_if(entries.begin(), entries.end(), [&](const entry& x) { return x.same_place(e); });
    if (it == entries.end()) entries.push_back(e);
    else *it = e;
}

// ------------------------------------------------------------------------------ NSS, users

/// An 8-hex-digit id for this installation: the same for every run on one state directory.
std::string installation_id(const fs::path& state_dir) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(state_dir, ec);
    if (ec) canonical = fs::absolute(state_dir);
    return hex_encode(sha256(canonical.string())).substr(0, 8);
}

account lookup_account(const std::string& name, const trust_targets& targets) {
    const passwd* pw = ::getpwnam(name.c_str());
    if (!pw) throw trust_error("no such user '" + name + "'", "--user " + name);
    account a{name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? fs::path(pw->pw_dir) : fs::path()};
    if (!targets.home_base.empty()) a.home = targets.home_base / name;
    return a;
}

/// The account to run certutil as for a recorded entry (the current user when it is gone).
std::optional<account> entry_account(const entry& e, const trust_targets& targets) {
    try {
        return lookup_account(e.user, targets);
    } catch (const trust_error&) {
        return std::nullopt;
    }
}

struct nss_db {
    std::string browser;
    fs::path dir;
};

/// The user's existing NSS databases in the SQL format (cert9.db), sorted.
std::vector<nss_db> find_nss_dbs(const fs::path& home) {
    std::vector<nss_db> out;
    std::error_code ec;
    const fs::path chromium = home / ".pki" / "nssdb";
    if (fs::is_regular_file(chromium / "cert9.db", ec)) out.push_back({"Chromium", chromium});
    const fs::path firefox = home / ".mozilla" / "firefox";
    std::vector<fs::path> profiles;
    for (fs::directory_iterator it(firefox, ec), end; !ec && it != end; it.increment(ec))
        if (fs::is_regular_file(it->path() / "cert9.db", ec)) profiles.push_back(it->path());
    std::sort(profiles.begin(), profiles.end());
    for (auto& p : profiles) out.push_back({"Firefox", p});
    return out;
}

class certutil {
public:
    explicit certutil(fs::path program) : program_(std::move(program)) {}

    /// Fingerprints of the certificates stored under `nickname` (empty when there is none).
    [[nodiscard]] std::vector<std::string> fingerprints(const fs::path& db, const std::string& nickname,
                                                        const account* as) const {
        auto r = run_program(program_, {"-L", "-d", "sql:" + db.string(), "-n", nickname, "-a"}, {}, as);
        return r.status == 0 ? pem_fingerprints(r.out) : std::vector<std::string>{};
    }
    void add(const fs::path& db, const std::string& nickname, const std::string& pem, const account* as) const {
        auto r = run_program(program_, {"-A", "-d", "sql:" + db.string(), "-n", nickname, "-t", "C,,", "-a"}, pem, as);
        if (r.status != 0)
            throw trust_error("certutil could not add the CA to " + db.string() + ": " + first_line(r.err), db.string());
    }
    void remove(const fs::path& db, const std::string& nickname, const account* as) const {
        auto r = run_program(program_, {"-D", "-d", "sql:" + db.string(), "-n", nickname}, {}, as);
        if (r.status != 0)
            throw trust_error("certutil could not remove \"" + nickname + "\" from " + db.string() + ": " +
                                  first_line(r.err),
                              db.string());
    }

private:
    fs::path program_;
};

certutil require_certutil(const std::string& where) {
    fs::path p = find_program("certutil");
    if (p.empty())
        throw trust_error("certutil not found on PATH; install Debian's " + std::string(certutil_package) +
                              " (apt install " + std::string(certutil_package) + ") to change NSS databases",
                          where);
    return certutil(std::move(p));
}

fs::path require_update(const trust_targets& targets) {
    fs::path p = find_program(targets.update_command);
    if (p.empty())
        throw trust_error(targets.update_command + " not found; install Debian's ca-certificates",
                          targets.system_dir.string());
    return p;
}

void run_update(const fs::path& program, std::ostream& out) {
    auto r = run_program(program, {}, {});
    if (r.status != 0)
        throw trust_error(program.filename().string() + " failed: " + first_line(r.err + r.out), program.string());
    // Its summary ("1 added, 0 removed; done.") says what changed in /etc/ssl/certs.
    std::string summary;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        if (line.find("added") != std::string::npos && line.find("removed") != std::string::npos) summary = line;
    out << "ran " << program.filename().string() << (summary.empty() ? "" : ": " + summary) << '\n';
}

/// What became of one recorded entry on removal.
enum class removal {
    removed, ///< taken out
    gone,    ///< no longer there: nothing to do
    changed, ///< now holds something else: left alone
};

removal remove_entry(const entry& e, const trust_targets& targets, const std::optional<certutil>& tool,
                     std::ostream& out) {
    if (e.kind == "system") {
        std::error_code ec;
        if (!fs::exists(e.path, ec)) {
            out << "already gone: " << e.path << '\n';
            return removal::gone;
        }
        const auto fps = pem_fingerprints(read_text(e.path));
        if (fps.size() != 1 || fps[0] != e.sha256) {
            out << "left " << e.path << ": it no longer holds the certificate courtroute added\n";
            return removal::changed;
        }
        if (::unlink(e.path.c_str()) != 0) {
            const int err = errno;
            throw trust_error("cannot remove " + e.path + ": " + std::strerror(err) +
                                  (err == EACCES || err == EPERM ? "; run as root" : ""),
                              e.path);
        }
        out << "removed " << e.path << '\n';
        return removal::removed;
    }
    const auto who = entry_account(e, targets);
    const account* as = who ? &*who : nullptr;
    const auto fps = tool->fingerprints(e.path, e.nickname, as);
    if (fps.empty()) {
        out << "already gone: \"" << e.nickname << "\" from " << e.user << "'s " << e.browser << " NSS database "
            << e.path << '\n';
        return removal::gone;
    }
    if (std::find(fps.begin(), fps.end(), e.sha256) == fps.end()) {
        out << "left \"" << e.nickname << "\" in " << e.path << ": it names another certificate now\n";
        return removal::changed;
    }
    tool->remove(e.path, e.nickname, as);
    out << "removed \"" << e.nickname << "\" from " << e.user << "'s " << e.browser << " NSS database " << e.path
        << '\n';
    return removal::removed;
}

/// Removes every manifest entry `take(entry)` selects, saving the manifest after each step so an
/// interruption loses nothing; an entry that fails stays listed and its reason goes to
/// `failures`. `label` prefixes each entry's line. Returns whether the system store changed.
template <class Take>
bool remove_entries(std::vector<entry>& manifest, const fs::path& manifest_file, const trust_targets& targets,
                    const std::optional<certutil>& tool, std::ostream& out, std::string_view label, Take take,
                    std::vector<std::string>& failures) {
    bool system_changed = false;
    for (auto it = manifest.begin(); it != manifest.end();) {
        if (!take(*it)) {
            ++it;
            continue;
        }
        try {
            out << label;
            if (remove_entry(*it, targets, tool, out) == removal::removed && it->kind == "system") system_changed = true;
            it = manifest.erase(it);
        } catch (const trust_error& e) {
            failures.push_back(e.what());
            ++it;
        }
        save_manifest(manifest_file, manifest);
    }
    return system_changed;
}

} // namespace

trust_targets trust_targets::from_environment() {
    trust_targets t;
    if (const char* v = std::getenv("COURTROUTE_CA_STORE_DIR"); v && *v) t.system_dir = v;
    if (const char* v = std::getenv("COURTROUTE_UPDATE_CA_CERTIFICATES"); v && *v) t.update_command = v;
    if (const char* v = std::getenv("COURTROUTE_CA_HOME_BASE"); v && *v) t.home_base = v;
    return t;
}

fs::path trust_manifest_path(const fs::path& state_dir) { return tls::ca_paths(state_dir).dir / "trust.json"; }

std::vector<std::string> installed_trust(const fs::path& state_dir) {
    std::vector<std::string> out;
    for (const auto& e : load_manifest(trust_manifest_path(state_dir))) out.push_back(e.describe());
    return out;
}

void install_ca_trust(const fs::path& state_dir, const fs::path& cert_file, const std::vector<std::string>& users,
                      const trust_targets& targets, std::ostream& out) {
    const tls::x509_ptr cert = tls::local_ca::read_certificate(cert_file);
    const tls::ca_constraints nc = tls::constraints_of(cert.get());
    if (!nc.present || !nc.critical || nc.permitted_dns.empty() || !nc.excludes_all_ip)
        throw trust_error("the local CA is unconstrained (made by an older courtroute): trusting it would let it "
                          "vouch for any site; run `courtroute ca --rotate` first",
                          cert_file.string());
    std::string pem;
    {
        std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
        if (!bio || !PEM_write_bio_X509(bio.get(), cert.get())) throw trust_error("cannot encode the CA", cert_file.string());
        char* data = nullptr;
        long len = BIO_get_mem_data(bio.get(), &data);
        pem.assign(data, static_cast<std::size_t>(len));
    }
    const std::string sha = pem_fingerprints(pem).at(0);
    const std::string id = installation_id(state_dir);
    const fs::path manifest_file = trust_manifest_path(state_dir);
    const fs::path system_file = targets.system_dir / ("courtroute-" + id + ".crt");
    const std::string nickname = std::string(nickname_prefix) + " (" + id + ")";

    // Everything that can be known up front is checked before anything changes.
    std::vector<entry> manifest = load_manifest(manifest_file);
    // After a rotation, the users whose databases held the old CA get the new one too.
    std::vector<std::string> names = users;
    for (const auto& e : manifest)
        if (e.kind == "nss" && e.sha256 != sha && ::getpwnam(e.user.c_str()) &&
            std::find(names.begin(), names.end(), e.user) == names.end())
            names.push_back(e.user);
    std::vector<std::pair<account, std::vector<nss_db>>> plan;
    for (const auto& name : names) {
        account a = lookup_account(name, targets);
        auto dbs = find_nss_dbs(a.home);
        plan.emplace_back(std::move(a), std::move(dbs));
    }
    const bool any_db = std::any_of(plan.begin(), plan.end(), [](const auto& p) { return !p.second.empty(); });
    const bool stale_nss = std::any_of(manifest.begin(), manifest.end(),
                                       [&](const entry& e) { return e.kind == "nss" && e.sha256 != sha; });
    std::optional<certutil> tool;
    if (any_db || stale_nss) {
        std::string where = "NSS databases of";
        for (const auto& [who, dbs] : plan)
            if (!dbs.empty()) where += " " + who.name;
        tool = require_certutil(any_db ? where : manifest_file.string());
    }
    const fs::path update = require_update(targets);
    std::error_code ec;
    if (!fs::is_directory(targets.system_dir, ec))
        throw trust_error("the system store directory " + targets.system_dir.string() + " does not exist",
                          targets.system_dir.string());

    std::vector<std::string> failures;

    // 1. A certificate installed before a rotation is taken out first: it is no longer ours to
    // trust, and its NSS nickname would clash.
    bool system_changed = remove_entries(manifest, manifest_file, targets, tool, out, "the CA installed before a rotation: ",
                                         [&](const entry& e) { return e.sha256 != sha; }, failures);

    // 2. The system store.
    entry sys{"system", system_file.string(), sha, "", "", ""};
    const auto present = fs::exists(system_file, ec) ? pem_fingerprints(read_text(system_file)) : std::vector<std::string>{};
    if (present.size() == 1 && present[0] == sha) {
        out << "unchanged: " << system_file.string() << " already holds this CA\n";
    } else {
        write_atomically(system_file, pem, 0644);
        out << "added " << system_file.string() << '\n';
        system_changed = true;
    }
    remember(manifest, sys);
    save_manifest(manifest_file, manifest);
    if (system_changed) run_update(update, out);

    // 3. Each named user's NSS databases, as that user.
    for (const auto& [who, dbs] : plan) {
        if (dbs.empty()) {
            out << "no NSS database for " << who.name << " under " << who.home.string()
                << " (Chromium makes ~/.pki/nssdb and Firefox a profile on first start; run this again then)\n";
            continue;
        }
        for (const auto& db : dbs) {
            entry e{"nss", db.dir.string(), sha, who.name, db.browser, nickname};
            try {
                const auto fps = tool->fingerprints(db.dir, nickname, &who);
                if (std::find(fps.begin(), fps.end(), sha) != fps.end()) {
                    out << "unchanged: " << who.name << "'s " << db.browser << " NSS database " << db.dir.string()
                        << " already trusts this CA\n";
                } else if (!fps.empty()) {
                    throw trust_error("the nickname \"" + nickname + "\" in " + db.dir.string() +
                                          " names another certificate; left alone",
                                      db.dir.string());
                } else {
                    tool->add(db.dir, nickname, pem, &who);
                    out << "added \"" << nickname << "\" to " << who.name << "'s " << db.browser << " NSS database "
                        << db.dir.string() << '\n';
                }
                remember(manifest, e);
                save_manifest(manifest_file, manifest);
            } catch (const trust_error& err) {
                failures.push_back(err.what());
            }
        }
    }
    out << "recorded in " << manifest_file.string() << "; `courtroute ca --uninstall` removes exactly these\n";
    if (!failures.empty()) {
        std::string all;
        for (const auto& f : failures) all += (all.empty() ? "" : "; ") + f;
        throw trust_error(all, manifest_file.string());
    }
}

void uninstall_ca_trust(const fs::path& state_dir, const trust_targets& targets, std::ostream& out) {
    const fs::path manifest_file = trust_manifest_path(state_dir);
    std::vector<entry> manifest = load_manifest(manifest_file);
    if (manifest.empty()) {
        out << "nothing to remove: " << manifest_file.string() << " lists no trust added by courtroute\n";
        return;
    }
    const bool any_nss = std::any_of(manifest.begin(), manifest.end(), [](const entry& e) { return e.kind == "nss"; });
    const bool any_system =
        std::any_of(manifest.begin(), manifest.end(), [](const entry& e) { return e.kind == "system"; });
    std::optional<certutil> tool;
    if (any_nss) tool = require_certutil(manifest_file.string());
    fs::path update;
    if (any_system) update = require_update(targets);

    std::vector<std::string> failures;
    const bool system_changed =
        remove_entries(manifest, manifest_file, targets, tool, out, "", [](const entry&) { return true; }, failures);
    if (system_changed) run_update(update, out);
    if (!failures.empty()) {
        std::string all;
        for (const auto& f : failures) all += (all.empty() ? "" : "; ") + f;
        throw trust_error(all + " (still listed in the manifest)", manifest_file.string());
    }
    out << "removed " << manifest_file.string() << '\n';
}

} // namespace courtroute::cli
