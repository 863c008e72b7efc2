#include "store/crypto.hpp"

#include <cstdlib>

#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace courtroute {
namespace {

constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;
constexpr std::size_t key_size = 32;

struct cipher_ctx_deleter {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;

cipher_ctx new_ctx() {
    cipher_ctx ctx{EVP_CIPHER_CTX_new()};
    if (!ctx) throw crypto_error("cannot allocate an OpenSSL cipher context");
    return ctx;
}

int checked_int(std::size_t n, const char* what) {
    if (n > static_cast<std::size_t>(INT_MAX)) throw crypto_error(std::string(what) + " is too large to encrypt");
    return static_cast<int>(n);
}

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string errno_text() { return std::strerror(errno); }

/// Closes a descriptor on scope exit.
struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

/// Wipes a buffer that held key material before it is freed.
struct wipe_guard {
    std::string& s;
    ~wipe_guard() { OPENSSL_cleanse(s.data(), s.size()); }
};

std::string describe(const std::filesystem::path& file) { return "key file '" + file.string() + "'"; }

/// Writes all of `data` to `fd`, retrying short writes and EINTR.
bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

/// Creates `file` holding a fresh random key, never overwriting an existing one. The key is
/// written and fsynced under a temporary name (O_CREAT|O_EXCL, 0600) and then hard-linked into
/// place: link() fails with EEXIST instead of replacing, and a concurrent reader (the CLI and
/// the daemon starting together) never sees a half-written key. Returns false when another
/// process created the file first.
bool create_key_file(const std::filesystem::path& file) {
    const std::filesystem::path tmp = file.string() + ".tmp." + std::to_string(::getpid());
    // The name is ours alone (our pid); one left by a crashed process holding this pid is stale.
    ::unlink(tmp.c_str());
    fd_guard fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)};
    if (fd.fd < 0) throw crypto_error("cannot create " + describe(file) + ": " + errno_text());
    std::string key = random_bytes(key_size);
    wipe_guard wipe{key};
    // fchmod: the mode given to open() is filtered through the umask; make 0600 exact.
    const bool ok = ::fchmod(fd.fd, 0600) == 0 && write_all(fd.fd, key) && ::fsync(fd.fd) == 0;
    const std::string why = ok ? std::string() : errno_text();
    ::close(fd.fd);
    fd.fd = -1;
    if (!ok) {
        ::unlink(tmp.c_str());
        throw crypto_error("cannot write " + describe(file) + ": " + why);
    }
    const int linked = ::link(tmp.c_str(), file.c_str());
    const int link_errno = errno;
    ::unlink(tmp.c_str());
    if (linked != 0) {
        if (link_errno == EEXIST) return false;
        throw crypto_error("cannot create " + describe(file) + ": " + std::strerror(link_errno));
    }
    // Make the new directory entry durable too, so a crash cannot lose the key that already
    // sealed stored secrets.
    const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    fd_guard dfd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dfd.fd >= 0) ::fsync(dfd.fd);
    return true;
}

} // namespace

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (n == 0) return out;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), checked_int(n, "random request")) != 1)
        throw crypto_error("OpenSSL's random generator failed");
    return out;
}

std::string sha256(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1)
        throw crypto_error("OpenSSL SHA-256 failed");
    return std::string(reinterpret_cast<const char*>(digest), len);
}

secret_box::secret_box(const std::array<unsigned char, 32>& key) : key_(key) {}

secret_box secret_box::from_key_file(const std::filesystem::path& file, bool create) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        fd_guard fd{::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
        if (fd.fd < 0) {
            if (errno == ENOENT && create) {
                // Read back what is now in place: ours, or, when another process won the
                // creation race, theirs (complete, since it was linked in whole).
                create_key_file(file);
                continue;
            }
            if (errno == ENOENT) throw crypto_error(describe(file) + " does not exist");
            throw crypto_error("cannot open " + describe(file) + ": " + errno_text());
        }
        struct stat st {};
        if (::fstat(fd.fd, &st) != 0) throw crypto_error("cannot stat " + describe(file) + ": " + errno_text());
        if (!S_ISREG(st.st_mode)) throw crypto_error(describe(file) + " is not a regular file");
        // systemd (254+, on file systems with ACLs) hands credentials over as 0400 plus an ACL
        // entry, which stat shows as 0440: group-read is the ACL mask there, not a real group.
        mode_t tolerated = 0;
        if (const char* creds = std::getenv("CREDENTIALS_DIRECTORY"); creds && *creds) {
            std::error_code ec;
            if (std::filesystem::equivalent(std::filesystem::path(file).parent_path(), creds, ec)) tolerated = S_IRGRP;
        }
        if ((st.st_mode & 077 & ~tolerated) != 0)
            throw crypto_error(describe(file) + " is readable or writable by group or others; chmod 600 it");
        if (st.st_size != static_cast<off_t>(key_size))
            throw crypto_error(describe(file) + " must hold exactly 32 bytes, it holds " +
                               std::to_string(st.st_size));
        std::string raw(key_size + 1, '\0'); // one spare byte detects a file that grew meanwhile
        wipe_guard wipe{raw};
        std::size_t got = 0;
        while (got < raw.size()) {
            const ssize_t n = ::read(fd.fd, raw.data() + got, raw.size() - got);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw crypto_error("cannot read " + describe(file) + ": " + errno_text());
            }
            if (n == 0) break;
            got += static_cast<std::size_t>(n);
        }
        if (got != key_size) throw crypto_error(describe(file) + " must hold exactly 32 bytes");
        std::array<unsigned char, 32> key{};
        std::memcpy(key.data(), raw.data(), key_size);
        secret_box box{key};
        OPENSSL_cleanse(key.data(), key.size());
        return box;
    }
    throw crypto_error("cannot create " + describe(file) + ": it keeps disappearing");
}

std::string secret_box::seal(std::string_view plaintext, std::string_view context) const {
    const std::string nonce = random_bytes(nonce_size);
    std::string out;
    out.resize(nonce_size + plaintext.size() + tag_size);
    std::memcpy(out.data(), nonce.data(), nonce_size);
    auto* ct = reinterpret_cast<unsigned char*>(out.data()) + nonce_size;

    auto ctx = new_ctx();
    int len = 0;
    if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_size), nullptr) != 1 ||
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), bytes(nonce)) != 1)
        throw crypto_error("OpenSSL AES-256-GCM setup failed");
    if (!context.empty() &&
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(context), checked_int(context.size(), "context")) != 1)
        throw crypto_error("OpenSSL AES-256-GCM failed on the context");
    if (!plaintext.empty() &&
        EVP_EncryptUpdate(ctx.get(), ct, &len, bytes(plaintext), checked_int(plaintext.size(), "secret")) != 1)
        throw crypto_error("OpenSSL AES-256-GCM encryption failed");
    int final_len = 0;
    if (EVP_EncryptFinal_ex(ctx.get(), ct + plaintext.size(), &final_len) != 1)
        throw crypto_error("OpenSSL AES-256-GCM encryption failed");
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size), ct + plaintext.size()) != 1)
        throw crypto_error("OpenSSL AES-256-GCM could not produce the tag");
    return out;
}

std::optional<std::string> secret_box::open(std::string_view sealed, std::string_view context) const {
    if (sealed.size() < nonce_size + tag_size) return std::nullopt;
    const std::string_view nonce = sealed.substr(0, nonce_size);
    const std::string_view ct = sealed.substr(nonce_size, sealed.size() - nonce_size - tag_size);
    std::string tag(sealed.substr(sealed.size() - tag_size)); // ctrl wants a mutable pointer

    auto ctx = new_ctx();
    int len = 0;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_size), nullptr) != 1 ||
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), bytes(nonce)) != 1)
        throw crypto_error("OpenSSL AES-256-GCM setup failed");
    if (!context.empty() &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(context), checked_int(context.size(), "context")) != 1)
        return std::nullopt;
    std::string plain(ct.size(), '\0');
    if (!ct.empty() && EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, bytes(ct),
                                         checked_int(ct.size(), "ciphertext")) != 1) {
        OPENSSL_cleanse(plain.data(), plain.size());
        return std::nullopt;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size), tag.data()) != 1)
        return std::nullopt;
    int final_len = 0;
    // Only a verified tag releases the plaintext: never hand out unauthenticated bytes.
    if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + ct.size(), &final_len) != 1) {
        OPENSSL_cleanse(plain.data(), plain.size());
        return std::nullopt;
    }
    return plain;
}

} // namespace courtroute
