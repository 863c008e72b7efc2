#pragma once
/// The local certificate authority that signs the leaf certificates the forward proxy presents
/// for intercepted court hosts (CONTRACT.md §5), and the per-host cache of TLS server contexts
/// built from those leaves.
///
/// The CA is constrained to the court hosts (X.509 name constraints) and its key is sealed with
/// the store key, so trusting it system-wide cannot let anyone with a copy of the state folder
/// impersonate other sites (issue 9, finding 1).
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
#include <optional>
#include <unordered_map>
#include <vector>

#include "store/crypto.hpp"

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

/// The X.509 name constraints of a CA certificate (RFC 5280 §4.2.1.10), as far as courtroute
/// uses them: DNS subtrees and the IP exclusions.
struct ca_constraints {
    bool present = false;                    ///< the certificate has a nameConstraints extension
    bool critical = false;                   ///< ... and it is marked critical
    std::vector<std::string> permitted_dns;  ///< permitted DNS subtrees, lower-case, in certificate order
    std::vector<std::string> excluded_dns;   ///< excluded DNS subtrees, lower-case
    bool excludes_all_ip = false;            ///< both 0.0.0.0/0 and ::/0 are excluded

    /// True when the constraints admit a leaf for `host` as RFC 5280 (and OpenSSL, NSS) match
    /// DNS subtrees: `host` equals a permitted name or ends in "." + that name, and no excluded
    /// name matches. Without any permitted DNS subtree every DNS name not excluded is admitted
    /// (an old, unconstrained CA). IP literals and invalid names are never admitted: courtroute
    /// intercepts court hosts only, which are DNS names.
    [[nodiscard]] bool permits(std::string_view host) const;
};

/// Reads the nameConstraints of `cert` (all fields empty/false when it has none). Throws
/// `std::runtime_error` when the extension is present but cannot be decoded.
[[nodiscard]] ca_constraints constraints_of(X509* cert);

/// The DNS subtrees a new CA is permitted to sign for, given every host of the registry in
/// force (ecf_url hosts and extra_hosts): "uscourts.gov" (every federal court host, including
/// courts added later by drop-ins) plus each host that is not under uscourts.gov, lower-case,
/// sorted, without duplicates and without names already covered by another entry. Entries that
/// are not valid DNS names (IP literals) are dropped: the CA never signs for addresses.
[[nodiscard]] std::vector<std::string> ca_permitted_names(const std::vector<std::string>& hosts);

/// The files of the local CA under `<state_dir>/ca/`.
struct ca_paths {
    /// The layout under `state_dir`.
    explicit ca_paths(const std::filesystem::path& state_dir);
    std::filesystem::path dir;        ///< `<state>/ca`, 0700
    std::filesystem::path cert;       ///< `ca.pem`, the certificate clients trust, 0644
    std::filesystem::path sealed_key; ///< `ca.key.sealed`, the private key sealed with the store key, 0600
    std::filesystem::path plain_key;  ///< `ca.key`, a plain PEM key left by an older courtroute (never written now)
    std::filesystem::path old_cert;   ///< `ca.pem.old`, the certificate a rotation replaced
};

/// The first bytes of `ca.key.sealed`. What follows is `secret_box::seal(PKCS#8 DER of the key,
/// sealed_key_context)` under the store key (`settings::effective_key_file()`): nonce, AES-256-GCM
/// ciphertext, tag. Never PEM, never the key in clear.
inline constexpr std::string_view sealed_key_magic = "courtroute sealed CA key v1\n";
/// The additional authenticated data of the sealed CA key: a store secret moved into this file
/// (or this file's contents moved into the store) fails to open.
inline constexpr std::string_view sealed_key_context = "courtroute/ca/ca.key.sealed/v1";

/// What `local_ca::rotate` did, for the CLI to report.
struct ca_rotation {
    std::filesystem::path cert;                    ///< the new certificate (clients must trust it)
    std::vector<std::string> permitted;            ///< the new CA's permitted DNS subtrees
    bool had_old_ca = false;                       ///< a previous certificate or key existed
    bool old_was_constrained = false;              ///< the previous certificate had name constraints
    std::optional<std::filesystem::path> old_cert; ///< where the previous certificate was kept
    bool removed_plain_key = false;                ///< an old plain-PEM `ca.key` was overwritten and deleted
};

/// The CA key and certificate under `<state_dir>/ca/`, plus the process-wide leaf key.
/// Immutable after opening, hence safe to share between threads.
///
/// A CA made by this version is constrained: a critical nameConstraints extension permits only
/// the DNS subtrees given at creation and excludes every IPv4 and IPv6 address, so even a leaf
/// signed with the CA key for another name fails verification in OpenSSL, NSS and browsers.
/// Its key is sealed with the store key (see `sealed_key_magic`). A CA left by an older
/// version (plain PEM `ca.key`, no constraints) still opens, so the proxy keeps working, but
/// `constrained()` and `key_sealed()` say so and `courtroute ca --rotate` replaces it.
class local_ca {
public:
    /// Opens the CA under `<state_dir>/ca/`, creating it on first use: the directory 0700, the
    /// key (ECDSA P-256) sealed with `key_box` in `ca.key.sealed` 0600 (created with O_EXCL so a
    /// race between two processes cannot leave two different keys), and the self-signed
    /// certificate `ca.pem` 0644 constrained to `permitted` (see `ca_permitted_names`; only used
    /// when a certificate is made). Opens an old plain-PEM `ca.key` when no sealed key exists.
    /// Throws `std::runtime_error` naming the file when a file is unreadable, corrupt, too open
    /// (a key readable by group/others), sealed under another key, expired, not a CA, or when the
    /// key does not match the certificate; `std::invalid_argument` when a certificate must be
    /// made and `permitted` is empty or holds an invalid name. Messages never contain key material.
    [[nodiscard]] static local_ca open_or_create(const std::filesystem::path& state_dir, const secret_box& key_box,
                                                 const std::vector<std::string>& permitted);

    /// Replaces whatever CA is under `<state_dir>/ca/` (constrained or not, complete or broken)
    /// with a new one constrained to `permitted`, its key sealed with `key_box`: writes the new
    /// key and certificate under temporary names, copies the old certificate to `ca.pem.old`,
    /// renames the new files into place, then overwrites and deletes an old plain `ca.key`.
    /// Running processes keep the CA they loaded until they open it again.
    /// Throws like `open_or_create`.
    [[nodiscard]] static ca_rotation rotate(const std::filesystem::path& state_dir, const secret_box& key_box,
                                            const std::vector<std::string>& permitted);

    /// Reads a PEM certificate (no key needed: `ca --install` runs as root on the public part).
    /// Throws `std::runtime_error` naming the file.
    [[nodiscard]] static x509_ptr read_certificate(const std::filesystem::path& cert_path);

    /// Path of `ca.pem`, the certificate clients must trust (`courtroute ca` prints it).
    [[nodiscard]] const std::filesystem::path& cert_path() const noexcept { return cert_path_; }
    /// The CA certificate in PEM form.
    [[nodiscard]] std::string cert_pem() const;
    /// The CA certificate (owned by this object; valid while it lives).
    [[nodiscard]] X509* cert() const noexcept { return cert_.get(); }
    /// The key every leaf certifies: one ECDSA P-256 pair per process, shared by all CAs.
    [[nodiscard]] EVP_PKEY* leaf_key() const noexcept { return leaf_key_.get(); }

    /// The name constraints read from the certificate (not from any list kept beside it).
    [[nodiscard]] const ca_constraints& constraints() const noexcept { return constraints_; }
    /// True when the certificate carries critical name constraints with permitted DNS subtrees
    /// and excludes every IP address (what this version creates).
    [[nodiscard]] bool constrained() const noexcept;
    /// True when the key was read from `ca.key.sealed`; false for an old plain-PEM `ca.key`.
    [[nodiscard]] bool key_sealed() const noexcept { return key_sealed_; }
    /// True when a plain-PEM `ca.key` was on disk when the CA was opened (in use or left over).
    [[nodiscard]] bool plain_key_present() const noexcept { return plain_key_present_; }
    /// Whether `mint` would sign for `host`: the certificate's constraints permit it (see
    /// `ca_constraints::permits`). The proxy asks before it answers a CONNECT.
    [[nodiscard]] bool permits(std::string_view host) const { return constraints_.permits(host); }

    /// Signs a leaf certificate for exactly `host` (a DNS name): SAN DNS:host, CN=host when it
    /// fits (64 chars), serverAuth, CA:FALSE, a random 128-bit serial, valid from
    /// `now - leaf_backdate` to `now + leaf_lifetime`, signed with SHA-256. Throws
    /// `std::invalid_argument` for a host that is not a valid DNS name (empty, wildcard, control
    /// characters, too long), for an IP literal, and for a name the CA's own constraints do not
    /// permit (the message says to run `courtroute ca --rotate`).
    [[nodiscard]] x509_ptr mint(std::string_view host,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

private:
    local_ca(std::filesystem::path cert_path, pkey_ptr key, x509_ptr cert, bool key_sealed, bool plain_key_present);

    std::filesystem::path cert_path_;
    std::shared_ptr<EVP_PKEY> key_;      // the CA's signing key
    std::shared_ptr<X509> cert_;         // the CA's certificate
    std::shared_ptr<EVP_PKEY> leaf_key_; // process-wide, see leaf_key()
    ca_constraints constraints_;         // parsed once from cert_
    bool key_sealed_ = false;
    bool plain_key_present_ = false;
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
    /// Throws `std::invalid_argument` for an invalid host or one the CA's name constraints do not
    /// permit (see `local_ca::mint`); nothing is cached then.
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
