#pragma once
/// client_session: one client connection from accept to close. It reads requests and carries
/// out what the routing decisions say: local pages, CONNECT interception (a leaf from the local
/// CA, then requests inside the tunnel), blind tunnels, path mode; for a court request it plans
/// (routing::plan_request), gets the session (login_service), fetches (upstream_client), shapes
/// the answer (routing::shape_answer) and relays it. It decides nothing itself.
#include "proxy/net.hpp"

namespace courtroute::proxy {

class worker;

/// Serves `socket` on worker `w` until the client or the daemon closes it.
net::awaitable<void> serve_client(worker& w, tcp::socket socket);

} // namespace courtroute::proxy
