#pragma once
/// admin_session: one connection on the administrator's Unix socket (`settings::admin_socket`):
/// the full `/status` for `courtroute status`, and later the CLI's requests that need the running
/// daemon. Reaching the socket is the credential (the state folder is 0700).
#include "proxy/net.hpp"

namespace courtroute::proxy {

class worker;

/// Serves `socket` on worker `w` until the client closes it.
net::awaitable<void> serve_admin(worker& w, net::local::stream_protocol::socket socket);

} // namespace courtroute::proxy
