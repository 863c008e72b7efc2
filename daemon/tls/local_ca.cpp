#include "tls/local_ca.hpp"

#include "core/text.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace courtroute::tls {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::system_clock;

constexpr std::string_view ca_common_name = "courtroute local CA";
constexpr std::string_view organization = "courtroute";
constexpr auto ca_lifetime = std::chrono::hours{24 * 3650};
// The CA is back-dated a day: it is created once and must be accepted at once by clients whose
// clocks lag behind this machine's.
constexpr auto ca_backdate = std::chrono::hours{24};

struct bio_deleter {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;
struct bn_deleter {
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_deleter>;
struct ext_deleter {
    void operator()(X509_EXTENSION* p) const noexcept { X509_EXTENSION_free(p); }
};
using ext_ptr = std::unique_ptr<X509_EXTENSION, ext_deleter>;
struct name_deleter {
    void operator()(X509_NAME* p) const noexcept { X509_NAME_free(p); }
};
using name_ptr = std::unique_ptr<X509_NAME, name_deleter>;
struct general_names_deleter {
    void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
using general_names_ptr = std::unique_ptr<GENERAL_NAMES, general_names_deleter>;
struct general_name_deleter {
    void operator()(GENERAL_NAME* p) const noexcept { GENERAL_NAME_free(p); }
};
using general_name_ptr = std::unique_ptr<GENERAL_NAME, general_name_deleter>;
struct octet_string_deleter {
    void operator()(ASN1_OCTET_STRING* p) const noexcept { ASN1_OCTET_STRING_free(p); }
};
using octet_string_ptr = std::unique_ptr<ASN1_OCTET_STRING, octet_string_deleter>;
struct ia5_deleter {
    void operator()(ASN1_IA5STRING* p) const noexcept { ASN1_IA5STRING_free(p); }
};
using ia5_ptr = std::unique_ptr<ASN1_IA5STRING, ia5_deleter>;
struct name_constraints_deleter {
    void operator()(NAME_CONSTRAINTS* p) const noexcept { NAME_CONSTRAINTS_free(p); }
};
using name_constraints_ptr = std::unique_ptr<NAME_CONSTRAINTS, name_constraints_deleter>;
struct subtree_deleter {
    void operator()(GENERAL_SUBTREE* p) const noexcept { GENERAL_SUBTREE_free(p); }
};
using subtree_ptr = std::unique_ptr<GENERAL_SUBTREE, subtree_deleter>;

/// Closes a POSIX file descriptor.
class unique_fd {
public:
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const noexcept { return fd_; }
    /// Closes now and reports the error (close can report a failed deferred write).
    int close() noexcept {
        int rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }

private:
    int fd_;
};

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + openssl_errors()); }

[[noreturn]] void fail_errno(const std::string& what, int err) {
    ERR_clear_error();
    throw std::runtime_error(what + ": " + std::strerror(err));
}

pkey_ptr generate_p256() {
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!key) fail("cannot generate an ECDSA P-256 key");
    return key;
}

std::time_t to_time_t(clock::time_point t) { return clock::to_time_t(t); }

void set_validity(X509* cert, clock::time_point not_before, clock::time_point not_after) {
    if (!ASN1_TIME_set(X509_getm_notBefore(cert), to_time_t(not_before)) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), to_time_t(not_after)))
        fail("cannot set certificate validity");
}

void set_random_serial(X509* cert) {
    // 128 random bits, top bit clear so the DER INTEGER stays positive without a pad byte
    // (CAs/Browser Forum asks for at least 64 bits of entropy; two installs never collide).
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) fail("cannot draw a random serial");
    bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
    bn_ptr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
    if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert))) fail("cannot set a serial number");
}

void add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
    if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0))
        fail(std::string("cannot set subject ") + field);
}

/// Adds an extension from OpenSSL's config syntax. Only fixed strings reach here: anything
/// derived from a host name goes through `add_subject_alt_name`, so a hostile host cannot
/// smuggle extra config clauses (e.g. ",DNS:*").
void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || !X509_add_ext(cert, ext.get(), -1)) fail(std::string("cannot add extension ") + OBJ_nid2sn(nid));
}

std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 80)) out += (c > 0x20 && c < 0x7f) ? c : '?';
    if (s.size() > 80) out += "...";
    return out;
}

bool valid_dns_name(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    std::size_t label = 0;
    for (char c : h) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label > 63) return false;
    }
    return label != 0;
}

/// True for an IPv4 or IPv6 literal (brackets already removed).
bool is_ip_literal(const std::string& host) {
    if (host.empty() || host.find_first_not_of("0123456789abcdef.:") != std::string::npos) return false;
    octet_string_ptr ip(a2i_IPADDRESS(host.c_str()));
    ERR_clear_error(); // a failed parse is the expected answer for DNS names
    return ip != nullptr;
}

/// Lower-cases `host` and strips IPv6 brackets.
std::string normalise_host(std::string_view host_in) {
    std::string host = to_lower(host_in);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return host;
}

/// RFC 5280 DNS subtree matching, as OpenSSL's nc_dns and NSS do it: `base` matches itself and
/// every name with more labels on the left; a leading '.' means subdomains only; an empty
/// base matches everything. Both sides are lower-case.
bool dns_within(std::string_view host, std::string_view base) {
    if (base.empty()) return true;
    if (base.front() == '.') return host.size() > base.size() && host.ends_with(base);
    if (host == base) return true;
    return host.size() > base.size() && host.ends_with(base) && host[host.size() - base.size() - 1] == '.';
}

/// A DNS GENERAL_NAME for `name`.
general_name_ptr dns_general_name(std::string_view name) {
    general_name_ptr gn(GENERAL_NAME_new());
    ia5_ptr dns(ASN1_IA5STRING_new());
    if (!gn || !dns || !ASN1_STRING_set(dns.get(), name.data(), static_cast<int>(name.size())))
        fail("cannot encode a DNS name");
    GENERAL_NAME_set0_value(gn.get(), GEN_DNS, dns.release());
    return gn;
}

void add_subject_alt_name(X509* cert, std::string_view host) {
    general_names_ptr names(sk_GENERAL_NAME_new_null());
    if (!names) fail("out of memory building subjectAltName");
    general_name_ptr name = dns_general_name(host);
    if (!sk_GENERAL_NAME_push(names.get(), name.get())) fail("out of memory building subjectAltName");
    name.release(); // now owned by names
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1)
        fail("cannot add subjectAltName");
}

/// Appends a subtree with `base` to `subtrees` (which takes ownership).
void push_subtree(STACK_OF(GENERAL_SUBTREE)* subtrees, general_name_ptr base) {
    subtree_ptr st(GENERAL_SUBTREE_new());
    if (!st) fail("out of memory building nameConstraints");
    GENERAL_NAME_free(st->base);
    st->base = base.release();
    if (!sk_GENERAL_SUBTREE_push(subtrees, st.get())) fail("out of memory building nameConstraints");
    st.release();
}

/// Adds a critical nameConstraints extension: `permitted` DNS subtrees, every IPv4 and IPv6
/// address excluded. Built from structures, not OpenSSL's config syntax, so no name can smuggle
/// in another clause. Without the IP exclusions IP SANs would be unconstrained: RFC 5280
/// constrains a name type only when a subtree of that type is listed.
void add_name_constraints(X509* cert, const std::vector<std::string>& permitted) {
    name_constraints_ptr nc(NAME_CONSTRAINTS_new());
    if (!nc) fail("out of memory building nameConstraints");
    nc->permittedSubtrees = sk_GENERAL_SUBTREE_new_null();
    nc->excludedSubtrees = sk_GENERAL_SUBTREE_new_null();
    if (!nc->permittedSubtrees || !nc->excludedSubtrees) fail("out of memory building nameConstraints");
    for (const auto& name : permitted) push_subtree(nc->permittedSubtrees, dns_general_name(name));
    // An IP subtree is address || mask: all zeros is 0.0.0.0/0 (8 bytes) and ::/0 (32 bytes).
    for (std::size_t len : {std::size_t{8}, std::size_t{32}}) {
        const std::string zeros(len, '\0');
        octet_string_ptr ip(ASN1_OCTET_STRING_new());
        general_name_ptr gn(GENERAL_NAME_new());
        if (!ip || !gn || !ASN1_OCTET_STRING_set(ip.get(), reinterpret_cast<const unsigned char*>(zeros.data()),
                                                 static_cast<int>(len)))
            fail("cannot encode an IP subtree");
        GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip.release());
        push_subtree(nc->excludedSubtrees, std::move(gn));
    }
    if (X509_add1_ext_i2d(cert, NID_name_constraints, nc.get(), 1, X509V3_ADD_DEFAULT) != 1)
        fail("cannot add nameConstraints");
}

/// Checks and normalises the names a new CA will be constrained to.
std::vector<std::string> checked_names(const std::vector<std::string>& names) {
    if (names.empty())
        throw std::invalid_argument("a new local CA needs at least one permitted DNS name (none given)");
    std::vector<std::string> out;
    for (const auto& n : names) {
        std::string h = to_lower(n);
        if (is_ip_literal(h) || !valid_dns_name(h))
            throw std::invalid_argument("cannot constrain the local CA to \"" + printable(n) +
                                        "\": not a DNS name");
        if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(std::move(h));
    }
    return out;
}

std::string to_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || !PEM_write_bio_X509(bio.get(), cert)) fail("cannot encode certificate as PEM");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(len)};
}

/// Writes `data` to `path` with exactly `mode` (umask cannot widen or narrow it), fsynced.
/// With `exclusive`, fails if the file exists; otherwise truncates.
void write_file(const fs::path& path, std::string_view data, mode_t mode, bool exclusive) {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC);
    unique_fd fd(::open(path.c_str(), flags, mode));
    if (fd.get() < 0) {
        int err = errno;
        if (exclusive && err == EEXIST)
            fail_errno("cannot create " + path.string() + " (another courtroute creating the CA at the same time?)",
                       err);
        fail_errno("cannot create " + path.string(), err);
    }
    // Do not leave a half-written file behind: the next start would refuse a truncated key.
    struct remove_on_failure {
        const fs::path& path;
        bool armed = true;
        ~remove_on_failure() {
            if (armed) ::unlink(path.c_str());
        }
    } guard{path};
    if (::fchmod(fd.get(), mode) != 0) fail_errno("cannot set the mode of " + path.string(), errno);
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail_errno("cannot write " + path.string(), errno);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) fail_errno("cannot sync " + path.string(), errno);
    if (fd.close() != 0) fail_errno("cannot write " + path.string(), errno);
    guard.armed = false;
}

/// The sealed form of `key`: `sealed_key_magic` then `secret_box::seal(PKCS#8 DER)`.
/// The DER passes through a memory BIO and a string; both are wiped before they are freed.
std::string seal_key(EVP_PKEY* key, const secret_box& box) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || i2d_PKCS8PrivateKey_bio(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        fail("cannot encode the CA key");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    std::string der(data, static_cast<std::size_t>(len));
    OPENSSL_cleanse(data, static_cast<std::size_t>(len));
    std::string out(sealed_key_magic);
    try {
        out += box.seal(der, sealed_key_context);
    } catch (...) {
        OPENSSL_cleanse(der.data(), der.size());
        throw;
    }
    OPENSSL_cleanse(der.data(), der.size());
    return out;
}

/// Reads a small file whole, refusing one that is not a regular file or is bigger than `limit`.
std::string read_small_file(const fs::path& path, std::size_t limit, const std::string& what) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) fail_errno("cannot read " + what + " " + path.string(), errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail_errno("cannot read " + what + " " + path.string(), errno);
    if (!S_ISREG(st.st_mode)) throw std::runtime_error(what + " " + path.string() + " is not a regular file");
    if (static_cast<std::size_t>(st.st_size) > limit)
        throw std::runtime_error(what + " " + path.string() + " is too large to be one");
    std::string out(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
        ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail_errno("cannot read " + what + " " + path.string(), errno);
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
}

/// Refuses a key file that group or others may read: the key would not be the CA's alone.
void require_private(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail_errno("cannot read CA key " + path.string(), errno);
    if ((st.st_mode & 077) != 0)
        throw std::runtime_error("CA key " + path.string() +
                                 " is readable by group or others; run `chmod 600` on it (or `courtroute ca "
                                 "--rotate` to create a new CA)");
}

pkey_ptr load_sealed_key(const fs::path& path, const secret_box& box) {
    require_private(path);
    std::string file = read_small_file(path, 16 * 1024, "CA key");
    if (!file.starts_with(sealed_key_magic))
        throw std::runtime_error("CA key " + path.string() + " is not a sealed courtroute CA key");
    auto der = box.open(std::string_view(file).substr(sealed_key_magic.size()), sealed_key_context);
    if (!der)
        throw std::runtime_error("CA key " + path.string() +
                                 " cannot be opened with the store key (sealed under another key file, or "
                                 "damaged); run `courtroute ca --rotate` to create a new CA");
    const auto* p = reinterpret_cast<const unsigned char*>(der->data());
    pkey_ptr key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der->size())));
    OPENSSL_cleanse(der->data(), der->size());
    if (!key) fail("CA key " + path.string() + " does not hold a private key");
    return key;
}

/// A key file with a passphrase would make OpenSSL prompt on the terminal; refuse instead.
int no_passphrase(char*, int, int, void*) { return 0; }

/// An old plain-PEM `ca.key` (read, never written by this version).
pkey_ptr load_plain_key(const fs::path& path) {
    require_private(path);
    bio_ptr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) fail("cannot open CA key " + path.string());
    pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!key) fail("CA key " + path.string() + " is not a valid unencrypted PEM private key");
    return key;
}

x509_ptr load_cert(const fs::path& path) {
    bio_ptr bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) fail("cannot open CA certificate " + path.string());
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
    if (!cert) fail("CA certificate " + path.string() + " is not a valid PEM certificate");
    return cert;
}

/// A new self-signed CA certificate for `key`, constrained to `permitted` (checked first, so a
/// bad list changes nothing on disk).
x509_ptr make_ca_cert(EVP_PKEY* key, const std::vector<std::string>& permitted) {
    const auto names = checked_names(permitted);
    x509_ptr cert(X509_new());
    if (!cert || !X509_set_version(cert.get(), X509_VERSION_3)) fail("cannot create CA certificate");
    set_random_serial(cert.get());
    const auto now = clock::now();
    set_validity(cert.get(), now - ca_backdate, now + ca_lifetime);

    // A random install id in OU: two installs have different subjects, so trust stores never
    // confuse one machine's CA with another's.
    std::array<unsigned char, 4> id{};
    if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) fail("cannot draw a random install id");
    const std::string install =
        "install " + hex_encode(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
    name_ptr name(X509_NAME_new());
    if (!name) fail("cannot create CA subject");
    add_name_entry(name.get(), "CN", ca_common_name);
    add_name_entry(name.get(), "O", organization);
    add_name_entry(name.get(), "OU", install);
    if (!X509_set_subject_name(cert.get(), name.get()) || !X509_set_issuer_name(cert.get(), name.get()) ||
        !X509_set_pubkey(cert.get(), key))
        fail("cannot fill CA certificate");

    add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
    add_name_constraints(cert.get(), names);
    if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) fail("cannot self-sign CA certificate");
    return cert;
}

/// Creates `<state>/ca` (0700) and the state directory above it when missing.
void ensure_ca_dir(const fs::path& state_dir, const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(state_dir, ec);
    if (ec) throw std::runtime_error("cannot create state directory " + state_dir.string() + ": " + ec.message());
    if (::mkdir(dir.c_str(), 0700) == 0) {
        if (::chmod(dir.c_str(), 0700) != 0) fail_errno("cannot set the mode of " + dir.string(), errno);
    } else if (errno != EEXIST) {
        fail_errno("cannot create " + dir.string(), errno);
    } else if (!fs::is_directory(dir, ec)) {
        throw std::runtime_error(dir.string() + " exists and is not a directory");
    }
}

/// Makes renames in `dir` durable.
void sync_dir(const fs::path& dir) {
    unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() >= 0) ::fsync(fd.get());
}

void rename_into_place(const fs::path& from, const fs::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
        int err = errno;
        ::unlink(from.c_str());
        fail_errno("cannot rename " + from.string() + " to " + to.string(), err);
    }
}

/// Overwrites a file with zeros, syncs, then unlinks it. Best effort against recovery from the
/// disk: journaling and copy-on-write file systems and SSDs may keep the old blocks, which is
/// why a rotation also asks for the old CA to be removed wherever it was trusted.
void overwrite_and_unlink(const fs::path& path) {
    unique_fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() >= 0) {
        struct stat st {};
        if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
            const std::string zeros(4096, '\0');
            auto left = static_cast<std::size_t>(st.st_size);
            while (left > 0) {
                ssize_t n = ::write(fd.get(), zeros.data(), std::min(left, zeros.size()));
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                left -= static_cast<std::size_t>(n);
            }
            ::fsync(fd.get());
        }
        fd.close();
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail_errno("cannot delete " + path.string(), errno);
}

/// The checks every loaded certificate passes before it signs anything.
void check_loaded(X509* cert, EVP_PKEY* key, const fs::path& cert_path, const fs::path& key_path) {
    if (X509_check_ca(cert) < 1)
        throw std::runtime_error("CA certificate " + cert_path.string() + " is not a CA certificate");
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
        throw std::runtime_error("CA certificate " + cert_path.string() +
                                 " has expired; run `courtroute ca --rotate` to create a new CA");
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        throw std::runtime_error("CA key " + key_path.string() + " does not match CA certificate " +
                                 cert_path.string() + "; run `courtroute ca --rotate` to create a new CA");
    }
}

/// Writes the certificate of a new or reissued CA through a temporary file and a rename.
void write_cert(const fs::path& dir, const fs::path& cert_path, X509* cert) {
    const fs::path tmp = dir / "ca.pem.tmp";
    write_file(tmp, to_pem(cert), 0644, false);
    rename_into_place(tmp, cert_path);
}

/// The process-wide leaf key: created once, on first use, thread-safely.
std::shared_ptr<EVP_PKEY> process_leaf_key() {
    static const std::shared_ptr<EVP_PKEY> key{generate_p256().release(), pkey_deleter{}};
    return key;
}

} // namespace

std::string openssl_errors() {
    std::string out;
    while (unsigned long code = ERR_get_error()) {
        std::array<char, 256> buf{};
        ERR_error_string_n(code, buf.data(), buf.size());
        out += out.empty() ? ": " : "; ";
        out += buf.data();
    }
    return out;
}

// ------------------------------------------------------------------------------ constraints

bool ca_constraints::permits(std::string_view host_in) const {
    const std::string host = normalise_host(host_in);
    if (is_ip_literal(host) || !valid_dns_name(host)) return false;
    for (const auto& base : excluded_dns)
        if (dns_within(host, base)) return false;
    if (permitted_dns.empty()) return true;
    return std::any_of(permitted_dns.begin(), permitted_dns.end(),
                       [&](const std::string& base) { return dns_within(host, base); });
}

ca_constraints constraints_of(X509* cert) {
    ca_constraints out;
    int crit = -1;
    name_constraints_ptr nc(static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(cert, NID_name_constraints, &crit, nullptr)));
    if (!nc) {
        ERR_clear_error();
        // crit: -1 absent, -2 present more than once; otherwise present but undecodable.
        if (crit != -1) throw std::runtime_error("the CA certificate's nameConstraints cannot be decoded");
        return out;
    }
    out.present = true;
    out.critical = crit == 1;
    bool v4 = false, v6 = false;
    auto read = [&](STACK_OF(GENERAL_SUBTREE)* subtrees, std::vector<std::string>& dns, bool excluded) {
        for (int i = 0; i < sk_GENERAL_SUBTREE_num(subtrees); ++i) {
            const GENERAL_NAME* base = sk_GENERAL_SUBTREE_value(subtrees, i)->base;
            if (!base) continue;
            if (base->type == GEN_DNS) {
                const ASN1_IA5STRING* s = base->d.dNSName;
                dns.push_back(to_lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                        static_cast<std::size_t>(ASN1_STRING_length(s)))));
            } else if (base->type == GEN_IPADD && excluded) {
                const ASN1_OCTET_STRING* ip = base->d.iPAddress;
                const unsigned char* b = ASN1_STRING_get0_data(ip);
                const int len = ASN1_STRING_length(ip);
                // A zero mask (the second half) covers every address of that family.
                const bool all = std::all_of(b + len / 2, b + len, [](unsigned char c) { return c == 0; });
                if (len == 8 && all) v4 = true;
                if (len == 32 && all) v6 = true;
            }
        }
    };
    read(nc->permittedSubtrees, out.permitted_dns, false);
    read(nc->excludedSubtrees, out.excluded_dns, true);
    out.excludes_all_ip = v4 && v6;
    return out;
}

std::vector<std::string> ca_permitted_names(const std::vector<std::string>& hosts) {
    constexpr std::string_view courts_domain = "uscourts.gov";
    std::vector<std::string> names{std::string(courts_domain)};
    std::vector<std::string> others;
    for (const auto& h : hosts) {
        std::string host = normalise_host(h);
        if (is_ip_literal(host) || !valid_dns_name(host) || dns_within(host, courts_domain)) continue;
        others.push_back(std::move(host));
    }
    std::sort(others.begin(), others.end());
    others.erase(std::unique(others.begin(), others.end()), others.end());
    for (const auto& h : others) {
        // A name under another listed name is already permitted by it.
        const bool covered = std::any_of(others.begin(), others.end(),
                                         [&](const std::string& o) { return o != h && dns_within(h, o); });
        if (!covered) names.push_back(h);
    }
    return names;
}

ca_paths::ca_paths(const fs::path& state_dir)
    : dir(state_dir / "ca"), cert(dir / "ca.pem"), sealed_key(dir / "ca.key.sealed"), plain_key(dir / "ca.key"),
      old_cert(dir / "ca.pem.old") {}

// --------------------------------------------------------------------------------- local_ca

local_ca::local_ca(fs::path cert_path, pkey_ptr key, x509_ptr cert, bool key_sealed, bool plain_key_present)
    : cert_path_(std::move(cert_path)), key_(key.release(), pkey_deleter{}), cert_(cert.release(), x509_deleter{}),
      leaf_key_(process_leaf_key()), constraints_(constraints_of(cert_.get())), key_sealed_(key_sealed),
      plain_key_present_(plain_key_present) {}

bool local_ca::constrained() const noexcept {
    return constraints_.present && constraints_.critical && !constraints_.permitted_dns.empty() &&
           constraints_.excludes_all_ip;
}

local_ca local_ca::open_or_create(const fs::path& state_dir, const secret_box& key_box,
                                  const std::vector<std::string>& permitted) {
    const ca_paths p(state_dir);
    ensure_ca_dir(state_dir, p.dir);

    std::error_code ec;
    const bool have_sealed = fs::exists(p.sealed_key, ec);
    const bool have_plain = fs::exists(p.plain_key, ec);
    const bool have_cert = fs::exists(p.cert, ec);
    if (!have_sealed && !have_plain && have_cert)
        throw std::runtime_error("CA certificate " + p.cert.string() + " exists but its key " + p.sealed_key.string() +
                                 " is missing; run `courtroute ca --rotate` to create a new CA (clients must then "
                                 "trust the new one)");
    if (!have_sealed && have_plain && !have_cert)
        throw std::runtime_error("the old plain CA key " + p.plain_key.string() + " has no certificate " +
                                 p.cert.string() + "; run `courtroute ca --rotate` to replace it with a constrained CA");

    pkey_ptr key;
    x509_ptr cert;
    const fs::path* key_path = &p.sealed_key;
    if (have_sealed) {
        // A sealed key wins over a plain one left behind by an interrupted rotation.
        key = load_sealed_key(p.sealed_key, key_box);
    } else if (have_plain) {
        key = load_plain_key(p.plain_key);
        key_path = &p.plain_key;
    } else {
        key = generate_p256();
        cert = make_ca_cert(key.get(), permitted);
        // O_EXCL: of two processes creating the CA at once, one fails here instead of both
        // leaving keys behind, and the certificate is only written by the one that won.
        write_file(p.sealed_key, seal_key(key.get(), key_box), 0600, true);
        sync_dir(p.dir);
    }

    if (cert) {
        write_cert(p.dir, p.cert, cert.get());
    } else if (have_cert) {
        cert = load_cert(p.cert);
        check_loaded(cert.get(), key.get(), p.cert, *key_path);
    } else {
        // A sealed key without its certificate (a crash between the two writes): the key is the
        // only secret, so a fresh certificate for it is as good as the lost one.
        cert = make_ca_cert(key.get(), permitted);
        write_cert(p.dir, p.cert, cert.get());
    }
    return local_ca(p.cert, std::move(key), std::move(cert), key_path == &p.sealed_key, fs::exists(p.plain_key, ec));
}

ca_rotation local_ca::rotate(const fs::path& state_dir, const secret_box& key_box,
                             const std::vector<std::string>& permitted) {
    const ca_paths p(state_dir);
    ensure_ca_dir(state_dir, p.dir);
    pkey_ptr key = generate_p256();
    x509_ptr cert = make_ca_cert(key.get(), permitted); // validates the names before anything changes
    const std::string sealed = seal_key(key.get(), key_box);

    std::error_code ec;
    ca_rotation r;
    const bool have_cert = fs::exists(p.cert, ec);
    const bool have_plain = fs::exists(p.plain_key, ec);
    r.had_old_ca = have_cert || have_plain || fs::exists(p.sealed_key, ec);

    // Both new files are complete before either replaces an old one. Leftovers of an earlier
    // interrupted rotation are ours to discard.
    const fs::path new_key = p.dir / "ca.key.sealed.new";
    const fs::path new_cert = p.dir / "ca.pem.new";
    ::unlink(new_key.c_str());
    ::unlink(new_cert.c_str());
    write_file(new_key, sealed, 0600, true);
    try {
        write_file(new_cert, to_pem(cert.get()), 0644, true);
        if (have_cert) {
            // The old certificate is public; keeping it lets an administrator find and remove
            // the old CA wherever it was trusted by hand.
            const std::string old = read_small_file(p.cert, 64 * 1024, "CA certificate");
            try {
                r.old_was_constrained = constraints_of(load_cert(p.cert).get()).present;
            } catch (const std::exception&) {
                ERR_clear_error(); // a damaged old certificate is still worth keeping as it is
            }
            const fs::path tmp = p.dir / "ca.pem.old.tmp";
            write_file(tmp, old, 0644, false);
            rename_into_place(tmp, p.old_cert);
            r.old_cert = p.old_cert;
        }
    } catch (...) {
        ::unlink(new_key.c_str());
        ::unlink(new_cert.c_str());
        throw;
    }
    rename_into_place(new_key, p.sealed_key);
    rename_into_place(new_cert, p.cert);
    sync_dir(p.dir);
    if (have_plain) {
        overwrite_and_unlink(p.plain_key);
        sync_dir(p.dir);
        r.removed_plain_key = true;
    }
    r.cert = p.cert;
    r.permitted = constraints_of(cert.get()).permitted_dns;
    return r;
}

x509_ptr local_ca::read_certificate(const fs::path& cert_path) { return load_cert(cert_path); }

std::string local_ca::cert_pem() const { return to_pem(cert_.get()); }

x509_ptr local_ca::mint(std::string_view host_in, clock::time_point now) const {
    const std::string host = normalise_host(host_in);
    if (is_ip_literal(host))
        throw std::invalid_argument("the local CA never signs for IP addresses (\"" + printable(host_in) + "\")");
    if (!valid_dns_name(host))
        throw std::invalid_argument("invalid host name for a leaf certificate: \"" + printable(host_in) + "\"");
    if (!constraints_.permits(host))
        throw std::invalid_argument("the local CA's name constraints do not permit " + host +
                                    "; run `courtroute ca --rotate` to create a CA for the registry in force");

    x509_ptr cert(X509_new());
    if (!cert || !X509_set_version(cert.get(), X509_VERSION_3)) fail("cannot create leaf certificate");
    set_random_serial(cert.get());
    set_validity(cert.get(), now - leaf_backdate, now + leaf_lifetime);

    name_ptr name(X509_NAME_new());
    if (!name) fail("cannot create leaf subject");
    add_name_entry(name.get(), "O", organization);
    // commonName is limited to 64 characters; the SAN is what clients check anyway.
    if (host.size() <= 64) add_name_entry(name.get(), "CN", host);
    if (!X509_set_subject_name(cert.get(), name.get()) ||
        !X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get())) ||
        !X509_set_pubkey(cert.get(), leaf_key_.get()))
        fail("cannot fill leaf certificate");

    add_extension(cert.get(), cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), cert_.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), cert_.get(), NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), cert_.get(), NID_authority_key_identifier, "keyid:always");
    add_subject_alt_name(cert.get(), host);
    if (constraints_.present) {
        // Belt and braces: what clients will check, checked with OpenSSL's own matcher before
        // anything is signed. `permits` above should have refused already.
        name_constraints_ptr nc(
            static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(cert_.get(), NID_name_constraints, nullptr, nullptr)));
        if (!nc || NAME_CONSTRAINTS_check(cert.get(), nc.get()) != X509_V_OK) {
            ERR_clear_error();
            throw std::invalid_argument("the local CA's name constraints do not permit " + host);
        }
    }
    if (X509_sign(cert.get(), key_.get(), EVP_sha256()) <= 0) fail("cannot sign leaf certificate");
    return cert;
}

// ---------------------------------------------------------------------------------------------

namespace {

/// Chooses "http/1.1" when the client offers it; otherwise no ALPN at all (the client then
/// speaks HTTP/1.1 by default), rather than failing an h2-only client's handshake.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
    static constexpr unsigned char ours[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    unsigned char selected_len = 0;
    if (SSL_select_next_proto(&selected, &selected_len, ours, sizeof ours, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    *outlen = selected_len;
    return SSL_TLSEXT_ERR_OK;
}

} // namespace

leaf_cache::leaf_cache(std::shared_ptr<const local_ca> ca, clock_fn clock_function, std::size_t capacity)
    : ca_(std::move(ca)), clock_(clock_function ? std::move(clock_function) : clock_fn(&clock::now)),
      capacity_(capacity == 0 ? 1 : capacity) {
    if (!ca_) throw std::invalid_argument("leaf_cache needs a CA");
}

std::shared_ptr<boost::asio::ssl::context> leaf_cache::build(const std::string& host, clock::time_point now) const {
    x509_ptr leaf = ca_->mint(host, now);
    auto ctx = std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate(native, leaf.get()) != 1 || SSL_CTX_add1_chain_cert(native, ca_->cert()) != 1 ||
        SSL_CTX_use_PrivateKey(native, ca_->leaf_key()) != 1 || SSL_CTX_check_private_key(native) != 1)
        fail("cannot build the TLS server context for " + host);
    // Idle intercepted tunnels are the common case; release their read/write buffers.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);
    // Resumption (session IDs and, by OpenSSL's default, tickets) saves a full handshake per
    // reconnecting client. The ticket key is per context, i.e. per host: a ticket for one court
    // host cannot resume a session on another.
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
    static constexpr unsigned char sid_context[] = "courtroute";
    SSL_CTX_set_session_id_context(native, sid_context, sizeof sid_context - 1);
    return ctx;
}

std::shared_ptr<boost::asio::ssl::context> leaf_cache::server_context(std::string_view host_in) {
    std::string host = to_lower(host_in);
    std::lock_guard lock(mutex_);
    const auto now = clock_();
    auto it = entries_.find(host);
    if (it != entries_.end()) {
        entry& e = it->second;
        const auto not_before = e.not_after - leaf_lifetime - leaf_backdate;
        // Renew ahead of expiry, and also when the clock went back before the leaf's notBefore.
        if (now < e.not_after - renew_before && now >= not_before) {
            ++hits_;
            lru_.splice(lru_.begin(), lru_, e.lru_position);
            return e.context;
        }
        // Minting under the lock collapses concurrent requests for the same host into one
        // signature (as squid does); a P-256 signature takes ~20 µs.
        e.context = build(host, now);
        e.not_after = now + leaf_lifetime;
        ++minted_;
        lru_.splice(lru_.begin(), lru_, e.lru_position);
        return e.context;
    }
    auto ctx = build(host, now);
    ++minted_;
    lru_.push_front(host);
    entries_.emplace(host, entry{ctx, now + leaf_lifetime, lru_.begin()});
    while (entries_.size() > capacity_) {
        entries_.erase(lru_.back());
        lru_.pop_back();
    }
    return ctx;
}

std::uint64_t leaf_cache::minted() const {
    std::lock_guard lock(mutex_);
    return minted_;
}

std::uint64_t leaf_cache::hits() const {
    std::lock_guard lock(mutex_);
    return hits_;
}

std::size_t leaf_cache::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

} // namespace courtroute::tls
