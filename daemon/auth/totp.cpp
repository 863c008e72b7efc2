#include "auth/totp.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <stdexcept>

namespace courtroute::auth {

std::optional<std::string> base32_decode(std::string_view text) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    std::size_t symbols = 0;
    for (char ch : text) {
        if (ch == ' ' || ch == '\t' || ch == '=') continue;
        unsigned v;
        if (ch >= 'A' && ch <= 'Z') v = static_cast<unsigned>(ch - 'A');
        else if (ch >= 'a' && ch <= 'z') v = static_cast<unsigned>(ch - 'a');
        else if (ch >= '2' && ch <= '7') v = static_cast<unsigned>(ch - '2' + 26);
        else return std::nullopt;
        ++symbols;
        acc = (acc << 5) | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
            acc &= (1u << bits) - 1;
        }
    }
    // A whole number of bytes leaves 0, 2, 4, 5 or 7 symbols in the last 8-symbol group.
    switch (symbols % 8) {
    case 1:
    case 3:
    case 6: return std::nullopt;
    default: break;
    }
    return out;
}

std::string totp(std::string_view secret_bytes, std::int64_t unix_time, int digits, int step) {
    if (digits < 1 || digits > 10) throw std::invalid_argument("totp: digits must be 1..10");
    if (step <= 0) throw std::invalid_argument("totp: step must be positive");
    if (unix_time < 0) throw std::invalid_argument("totp: time before the Unix epoch");

    auto counter = static_cast<std::uint64_t>(unix_time / step);
    std::array<unsigned char, 8> msg{};
    for (int i = 7; i >= 0; --i) {
        msg[static_cast<std::size_t>(i)] = static_cast<unsigned char>(counter & 0xFF);
        counter >>= 8;
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_len = 0;
    // HMAC() (one-shot) is not deprecated in OpenSSL 3, unlike the HMAC_CTX API.
    if (HMAC(EVP_sha1(), secret_bytes.data(), static_cast<int>(secret_bytes.size()), msg.data(), msg.size(),
             mac.data(), &mac_len) == nullptr ||
        mac_len < 20)
        throw std::runtime_error("totp: HMAC-SHA1 failed in OpenSSL");

    // RFC 4226 §5.3 dynamic truncation.
    auto offset = static_cast<std::size_t>(mac[mac_len - 1] & 0x0F);
    std::uint64_t bin = (static_cast<std::uint64_t>(mac[offset] & 0x7F) << 24) |
                        (static_cast<std::uint64_t>(mac[offset + 1]) << 16) |
                        (static_cast<std::uint64_t>(mac[offset + 2]) << 8) | static_cast<std::uint64_t>(mac[offset + 3]);
    std::uint64_t mod = 1;
    for (int i = 0; i < digits; ++i) mod *= 10;
    auto code = std::to_string(bin % mod);
    if (code.size() < static_cast<std::size_t>(digits))
        code.insert(0, static_cast<std::size_t>(digits) - code.size(), '0');
    return code;
}

std::optional<std::string> totp_from_base32(std::string_view base32_secret, std::int64_t unix_time) {
    auto key = base32_decode(base32_secret);
    if (!key || key->empty() || unix_time < 0) return std::nullopt;
    return totp(*key, unix_time);
}

} // namespace courtroute::auth
