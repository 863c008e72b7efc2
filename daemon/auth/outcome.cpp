#include "auth/outcome.hpp"

#include <algorithm>

namespace courtroute::auth {

const char* to_string(login_kind k) noexcept {
    switch (k) {
    case login_kind::success: return "success";
    case login_kind::bad_credentials: return "bad_credentials";
    case login_kind::mfa_required: return "mfa_required";
    case login_kind::service_error: return "service_error";
    }
    return "unknown";
}

std::string safe_text(std::string_view text, std::size_t max_bytes) {
    std::string out;
    out.reserve(std::min(text.size(), max_bytes));
    bool pending_space = false;
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        // Control characters (including CR/LF, which could forge log lines or headers) become
        // whitespace; whitespace runs collapse into one space.
        if (c < 0x20 || c == 0x7f || c == ' ') {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) {
            out += ' ';
            pending_space = false;
        }
        out += ch;
    }
    if (out.size() > max_bytes) {
        std::size_t cut = max_bytes;
        // Back up over UTF-8 continuation bytes so the cut lands on a character boundary.
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
        out.resize(cut);
        while (!out.empty() && out.back() == ' ') out.pop_back();
    }
    return out;
}

} // namespace courtroute::auth
