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

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
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

void add_subject_alt_name(X509* cert, std::string_view host, bool is_ip) {
    general_names_ptr names(sk_GENERAL_NAME_new_null());
    general_name_ptr name(GENERAL_NAME_new());
    if (!names || !name) fail("out of memory building subjectAltName");
    const std::string h(host);
    if (is_ip) {
        octet_string_ptr ip(a2i_IPADDRESS(h.c_str()));
        if (!ip) fail("cannot encode IP address for subjectAltName");
        GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip.release());
    } else {
        ia5_ptr dns(ASN1_IA5STRING_new());
        if (!dns || !ASN1_STRING_set(dns.get(), h.data(), static_cast<int>(h.size())))
            fail("cannot encode DNS name for subjectAltName");
        GENERAL_NAME_set0_value(name.get(), GEN_DNS, dns.release());
    }
    if (!sk_GENERAL_NAME_push(names.get(), name.get())) fail("out of memory building subjectAltName");
    name.release(); // now owned by names
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1)
        fail("cannot add subjectAltName");
}

std::string to_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || !PEM_write_bio_X509(bio.get(), cert)) fail("cannot encode certificate as PEM");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(len)};
}

std::string key_to_pem(EVP_PKEY* key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || !PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr))
        fail("cannot encode CA key as PEM");
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    std::string pem(data, static_cast<std::size_t>(len));
    // The memory BIO is freed without zeroing; clear it ourselves since it held the CA key.
    OPENSSL_cleanse(data, static_cast<std::size_t>(len));
    return pem;
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

/// A key file with a passphrase would make OpenSSL prompt on the terminal; refuse instead.
int no_passphrase(char*, int, int, void*) { return 0; }

pkey_ptr load_key(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail_errno("cannot read CA key " + path.string(), errno);
    if ((st.st_mode & 077) != 0)
        throw std::runtime_error("CA key " + path.string() +
                                 " is readable by group or others; run `chmod 600` on it (or remove ca.key and "
                                 "ca.pem to create a new CA)");
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

x509_ptr make_ca_cert(EVP_PKEY* key) {
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
    if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) fail("cannot self-sign CA certificate");
    return cert;
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

local_ca::local_ca(fs::path cert_path, pkey_ptr key, x509_ptr cert)
    : cert_path_(std::move(cert_path)), key_(key.release(), pkey_deleter{}), cert_(cert.release(), x509_deleter{}),
      leaf_key_(process_leaf_key()) {}

local_ca local_ca::open_or_create(const fs::path& state_dir) {
    const fs::path dir = state_dir / "ca";
    const fs::path key_path = dir / "ca.key";
    const fs::path cert_path = dir / "ca.pem";

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

    const bool have_key = fs::exists(key_path, ec);
    const bool have_cert = fs::exists(cert_path, ec);
    if (!have_key && have_cert)
        throw std::runtime_error("CA certificate " + cert_path.string() + " exists but its key " + key_path.string() +
                                 " is missing; remove ca.pem to create a new CA (clients must then trust the new one)");

    pkey_ptr key;
    if (have_key) {
        key = load_key(key_path);
    } else {
        key = generate_p256();
        std::string pem = key_to_pem(key.get());
        try {
            write_file(key_path, pem, 0600, true);
        } catch (...) {
            OPENSSL_cleanse(pem.data(), pem.size());
            throw;
        }
        OPENSSL_cleanse(pem.data(), pem.size());
    }

    x509_ptr cert;
    if (have_cert) {
        cert = load_cert(cert_path);
        if (X509_check_ca(cert.get()) < 1)
            throw std::runtime_error("CA certificate " + cert_path.string() + " is not a CA certificate");
        if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0)
            throw std::runtime_error("CA certificate " + cert_path.string() +
                                     " has expired; remove ca.key and ca.pem to create a new CA");
        if (X509_check_private_key(cert.get(), key.get()) != 1) {
            ERR_clear_error();
            throw std::runtime_error("CA key " + key_path.string() + " does not match CA certificate " +
                                     cert_path.string());
        }
    } else {
        // First start, or a crash between writing the key and the certificate: the key is the
        // only secret, so a fresh certificate for it is as good as the lost one.
        cert = make_ca_cert(key.get());
        const fs::path tmp = dir / "ca.pem.tmp";
        write_file(tmp, to_pem(cert.get()), 0644, false);
        fs::rename(tmp, cert_path, ec);
        if (ec) throw std::runtime_error("cannot rename " + tmp.string() + " to " + cert_path.string() + ": " +
                                         ec.message());
    }
    return local_ca(cert_path, std::move(key), std::move(cert));
}

std::string local_ca::cert_pem() const { return to_pem(cert_.get()); }

x509_ptr local_ca::mint(std::string_view host_in, clock::time_point now) const {
    std::string host = to_lower(host_in);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    bool is_ip = false;
    if (host.find_first_not_of("0123456789abcdef.:") == std::string::npos && !host.empty()) {
        octet_string_ptr ip(a2i_IPADDRESS(host.c_str()));
        is_ip = ip != nullptr;
        ERR_clear_error();
    }
    if (!is_ip && !valid_dns_name(host))
        throw std::invalid_argument("invalid host name for a leaf certificate: \"" + printable(host_in) + "\"");

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
    add_subject_alt_name(cert.get(), host, is_ip);
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
