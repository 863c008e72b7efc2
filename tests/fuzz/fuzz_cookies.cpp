/// The cookie functions that keep session secrets away from clients (auth/cookies.hpp).
/// Input: the first line is a client's Cookie header (also judged as a court's Set-Cookie
/// value); each further line is a `name=value` pair to inject.
/// Properties: never throws; no managed cookie name survives scrubbing, whichever way a court's
/// cookie parser splits and trims (on ';' and ',', around any whitespace or control byte);
/// scrubbing keeps only the client's own pieces and is idempotent; injected output never holds
/// CR, LF or NUL and ends with exactly the pairs injected, or injection refuses; a Set-Cookie
/// whose first pair names a managed cookie that way is managed.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "auth/cookies.hpp"
#include "core/text.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

namespace {

/// `s` without leading and trailing bytes <= 0x20 or 0x7f (what lenient parsers strip).
std::string_view strip(std::string_view s) {
    auto junk = [](char ch) { return static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f; };
    while (!s.empty() && junk(s.front())) s.remove_prefix(1);
    while (!s.empty() && junk(s.back())) s.remove_suffix(1);
    return s;
}

/// Every cookie name a lenient server could read in a Cookie header: pieces split on ';' and
/// ',' (CGI.pm splits on both), names trimmed of whitespace and control bytes.
std::vector<std::string_view> lenient_names(std::string_view header) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start <= header.size()) {
        auto end = header.find_first_of(";,", start);
        auto piece = header.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        out.push_back(strip(piece.substr(0, piece.find('='))));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return out;
}

std::vector<std::string_view> pieces(std::string_view header) {
    std::vector<std::string_view> out;
    while (!header.empty()) {
        auto semi = header.find(';');
        auto piece = trim(header.substr(0, semi));
        if (!piece.empty()) out.push_back(piece);
        header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto text = fuzz::as_text(data, size);
    auto nl = text.find('\n');
    auto header = text.substr(0, nl);
    std::vector<std::pair<std::string, std::string>> add;
    for (auto rest = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1); !rest.empty();) {
        auto end = rest.find('\n');
        auto line = rest.substr(0, end);
        auto eq = line.find('=');
        add.emplace_back(std::string(line.substr(0, eq)), eq == std::string_view::npos ? "" : std::string(line.substr(eq + 1)));
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    }

    auto scrubbed = auth::scrub_cookie_header(header);
    for (auto name : lenient_names(scrubbed))
        check(!auth::is_managed_cookie_name(name), "a managed cookie name survived scrubbing");
    auto original = pieces(header);
    for (auto piece : pieces(scrubbed))
        check(std::find(original.begin(), original.end(), piece) != original.end(), "scrubbing made up a piece");
    check(auth::scrub_cookie_header(scrubbed) == scrubbed, "scrubbing is not idempotent");

    auto injected = auth::inject_cookies(scrubbed, add);
    if (injected) {
        check(!has_ctl_breaks(*injected), "injected cookies hold CR, LF or NUL");
        std::string tail;
        for (const auto& [name, value] : add) tail += (tail.empty() ? "" : "; ") + name + "=" + value;
        check(injected->ends_with(tail), "the injected pairs are not at the end of the header");
        for (const auto& [name, value] : add)
            check(auth::is_cookie_name(name) && auth::is_cookie_value(value), "an invalid pair was injected");
    }
    // A secret value that is not valid cookie-octets (here: the whole input) must be refused.
    if (!auth::is_cookie_value(text))
        check(!auth::inject_cookies(scrubbed, {{"NextGenCSO", std::string(text)}}), "an invalid cookie value was injected");

    // Set-Cookie: the whole header as a court's Set-Cookie value.
    auto first = header.substr(0, header.find(';'));
    bool names_managed = false;
    for (auto name : lenient_names(first)) names_managed = names_managed || auth::is_managed_cookie_name(name);
    if (names_managed) check(auth::is_managed_set_cookie(header), "a Set-Cookie naming a managed cookie passed");
    return 0;
}
