#include "tls/contexts.hpp"

#include "tls/local_ca.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <boost/system/system_error.hpp>

#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace courtroute::tls {
namespace {

namespace fs = std::filesystem;

struct session_deleter {
    void operator()(SSL_SESSION* p) const noexcept { SSL_SESSION_free(p); }
};
using session_ptr = std::unique_ptr<SSL_SESSION, session_deleter>;

/// The last resumable session per upstream host. Keyed by the exact host the connection was
/// verified for, so a session is only ever offered to the host whose certificate it checked.
struct session_store {
    static constexpr std::size_t max_hosts = 1024;
    std::mutex mutex;
    std::unordered_map<std::string, session_ptr> sessions;
};

// The store lives in the SSL_CTX's ex_data and the host in the SSL's, each freed by OpenSSL
// with its owner: an SSL that outlives the caller's shared_ptr to the context (SSL holds its
// own reference to the SSL_CTX) still finds a live store when a late session ticket arrives.
void free_store(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<session_store*>(ptr); }
void free_host(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

int store_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_store);
    return index;
}

int host_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_host);
    return index;
}

session_store* store_of(SSL_CTX* ctx) {
    return ctx ? static_cast<session_store*>(SSL_CTX_get_ex_data(ctx, store_index())) : nullptr;
}

/// Called by OpenSSL for every new client session (TLS 1.3: every ticket).
int remember_session(SSL* ssl, SSL_SESSION* session) {
    session_store* store = store_of(SSL_get_SSL_CTX(ssl));
    const auto* host = static_cast<const std::string*>(SSL_get_ex_data(ssl, host_index()));
    if (!store || !host || SSL_get_verify_result(ssl) != X509_V_OK || !SSL_SESSION_is_resumable(session))
        return 0;
    // Keep a copy, not `session` itself: OpenSSL marks a connection's own session
    // non-resumable when that connection is freed without close_notify, and court servers
    // (and idle-timeout closes) often end connections that way. TLS 1.1+ no longer requires
    // discarding a session after such a close (RFC 5246 §7.2.1); TLS 1.3 tickets never did.
    session_ptr copy(SSL_SESSION_dup(session));
    if (!copy) return 0;
    std::lock_guard lock(store->mutex);
    if (store->sessions.size() >= session_store::max_hosts && !store->sessions.contains(*host))
        store->sessions.clear(); // crude bound; the proxy talks to a few hundred court hosts
    store->sessions[*host] = std::move(copy);
    return 0; // OpenSSL keeps ownership of `session`
}

} // namespace

std::shared_ptr<boost::asio::ssl::context> make_upstream_context(const fs::path& extra_ca_file) {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    ctx->set_verify_mode(ssl::verify_peer);
    try {
        ctx->set_default_verify_paths();
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error(std::string("cannot load the system trust store: ") + e.what());
    }
    if (!extra_ca_file.empty()) {
        std::error_code ec;
        if (!fs::is_regular_file(extra_ca_file, ec))
            throw std::runtime_error("extra CA file " + extra_ca_file.string() + " does not exist or is not a file");
        boost::system::error_code bec;
        ctx->load_verify_file(extra_ca_file.string(), bec);
        if (bec)
            throw std::runtime_error("cannot load extra CA file " + extra_ca_file.string() +
                                     " (expected PEM certificates): " + bec.message() + openssl_errors());
    }
    static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    if (SSL_CTX_set_alpn_protos(native, alpn, sizeof alpn) != 0) // 0 means success here
        throw std::runtime_error("cannot set ALPN on the upstream TLS context" + openssl_errors());
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);

    // OpenSSL never reuses client sessions by itself: keep our own per-host store (see
    // prepare_upstream_stream) and skip OpenSSL's internal cache, which is keyed by session id.
    auto* store = new session_store;
    if (SSL_CTX_set_ex_data(native, store_index(), store) != 1) {
        delete store;
        throw std::runtime_error("cannot attach the session cache to the upstream TLS context" + openssl_errors());
    }
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(native, remember_session);
    return ctx;
}

void prepare_upstream_stream(SSL* ssl, std::string_view host_in) {
    if (!ssl) throw std::invalid_argument("prepare_upstream_stream: no SSL handle");
    std::string host(host_in);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty() || host.find('\0') != std::string::npos)
        throw std::invalid_argument("prepare_upstream_stream: empty or malformed upstream host");
    for (char& c : host)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');

    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    const bool is_ip = X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
    ERR_clear_error(); // a failed IP parse is expected for DNS names
    if (!is_ip) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, host.c_str()) != 1 || SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
            throw std::runtime_error("cannot set SNI and name verification for upstream host " + host +
                                     openssl_errors());
    }
    // Belt and braces: the context already says verify_peer, but a stream must never be able to
    // proceed unverified even if someone swapped its context.
    SSL_set_verify(ssl, SSL_VERIFY_PEER, SSL_get_verify_callback(ssl));

    delete static_cast<std::string*>(SSL_get_ex_data(ssl, host_index())); // prepared twice: replace
    SSL_set_ex_data(ssl, host_index(), nullptr);
    auto* owned = new std::string(host);
    if (SSL_set_ex_data(ssl, host_index(), owned) != 1) {
        delete owned;
        throw std::runtime_error("cannot tag upstream connection with its host" + openssl_errors());
    }
    if (session_store* store = store_of(SSL_get_SSL_CTX(ssl))) {
        std::lock_guard lock(store->mutex);
        auto it = store->sessions.find(host);
        // SSL_set_session takes its own reference; failure only means a full handshake.
        if (it != store->sessions.end() && SSL_set_session(ssl, it->second.get()) != 1) ERR_clear_error();
    }
}

} // namespace courtroute::tls
