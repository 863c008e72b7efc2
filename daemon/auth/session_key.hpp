#pragma once
/// Typed names for credentials and upstream sessions. A session is one credential revision plus,
/// for PACER, the client code it was opened with; keys compare and hash field by field, so no
/// user name, court id or client code can be mistaken for a separator.
#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace courtroute::auth {

/// Which upstream a credential logs in to.
enum class session_kind : std::uint8_t {
    pacer, ///< PACER central sign-on (one session serves every NextGen court)
    cmecf, ///< one legacy court's own CM/ECF login
};

/// One stored credential at one revision: what a login spends and what a refusal marks.
struct credential_id {
    session_kind kind = session_kind::pacer; ///< PACER or a court's CM/ECF
    std::string user;                        ///< the local user
    std::string court;                       ///< the court id for cmecf; empty for pacer
    std::int64_t revision = 0;               ///< the store's revision of the credential

    friend auto operator<=>(const credential_id&, const credential_id&) = default;
    friend bool operator==(const credential_id&, const credential_id&) = default;
};

/// One upstream session.
struct session_key {
    credential_id credential; ///< whose login it is
    std::string client_code;  ///< pacer only: the PACER client code the session bills to (may be empty)

    /// The user's PACER session under `client_code` for credential revision `revision`.
    static session_key pacer(std::string user, std::int64_t revision, std::string client_code) {
        return {{session_kind::pacer, std::move(user), {}, revision}, std::move(client_code)};
    }
    /// The user's session at legacy court `court` for credential revision `revision`.
    static session_key cmecf(std::string user, std::string court, std::int64_t revision) {
        return {{session_kind::cmecf, std::move(user), std::move(court), revision}, {}};
    }

    friend auto operator<=>(const session_key&, const session_key&) = default;
    friend bool operator==(const session_key&, const session_key&) = default;
};

/// "pacer" or "cmecf", for logs and metrics.
[[nodiscard]] inline const char* to_string(session_kind k) noexcept { return k == session_kind::pacer ? "pacer" : "cmecf"; }

/// A hash over every field (for unordered containers).
struct session_key_hash {
    /// Combines the fields' hashes.
    std::size_t operator()(const session_key& k) const noexcept {
        std::size_t h = std::hash<std::string>{}(k.credential.user);
        auto mix = [&h](std::size_t v) { h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2); };
        mix(static_cast<std::size_t>(k.credential.kind));
        mix(std::hash<std::string>{}(k.credential.court));
        mix(std::hash<std::int64_t>{}(k.credential.revision));
        mix(std::hash<std::string>{}(k.client_code));
        return h;
    }
};

} // namespace courtroute::auth
