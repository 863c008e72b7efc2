#pragma once
/// The daemon: one listener serving the forward proxy, path mode and the status endpoint.
#include <filesystem>

namespace courtroute::proxy {

/// Loads the config, opens the store and the local CA, listens, and serves until SIGTERM
/// (graceful: in-flight requests get up to 10 s). SIGHUP reloads config and registry.
/// Returns the process exit code.
int run_daemon(const std::filesystem::path& config, bool explicitly_named);

} // namespace courtroute::proxy
