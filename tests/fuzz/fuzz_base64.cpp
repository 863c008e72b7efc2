/// base64_decode (the proxy's Basic credentials) and base64_encode.
/// Properties: never throws; encode then decode gives back any bytes; whatever decodes
/// re-encodes and decodes to the same bytes; decoded output is at most 3/4 of the input.
#include "core/text.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto text = fuzz::as_text(data, size);
    auto round = base64_decode(base64_encode(text));
    check(round && *round == text, "base64 encode/decode does not round-trip");
    if (auto decoded = base64_decode(text)) {
        check(decoded->size() * 4 <= text.size() * 3, "base64 decoded more bytes than the input holds");
        auto again = base64_decode(base64_encode(*decoded));
        check(again && *again == *decoded, "decoded base64 does not round-trip");
    }
    return 0;
}
