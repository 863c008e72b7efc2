#pragma once
/// The PAC file of `GET /proxy.pac` (CONTRACT §6): browsers send the registry's court hosts and
/// `extra_hosts` through courtroute and everything else straight to the Internet. Pure.
#include <string>
#include <string_view>

#include "config/settings.hpp"
#include "registry/registry.hpp"

namespace courtroute {

/// Where the PAC file tells browsers the proxy is: the `Host` the PAC was fetched with (it has
/// passed `check_local_origin`, so it names this listener: `localhost`, the listen address, or
/// any IP literal on a wildcard listener), given the listen port when it has none; the listen
/// address when `host_header` is empty or not a plain host[:port].
[[nodiscard]] std::string pac_proxy_authority(std::string_view host_header, const endpoint& listen);

/// `function FindProxyForURL(url, host)`: `PROXY <proxy>` for every host the registry routes
/// (exact match, any letter case, a trailing dot ignored), `DIRECT` for the rest. No fallback to
/// DIRECT for a court: a court reached around courtroute would get no credentials and could
/// lock nothing but also file nothing, which is worse than a clear proxy error.
[[nodiscard]] std::string proxy_pac(const registry& reg, std::string_view proxy);

} // namespace courtroute
