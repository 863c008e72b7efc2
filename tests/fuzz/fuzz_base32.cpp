/// auth::base32_decode (TOTP secrets as authenticator apps show them) and the TOTP built on it.
/// Properties: never throws; RFC 4648 encoding of any bytes decodes back to them, in either
/// case and in groups of four with spaces; decoding ignores letter case; a secret that decodes
/// to something yields a six-digit code.
#include <string>

#include "auth/totp.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

namespace {

/// RFC 4648 base32 with padding (a reference encoder for the round trip).
std::string base32_encode(std::string_view bytes) {
    constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out += alphabet[(acc >> bits) & 31];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0) out += alphabet[(acc << (5 - bits)) & 31];
    while (out.size() % 8 != 0) out += '=';
    return out;
}

std::string lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto text = fuzz::as_text(data, size);
    auto encoded = base32_encode(text);
    auto round = auth::base32_decode(encoded);
    check(round && *round == text, "base32 does not round-trip");
    std::string grouped;
    for (std::size_t i = 0; i < encoded.size(); ++i) grouped += (i && i % 4 == 0 ? " " : "") + std::string(1, encoded[i]);
    auto round_lower = auth::base32_decode(lower(grouped));
    check(round_lower && *round_lower == text, "grouped lower-case base32 does not round-trip");

    auto decoded = auth::base32_decode(text);
    check(decoded == auth::base32_decode(fuzz::to_upper(text)), "base32 decoding depends on letter case");
    if (decoded && !decoded->empty()) {
        auto code = auth::totp_from_base32(text, 1'700'000'000);
        check(code && code->size() == 6 && code->find_first_not_of("0123456789") == std::string::npos,
              "a decodable secret did not give a six-digit code");
    }
    return 0;
}
