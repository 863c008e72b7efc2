#pragma once
/// The local certificate authority that signs the leaf certificates the forward proxy presents
/// for intercepted court hosts (CONTRACT.md §5), and the per-host cache of TLS server contexts
/// built from those leaves.
///
/// Everything is ECDSA P-256: a leaf costs one signature (~50k/s per core) instead of an RSA key
/// generation. Like mitmproxy, every leaf carries the same process-wide key pair, so minting is
/// only "build the certificate and sign it"; unlike mitmproxy, cached leaves are renewed before
/// they expire.
#include <boost/asio/ssl/context.hpp>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace courtroute::tls {

/// Frees an `EVP_PKEY` (for `std::unique_ptr`).
struct pkey_deleter {
    /// Calls `EVP_PKEY_free`.
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
/// Frees an `X509` (for `std::unique_ptr`).
struct x509_deleter {
    /// Calls `X509_free`.
    void operator()(X509* p) const noexcept { X509_free(p); }
};
/// Owning handle to a key pair.
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;
/// Owning handle to a certificate.
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

/// Drains OpenSSL's thread-local error queue into `": reason; reason"` (empty when the queue
/// is empty), for appending to an error message. OpenSSL's reasons never contain key material.
[[nodiscard]] std::string openssl_errors();

/// How long a minted leaf is valid after its mint time (browsers cap leaves at 398 days).
inline constexpr std::chrono::hours leaf_lifetime{24 * 7};
/// How far a leaf's notBefore is back-dated, so a client whose clock runs slow accepts it.
inline constexpr std::chrono::hours leaf_backdate{1};

/// The CA key and certificate under `<state_dir>/ca/`, plus the process-wide leaf key.
/// Immutable after `open_or_create`, hence safe to share between threads.
class local_ca {
public:
    /// Loads `<state_dir>/ca/ca.key` and `ca.pem`, creating them on first use: the directory
    /// 0700, the key (ECDSA P-256, PEM) 0600 and created with O_EXCL so a race between two
    /// daemons cannot leave two different keys, the self-signed certificate 0644 (clients read
    /// it to trust it). Throws `std::runtime_error` naming the file when a file is unreadable,
    /// corrupt, too open (the key readable by group/others), expired, not a CA, or when the key
    /// does not match the certificate. The message never contains key material.
    [[nodiscard]] static local_ca open_or_create(const std::filesystem::path& state_dir);

    /// Path of `ca.pem`, the certificate clients must trust (`courtroute ca` prints it).
    [[nodiscard]] const std::filesystem::path& cert_path() const noexcept { return cert_path_; }
    /// The CA certificate in PEM form.
    [[nodiscard]] std::string cert_pem() const;
    /// The CA certificate (owned by this object; valid while it lives).
    [[nodiscard]] X509* cert() const noexcept { return cert_.get(); }
    /// The key every leaf certifies: one ECDSA P-256 pair per process, shared by all CAs.
    [[nodiscard]] EVP_PKEY* leaf_key() const noexcept { return leaf_key_.get(); }

    /// Signs a leaf certificate for exactly `host` (a DNS name, or an IPv4/IPv6 literal, with
    /// or without brackets): SAN DNS:host or IP:host, CN=host when it fits (64 chars),
    /// serverAuth, CA:FALSE, a random 128-bit serial, valid from `now - leaf_backdate` to
    /// `now + leaf_lifetime`, signed with SHA-256. Throws `std::invalid_argument` for a host
    /// that is not a syntactically valid name (empty, wildcard, control characters, too long).
    [[nodiscard]] x509_ptr mint(std::string_view host,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

private:
    local_ca(std::filesystem::path cert_path, pkey_ptr key, x509_ptr cert);

    std::filesystem::path cert_path_;
    std::shared_ptr<EVP_PKEY> key_;      // the CA's signing key
    std::shared_ptr<X509> cert_;         // the CA's certificate
    std::shared_ptr<EVP_PKEY> leaf_key_; // process-wide, see leaf_key()
};

/// TLS server contexts for intercepted hosts, one per lower-cased host, minted on demand and
/// re-minted when within `renew_before` of expiry. Bounded: past `capacity` entries the least
/// recently used is dropped (connections holding its context keep it alive). All members are
/// guarded by one mutex, so the cache may be shared between threads.
class leaf_cache {
public:
    /// Returns "now"; injectable so tests can move time forward.
    using clock_fn = std::function<std::chrono::system_clock::time_point()>;
    /// Default maximum number of cached hosts.
    static constexpr std::size_t default_capacity = 4096;
    /// A cached leaf this close to its notAfter is replaced by a fresh one.
    static constexpr std::chrono::hours renew_before{24};

    /// A cache signing with `ca`. `clock` defaults to the system clock; `capacity` must be >= 1.
    explicit leaf_cache(std::shared_ptr<const local_ca> ca, clock_fn clock = {},
                        std::size_t capacity = default_capacity);

    /// The server context for `host` (matched case-insensitively): TLS 1.2+, the leaf for the
    /// host followed by the CA certificate, the shared leaf key, ALPN answering "http/1.1" only
    /// (a client offering only h2 gets no ALPN and speaks HTTP/1.1 anyway), released idle
    /// buffers, and server-side session cache and tickets for resumption.
    /// Throws `std::invalid_argument` for an invalid host (see `local_ca::mint`).
    [[nodiscard]] std::shared_ptr<boost::asio::ssl::context> server_context(std::string_view host);

    /// Number of leaves signed so far (each miss or renewal is one signature).
    [[nodiscard]] std::uint64_t minted() const;
    /// Number of lookups answered from the cache.
    [[nodiscard]] std::uint64_t hits() const;
    /// Number of hosts currently cached.
    [[nodiscard]] std::size_t size() const;

private:
    struct entry {
        std::shared_ptr<boost::asio::ssl::context> context;
        std::chrono::system_clock::time_point not_after;
        std::list<std::string>::iterator lru_position; // into lru_, most recent at the front
    };

    [[nodiscard]] std::shared_ptr<boost::asio::ssl::context> build(const std::string& host,
                                                                   std::chrono::system_clock::time_point now) const;

    std::shared_ptr<const local_ca> ca_;
    clock_fn clock_;
    std::size_t capacity_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    std::list<std::string> lru_;
    std::uint64_t minted_ = 0;
    std::uint64_t hits_ = 0;
};

} // namespace courtroute::tls
