#pragma once
/// Wiring of the local CA for a config and a registry, shared by the daemon and the CLI: which
/// names a new CA may sign for, opening it with the store key, and what to tell the
/// administrator about it.
#include <memory>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "registry/registry.hpp"
#include "tls/local_ca.hpp"

namespace courtroute::tls {

/// The DNS subtrees a CA created now is constrained to: `ca_permitted_names` of every host of
/// `reg` ("uscourts.gov" plus each registry host and `extra_hosts` entry outside it).
[[nodiscard]] std::vector<std::string> ca_names_for(const registry& reg);

/// The store key of `cfg` (`settings::effective_key_file()`, created 0600 when missing, as the
/// store does) as a `secret_box` for sealing the CA key. Throws `crypto_error` naming the file.
[[nodiscard]] secret_box ca_key_box(const settings& cfg);

/// Opens (or creates) the CA under `cfg.state_dir`, its key sealed with the store key and, when
/// created, constrained to `ca_names_for(reg)`. Throws like `local_ca::open_or_create`.
[[nodiscard]] std::shared_ptr<const local_ca> open_local_ca(const settings& cfg, const registry& reg);

/// One problem with the CA that an administrator must act on.
struct ca_problem {
    std::string event;   ///< log event name: `ca_unconstrained`, `ca_plain_key` or `ca_host_not_permitted`
    std::string subject; ///< the file or host concerned
    std::string court;   ///< the court id for `ca_host_not_permitted`, else empty
    std::string advice;  ///< one sentence saying what to do
};

/// What is wrong with `ca` for `reg`: an unconstrained certificate, a plain-PEM key on disk,
/// and every registry host the CA's constraints do not permit (those CONNECTs are refused).
[[nodiscard]] std::vector<ca_problem> ca_problems(const local_ca& ca, const registry& reg);

/// Logs `ca_problems(ca, reg)`, one line each (never key material). The daemon calls it on
/// every start and reload, so an old CA keeps being pointed out until it is rotated.
void log_ca_problems(const local_ca& ca, const registry& reg);

} // namespace courtroute::tls
