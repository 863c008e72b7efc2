#pragma once
/// Secrets at rest: AES-256-GCM (OpenSSL EVP) under a 32-byte key file, plus the random and
/// hashing primitives the store needs. No I/O except reading/creating the key file.
#include <array>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace courtroute {

/// Thrown for unusable key files and OpenSSL failures; the message names the file.
struct crypto_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// `n` bytes from OpenSSL's CSPRNG.
[[nodiscard]] std::string random_bytes(std::size_t n);
/// SHA-256 digest, raw bytes.
[[nodiscard]] std::string sha256(std::string_view data);

/// Seals and opens secrets with AES-256-GCM. Each sealed value is `nonce(12) || ciphertext || tag(16)`;
/// `context` is bound as additional authenticated data, so a ciphertext moved to another row
/// (another user, court or column) fails to open.
class secret_box {
public:
    /// Uses `key` (32 bytes) directly.
    explicit secret_box(const std::array<unsigned char, 32>& key);
    /// Reads the key file (exactly 32 bytes). When it is absent and `create` is true, writes a new
    /// random key with mode 0600 (created atomically, never overwriting). Throws `crypto_error`.
    [[nodiscard]] static secret_box from_key_file(const std::filesystem::path& file, bool create);

    /// Encrypts `plaintext`; a fresh random nonce every call.
    [[nodiscard]] std::string seal(std::string_view plaintext, std::string_view context) const;
    /// Decrypts; nullopt when the value was tampered with, or sealed under another key or context.
    [[nodiscard]] std::optional<std::string> open(std::string_view sealed, std::string_view context) const;

private:
    std::array<unsigned char, 32> key_;
};

} // namespace courtroute
